#include "eqm/domain/alerts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace eqm {
namespace {

bool contains(std::span<const alert_type> list, alert_type t) {
    return std::find(list.begin(), list.end(), t) != list.end();
}

std::string whole_percent(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", std::floor(v));
    return buf;
}

/// "3 h", "2 d 4 h": how long something has been going on, for details.
std::string duration_phrase(std::chrono::milliseconds d) {
    const auto hours = std::chrono::duration_cast<std::chrono::hours>(d).count();
    if (hours < 48) return std::to_string(hours) + " h";
    return std::to_string(hours / 24) + " d " + std::to_string(hours % 24) + " h";
}

}  // namespace

std::vector<alert_condition> evaluate_alerts(const alert_facts& f, const alert_policy& policy,
                                             clock_ms now, std::span<const alert_type> active) {
    std::vector<alert_condition> out;
    if (f.state == custody_state::retired) return out;

    if (f.battery_pct && !f.charging) {
        const bool was_low = contains(active, alert_type::low_battery);
        const double limit = was_low ? policy.low_battery_pct + policy.low_battery_clear_margin_pct
                                     : policy.low_battery_pct;
        if (*f.battery_pct < limit)
            out.push_back({alert_type::low_battery, alert_severity::warning,
                           "battery at " + whole_percent(*f.battery_pct) + "%, below " +
                               whole_percent(policy.low_battery_pct) + "%"});
    }

    if (f.calibration_due) {
        const date today = std::chrono::floor<std::chrono::days>(now);
        if (*f.calibration_due < today)
            out.push_back({alert_type::calibration_expired, alert_severity::critical,
                           "calibration expired on " + format_date(*f.calibration_due)});
        else if (*f.calibration_due < today + policy.calibration_warning)
            out.push_back({alert_type::calibration_due, alert_severity::info,
                           "calibration due on " + format_date(*f.calibration_due)});
    }

    if (f.footage_pending_since && now - *f.footage_pending_since > policy.footage_offload_limit)
        out.push_back(
            {alert_type::footage_pending, alert_severity::warning,
             "footage pending offload for " + duration_phrase(now - *f.footage_pending_since)});

    if (f.state == custody_state::checked_out && f.due && now > *f.due)
        out.push_back({alert_type::overdue_return, alert_severity::warning,
                       "checked out" + (f.holder ? " to " + *f.holder : std::string{}) +
                           ", due back at " + format_timestamp(*f.due)});

    if (f.state == custody_state::checked_out && f.docked)
        out.push_back({alert_type::docked_while_checked_out, alert_severity::warning,
                       "the device is in a dock but the ledger says it is checked out" +
                           (f.holder ? " to " + *f.holder : std::string{})});

    if (f.unauthorised_removal_at && !f.docked)
        out.push_back({alert_type::unauthorised_removal, alert_severity::critical,
                       "taken from its dock without a badge at " +
                           format_timestamp(*f.unauthorised_removal_at)});
    return out;
}

alert_diff diff_alerts(std::span<const alert_type> active,
                       std::span<const alert_condition> wanted) {
    alert_diff d;
    for (const auto& w : wanted)
        if (!contains(active, w.type)) d.raise.push_back(w);
    for (auto t : active) {
        const bool still = std::any_of(wanted.begin(), wanted.end(),
                                       [t](const alert_condition& w) { return w.type == t; });
        if (!still) d.clear.push_back(t);
    }
    return d;
}

}  // namespace eqm
