#pragma once
/// Expected failures are values: every fallible domain function returns
/// std::expected<T, eqm::error>. Domain code never throws on bad input.
#include <expected>
#include <string>
#include <string_view>

namespace eqm {

/// Stable error codes. The snake_case name of each is what goes on the wire
/// (`rejected:<name>` in acks, the problem `type` suffix over REST).
enum class errc {
    // input
    bad_json,                ///< not JSON at all
    bad_field,               ///< a field is missing, of the wrong type, or out of range
    unknown_field,           ///< a field that the contract does not know (typo guard)
    too_large,               ///< a payload over its size limit
    unsupported_media_type,  ///< a request body that is not declared as JSON
    // readiness refusals (check-out)
    battery_low,
    calibration_expired,
    footage_pending,
    locked,
    in_maintenance,
    reserved_for_other,
    unregistered,
    badge_unknown,
    badge_not_allowed,
    // custody state machine
    invalid_transition,  ///< the action is not allowed from the device's current state
    not_holder,          ///< the action names a holder that does not hold the device
    // ledger
    ledger_broken,
    // general
    not_found,
    conflict,
    forbidden,
    unauthorized,
    password_change_required,  ///< a login with a one-time password: it must be changed first
    too_many_requests,         ///< a client over its rate (failed logins, ...)
    expired,                   ///< a request that arrived after its deadline (custody_request)
    unavailable,               ///< a peer (gateway, broker, disk) cannot be reached or written
    internal,
};

/// The wire name of a code, e.g. errc::battery_low -> "battery_low".
std::string_view to_string(errc code) noexcept;

/// Parses a wire name back; false when it is not one of ours.
bool from_string(std::string_view name, errc& out) noexcept;

/// An error value: the code, the field it is about (empty when none), and a
/// human message that says what was wrong and, where useful, what was expected.
struct error {
    errc code = errc::internal;
    std::string field;
    std::string message;

    /// "field: message" or just "message".
    std::string describe() const;
};

template <class T>
using result = std::expected<T, error>;

/// Shorthand for `return fail(errc::bad_field, "battery_pct", "must be 0..100");`.
inline std::unexpected<error> fail(errc code, std::string field, std::string message) {
    return std::unexpected<error>(error{code, std::move(field), std::move(message)});
}

}  // namespace eqm
