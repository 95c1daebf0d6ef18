#include "eqm/domain/canonical_json.hpp"

#include <openssl/evp.h>

#include <array>
#include <cassert>

#include "eqm/domain/try.hpp"

namespace eqm {
namespace {

/// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when it is ill-formed
/// (Unicode 15, table 3-7).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80U) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80U, hi = 0xBFU;
    if (b0 >= 0xC2U && b0 <= 0xDFU) {
        n = 2;
    } else if (b0 >= 0xE0U && b0 <= 0xEFU) {
        n = 3;
        if (b0 == 0xE0U) lo = 0xA0U;
        if (b0 == 0xEDU) hi = 0x9FU;  // no UTF-16 surrogates
    } else if (b0 >= 0xF0U && b0 <= 0xF4U) {
        n = 4;
        if (b0 == 0xF0U) lo = 0x90U;
        if (b0 == 0xF4U) hi = 0x8FU;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (byte(i + k) < 0x80U || byte(i + k) > 0xBFU) return 0;
    return n;
}

std::string pointer_token(std::string_view key) {
    std::string out;
    for (const char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

/// Walks the value and reports the first thing canonical JSON refuses.
result<void> check_canonical(const nlohmann::json& v, const std::string& where) {
    switch (v.type()) {
        case nlohmann::json::value_t::number_float:
            return fail(errc::bad_field, where.empty() ? "/" : where,
                        "canonical JSON holds integers only, not " + v.dump());
        case nlohmann::json::value_t::string:
            if (!is_valid_utf8(v.get_ref<const std::string&>()))
                return fail(errc::bad_field, where.empty() ? "/" : where, "is not valid UTF-8");
            return {};
        case nlohmann::json::value_t::object:
            for (const auto& [key, child] : v.items()) {
                const auto path = where + "/" + pointer_token(key);
                if (!is_valid_utf8(key))
                    return fail(errc::bad_field, path, "key is not valid UTF-8");
                EQM_TRY(check_canonical(child, path));
            }
            return {};
        case nlohmann::json::value_t::array: {
            std::size_t i = 0;
            for (const auto& child : v) {
                if (auto r = check_canonical(child, where + "/" + std::to_string(i++)); !r)
                    return r;
            }
            return {};
        }
        case nlohmann::json::value_t::binary:
            return fail(errc::bad_field, where.empty() ? "/" : where, "binary values are not JSON");
        default:
            return {};
    }
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        const auto n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

result<std::string> canonical_json(const nlohmann::json& value) {
    EQM_TRY(check_canonical(value, ""));
    // check_canonical ruled out everything dump() can throw on (invalid UTF-8); the defaults
    // (no indent, ensure_ascii off, strict) are the canonical form.
    return value.dump();
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    const int ok =
        EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
    // EVP_Digest with SHA-256 fails only when libcrypto cannot allocate: a programmer/system error.
    assert(ok == 1 && length == 32);
    (void)ok;
    static constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
        out += hex[digest[i] >> 4U];
        out += hex[digest[i] & 0x0FU];
    }
    return out;
}

}  // namespace eqm
