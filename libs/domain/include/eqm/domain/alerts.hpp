#pragma once
/// Alert rules: which alerts a device should have right now, given what the gateway knows
/// about it. Pure: the caller passes the facts and `now`, keeps the set of active alerts, and
/// uses diff_alerts() to raise each alert once and clear it when its cause goes away.
///
/// | type                      | severity | condition | | ------------------------- | -------- |
/// ---------------------------------------------------------- | | low_battery               |
/// warning  | battery below low_battery_pct and not charging; once       | | |          | raised it
/// stays until the battery reaches pct + margin (or | |                           |          | the
/// device charges), so a value hovering at the threshold  | |                           | | does
/// not raise and clear on every report                   | | calibration_expired       | critical |
/// calibration_due is before today (UTC)                      | | calibration_due           | info
/// | calibration_due is today or within calibration_warning     | | footage_pending           |
/// warning  | footage pending offload for longer than the offload limit  | | overdue_return |
/// warning  | checked out and the return due time has passed             | |
/// docked_while_checked_out  | warning  | the device sits in a dock but the ledger says checked out
/// | | unauthorised_removal      | critical | taken from a dock without a badge and not returned
/// since   |
///
/// A retired device has no alerts.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm {

/// Thresholds for the alert rules.
struct alert_policy {
    /// Battery below this (percent) raises low_battery.
    double low_battery_pct = 20;
    /// low_battery clears only at low_battery_pct + this (hysteresis).
    double low_battery_clear_margin_pct = 5;
    /// calibration_due is raised this long before the due date.
    std::chrono::days calibration_warning{30};
    /// Footage pending longer than this raises footage_pending.
    std::chrono::milliseconds footage_offload_limit = std::chrono::hours{24};
};

/// What the gateway knows about one device when it evaluates its alerts.
struct alert_facts {
    std::optional<device_class> cls;
    custody_state state = custody_state::available;
    std::optional<std::string> holder;
    std::optional<clock_ms> due;                    ///< return due (checked_out)
    std::optional<double> battery_pct;              ///< last telemetry
    bool charging = false;                          ///< last telemetry
    std::optional<date> calibration_due;            ///< registry or last telemetry
    std::optional<clock_ms> footage_pending_since;  ///< absent: nothing pending
    bool docked = false;                            ///< in a dock slot (dock event or telemetry)
    /// Set by a slot_remove without a badge; cleared when the device is docked again.
    std::optional<clock_ms> unauthorised_removal_at;
};

/// One alert a device should have, with its severity and a human detail (<= 512 chars).
struct alert_condition {
    alert_type type{};
    alert_severity severity{};
    std::string detail;
    bool operator==(const alert_condition&) const = default;
};

/// The alerts the facts call for, in the order of the table above. `active` lists the types
/// already raised for this device (it only matters for hysteresis).
std::vector<alert_condition> evaluate_alerts(const alert_facts& facts, const alert_policy& policy,
                                             clock_ms now, std::span<const alert_type> active = {});

/// What to change so that exactly `wanted` is active.
struct alert_diff {
    std::vector<alert_condition> raise;  ///< wanted but not active
    std::vector<alert_type> clear;       ///< active but no longer wanted
};

/// Compares the active types with the wanted conditions (order of each list is kept).
alert_diff diff_alerts(std::span<const alert_type> active, std::span<const alert_condition> wanted);

}  // namespace eqm
