#include "paging.hpp"

#include <charconv>

#include "eqm/domain/custody.hpp"

namespace eqm::gateway {
namespace {

std::optional<std::uint64_t> whole_number(std::string_view text) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

}  // namespace

result<std::size_t> page_limit(const http::request& req) {
    const auto text = req.query_param("limit");
    if (!text) return default_page_limit;
    const auto n = whole_number(*text);
    if (!n || *n < 1 || *n > max_page_limit)
        return fail(errc::bad_field, "limit",
                    "must be a whole number from 1 to " + std::to_string(max_page_limit));
    return static_cast<std::size_t>(*n);
}

result<std::optional<std::string>> id_cursor(const http::request& req) {
    const auto text = req.query_param("cursor");
    if (!text) return std::optional<std::string>{};
    if (!is_valid_id(*text))
        return fail(errc::bad_field, "cursor", "is not a cursor of this list (use next_cursor)");
    return std::optional<std::string>{std::string(*text)};
}

result<std::optional<std::uint64_t>> number_cursor(const http::request& req) {
    const auto text = req.query_param("cursor");
    if (!text) return std::optional<std::uint64_t>{};
    const auto n = whole_number(*text);
    if (!n)
        return fail(errc::bad_field, "cursor", "is not a cursor of this list (use next_cursor)");
    return n;
}

}  // namespace eqm::gateway
