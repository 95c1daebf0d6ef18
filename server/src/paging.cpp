// Page parameters and cursors (see paging.hpp).
#include "paging.hpp"

#include <charconv>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/try.hpp"

namespace eqm::server {

namespace {

constexpr std::string_view hex_digits = "0123456789abcdef";

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::string encode_cursor(std::string_view list, std::string_view key) {
    std::string plain(list);
    plain += '\n';
    plain += key;
    std::string out;
    out.reserve(plain.size() * 2);
    for (const unsigned char c : plain) {
        out += hex_digits[c >> 4];
        out += hex_digits[c & 0x0f];
    }
    return out;
}

result<std::string> decode_cursor(std::string_view list, std::string_view cursor) {
    const auto refuse = [] {
        return fail(errc::bad_field, "cursor",
                    "is not a cursor of this list: pass next_cursor of the previous page as is");
    };
    if (cursor.empty() || cursor.size() % 2 != 0) return refuse();
    std::string plain;
    plain.reserve(cursor.size() / 2);
    for (std::size_t i = 0; i < cursor.size(); i += 2) {
        const int hi = hex_value(cursor[i]);
        const int lo = hex_value(cursor[i + 1]);
        if (hi < 0 || lo < 0) return refuse();
        plain += static_cast<char>(hi * 16 + lo);
    }
    const auto nl = plain.find('\n');
    if (nl == std::string::npos || std::string_view(plain).substr(0, nl) != list ||
        nl + 1 == plain.size() || !is_valid_utf8(plain))
        return refuse();
    return plain.substr(nl + 1);
}

result<page_query> read_page_query(const http::request& req, std::string_view list) {
    page_query q;
    q.limit = default_page_limit;
    if (auto l = req.query_param("limit")) {
        std::size_t n = 0;
        auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), n);
        if (l->empty() || ec != std::errc() || p != l->data() + l->size() || n < 1 ||
            n > max_page_limit)
            return fail(errc::bad_field, "limit",
                        "must be a whole number from 1 to " + std::to_string(max_page_limit));
        q.limit = n;
    }
    if (auto c = req.query_param("cursor")) {
        EQM_TRY_LET(key, decode_cursor(list, *c));
        q.after = std::move(key);
    }
    return q;
}

nlohmann::json page_json(nlohmann::json items, std::string_view list,
                         const std::optional<std::string>& next_key) {
    return nlohmann::json{
        {"items", std::move(items)},
        {"next_cursor", next_key ? nlohmann::json(encode_cursor(list, *next_key)) : nullptr}};
}

}  // namespace eqm::server
