#pragma once
/// Canonical JSON: the one byte string a JSON value hashes as, so a gateway, the server and any
/// auditor compute the same ledger hash from the same record.
///
/// The canonical form is exactly nlohmann::json::dump() with no indent, on a value whose objects
/// are std::map-ordered (nlohmann's default `json`), which gives:
/// - object keys sorted by their UTF-8 bytes, each key once;
/// - no whitespace at all (`{"a":1,"b":[true,null]}`);
/// - integers written as plain decimal digits, no fraction, no exponent, no leading `+`;
/// - strings as UTF-8, escaping only `"`, `\` and control characters below U+0020 (`\n`, `\t`,
///   `\b`, `\f`, `\r` by name, the others as `\u00XX` with lower-case hex); `/` and non-ASCII
///   characters are written as they are.
/// Floating-point numbers are refused (errc::bad_field): their shortest decimal form differs
/// between languages and they have no place in a ledger record. Strings that are not valid
/// UTF-8 are refused too.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"

namespace eqm {

/// The canonical text of `value`. Never throws. Errors (errc::bad_field) name the offending
/// value by its JSON Pointer (e.g. "/readings/0/value").
result<std::string> canonical_json(const nlohmann::json& value);

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// `s` with every ill-formed UTF-8 sequence replaced by U+FFFD; valid input comes back unchanged.
std::string sanitize_utf8(std::string_view s);

/// Lower-case hex SHA-256 of `data` (OpenSSL EVP), 64 characters.
std::string sha256_hex(std::string_view data);

}  // namespace eqm
