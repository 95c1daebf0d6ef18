#pragma once
/// Readiness: may this person check this device out, here, now? And, for dashboards, what is
/// wrong with a device at all.
///
/// check_checkout() returns the FIRST refusal in this order (later checks assume the earlier
/// ones passed, so the user hears the most fundamental reason first):
///
// clang-format off
/// | #  | errc                | refused when                                                        |
/// | -- | ------------------- | ------------------------------------------------------------------- |
/// |  1 | unregistered        | the device is not in the registry                                   |
/// |  2 | badge_unknown       | the badge belongs to nobody (badge_holder == nullptr)               |
/// |  3 | badge_not_allowed   | the person is inactive, or has a home city other than this city and |
/// |    |                     | is not a dispatcher or admin (region-wide roles)                    |
/// |  4 | locked              | the server locked the device                                        |
/// |  5 | in_maintenance      | custody state maintenance                                           |
/// |  6 | invalid_transition  | custody state checked_out, in_transit, lost or retired              |
/// |  7 | reserved_for_other  | an approved booking of this device for another person needs it now  |
/// |    |                     | (from 30 min before its start to its end), or this is the last free |
/// |    |                     | unit of its class an approved class booking needs now               |
/// |  8 | battery_low         | battery below the class threshold (body_camera 80, drone 90,        |
/// |    |                     | analyzer 50, dock 0), or unknown while the threshold is above 0     |
/// |  9 | calibration_expired | analyzer whose calibration_due is before today (UTC); the due day   |
/// |    |                     | itself is still fine; an analyzer with no known due date is refused |
/// | 10 | footage_pending     | body camera with footage pending offload for more than 24 h         |
// clang-format on
///
/// Unknown values are refused by default (policy flags turn that off): a device that has never
/// reported its battery, or an analyzer whose calibration date is unknown, should not go out on
/// an enforcement job where a flat battery or an unusable measurement is found out in the field.
/// An unknown footage backlog is not refused: footage_pending_since absent means nothing pending.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/reservation.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm {

/// What a gateway knows about one device when it decides (registry + last telemetry + custody).
struct device_snapshot {
    std::string id{};
    device_class cls = device_class::body_camera;
    bool registered = true;                 ///< false: seen on the broker but not in the registry
    device_custody custody{};               ///< state, holder, due, lock
    std::optional<double> battery_pct{};    ///< last telemetry; unknown when absent
    std::optional<date> calibration_due{};  ///< analyzers
    std::optional<clock_ms> footage_pending_since{};  ///< body cameras; absent: nothing pending
    std::optional<eqm::analyte> analyte{};            ///< analyzers: which class bookings it serves
};

/// Thresholds and choices; the defaults are the bureau's rules.
struct readiness_policy {
    double body_camera_min_battery_pct = 80;
    double drone_min_battery_pct = 90;
    double analyzer_min_battery_pct = 50;
    double dock_min_battery_pct = 0;
    /// A device with no battery report is refused when its class threshold is above 0.
    bool refuse_unknown_battery = true;
    /// An analyzer with no known calibration_due is refused.
    bool refuse_unknown_calibration = true;
    /// Footage pending for longer than this blocks a body camera's check-out.
    std::chrono::milliseconds footage_offload_limit = std::chrono::hours{24};
    /// An approved booking holds its unit from this long before its start (reservation.hpp).
    std::chrono::milliseconds booking_lead = default_booking_lead;

    /// The threshold for a class, in percent.
    double min_battery_pct(device_class c) const noexcept;
};

/// The first refusal for a check-out (see the table above), or success.
/// `badge_holder` is the registered person the badge (or API caller) resolves to; nullptr when
/// the badge is unknown. `city` is the 6-digit code of the city where the check-out happens.
/// `reservations` may hold any reservations of the city; only approved ones count. Row 7 is
/// claim_for_checkout() (reservation.hpp): a named booking of this device for someone else that
/// needs it now, or, when `ready_units` (the city's units ready to go out now) are given, the
/// last free unit of a class an approved class booking needs now. Without `ready_units` class
/// bookings are not enforced. Call claim_for_checkout() with the same inputs to learn which
/// booking a permitted check-out fulfils.
result<void> check_checkout(const device_snapshot& device, const person_record* badge_holder,
                            std::string_view city, std::span<const reservation> reservations,
                            const readiness_policy& policy, clock_ms now,
                            std::optional<std::span<const ready_unit>> ready_units = std::nullopt);

/// Every reason check_checkout() would refuse, in the same priority order (empty: ready).
std::vector<error> checkout_problems(
    const device_snapshot& device, const person_record* badge_holder, std::string_view city,
    std::span<const reservation> reservations, const readiness_policy& policy, clock_ms now,
    std::optional<std::span<const ready_unit>> ready_units = std::nullopt);

/// The claim_for_checkout() subject for this device, city and person (empty when unknown).
checkout_subject checkout_subject_of(const device_snapshot& device, std::string_view city,
                                     const person_record* who);

/// A device's readiness as a dashboard shows it: everything about the device itself, whoever
/// would come to take it. Reservations show as reserved_for_other ("reserved for p-7 until ...").
struct readiness_report {
    std::vector<error> problems;  ///< in check_checkout() priority order
    bool ready() const noexcept { return problems.empty(); }
    /// `{"ready": bool, "problems": [{"code", "message"}...]}` for REST and WebSocket views.
    nlohmann::json to_json() const;
};

/// Non-refusing: lists all device problems (rows 1 and 4-10 of the table).
readiness_report assess_readiness(const device_snapshot& device,
                                  std::span<const reservation> reservations,
                                  const readiness_policy& policy, clock_ms now);

}  // namespace eqm
