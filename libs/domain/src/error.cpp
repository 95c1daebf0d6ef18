#include "eqm/domain/error.hpp"

#include <array>
#include <utility>

namespace eqm {
namespace {

constexpr std::array<std::pair<errc, std::string_view>, 26> names{{
    {errc::bad_json, "bad_json"},
    {errc::bad_field, "bad_field"},
    {errc::unknown_field, "unknown_field"},
    {errc::too_large, "too_large"},
    {errc::unsupported_media_type, "unsupported_media_type"},
    {errc::battery_low, "battery_low"},
    {errc::calibration_expired, "calibration_expired"},
    {errc::footage_pending, "footage_pending"},
    {errc::locked, "locked"},
    {errc::in_maintenance, "in_maintenance"},
    {errc::reserved_for_other, "reserved_for_other"},
    {errc::unregistered, "unregistered"},
    {errc::badge_unknown, "badge_unknown"},
    {errc::badge_not_allowed, "badge_not_allowed"},
    {errc::invalid_transition, "invalid_transition"},
    {errc::not_holder, "not_holder"},
    {errc::ledger_broken, "ledger_broken"},
    {errc::not_found, "not_found"},
    {errc::conflict, "conflict"},
    {errc::forbidden, "forbidden"},
    {errc::unauthorized, "unauthorized"},
    {errc::password_change_required, "password_change_required"},
    {errc::too_many_requests, "too_many_requests"},
    {errc::expired, "expired"},
    {errc::unavailable, "unavailable"},
    {errc::internal, "internal"},
}};

}  // namespace

std::string_view to_string(errc code) noexcept {
    for (const auto& [c, n] : names) {
        if (c == code) return n;
    }
    return "internal";
}

bool from_string(std::string_view name, errc& out) noexcept {
    for (const auto& [c, n] : names) {
        if (n == name) {
            out = c;
            return true;
        }
    }
    return false;
}

std::string error::describe() const {
    if (field.empty()) return message;
    return field + ": " + message;
}

}  // namespace eqm
