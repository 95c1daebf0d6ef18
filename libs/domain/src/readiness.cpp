#include "eqm/domain/readiness.hpp"

#include <cmath>
#include <cstdio>

namespace eqm {
namespace {

/// "62", "79.9": percentages rounded down to a tenth, so a value just under a threshold never
/// prints as the threshold itself.
std::string percent(double v) {
    const double tenths = std::floor(v * 10.0) / 10.0;
    char buf[32];
    if (tenths == std::floor(tenths))
        std::snprintf(buf, sizeof buf, "%.0f", tenths);
    else
        std::snprintf(buf, sizeof buf, "%.1f", tenths);
    return buf;
}

bool region_wide(person_role r) {
    return r == person_role::dispatcher || r == person_role::admin;
}

std::string state_phrase(const device_custody& c) {
    switch (c.state) {
        case custody_state::checked_out:
            return "checked out" + (c.holder ? " to " + *c.holder : std::string{});
        case custody_state::in_transit:
            return "in transit to another city";
        case custody_state::lost:
            return "reported lost";
        case custody_state::retired:
            return "retired";
        case custody_state::maintenance:
            return "in maintenance";
        case custody_state::available:
            return "available";
    }
    return "in an unknown state";
}

/// Collects problems in priority order; stops after the first when `first_only`.
class problem_list {
  public:
    explicit problem_list(bool first_only) : first_only_(first_only) {}
    bool done() const { return first_only_ && !problems_.empty(); }
    void add(errc code, std::string field, std::string message) {
        if (!done()) problems_.push_back(error{code, std::move(field), std::move(message)});
    }
    std::vector<error> take() { return std::move(problems_); }

  private:
    bool first_only_;
    std::vector<error> problems_;
};

void check_person(problem_list& out, const person_record* who, std::string_view city) {
    if (!who) {
        out.add(errc::badge_unknown, "badge", "the badge is not registered to anyone");
        return;
    }
    if (!who->is_active()) {
        out.add(errc::badge_not_allowed, "badge", who->name + " (" + who->id + ") is not active");
        return;
    }
    if (who->city && *who->city != city && !region_wide(who->role) && !who->badge_allowed_in(city))
        out.add(errc::badge_not_allowed, "badge",
                who->name + " (" + who->id + ") belongs to city " + *who->city +
                    " and the badge is not allowed in " + std::string(city));
}

/// What the bookings say about taking the device now (row 7 of the table).
struct booking_view {
    std::span<const reservation> reservations;
    std::optional<std::span<const ready_unit>> ready_units;
    std::string_view city;
};

void check_device(problem_list& out, const device_snapshot& d, const booking_view& bookings,
                  const person_record* who, const readiness_policy& policy, clock_ms now) {
    if (d.custody.locked) out.add(errc::locked, "device", "the device is locked by the dispatcher");
    if (d.custody.state == custody_state::maintenance)
        out.add(errc::in_maintenance, "device", "the device is in maintenance");
    else if (d.custody.state != custody_state::available)
        out.add(errc::invalid_transition, "device",
                "the device is " + state_phrase(d.custody) + ", not available");

    if (auto claim =
            claim_for_checkout(checkout_subject_of(d, bookings.city, who), bookings.reservations,
                               bookings.ready_units, now, policy.booking_lead);
        !claim)
        out.add(claim.error().code, claim.error().field, claim.error().message);

    const double min_pct = policy.min_battery_pct(d.cls);
    const auto cls = std::string(to_string(d.cls));
    if (d.battery_pct) {
        if (*d.battery_pct < min_pct)
            out.add(errc::battery_low, "battery_pct",
                    "battery " + percent(*d.battery_pct) + "% is below the " + cls +
                        " threshold of " + percent(min_pct) + "%");
    } else if (min_pct > 0 && policy.refuse_unknown_battery) {
        out.add(errc::battery_low, "battery_pct",
                "battery level unknown (no telemetry yet); the " + cls + " threshold is " +
                    percent(min_pct) + "%");
    }

    if (d.cls == device_class::analyzer) {
        const date today = std::chrono::floor<std::chrono::days>(now);
        if (d.calibration_due) {
            if (*d.calibration_due < today)
                out.add(errc::calibration_expired, "calibration_due",
                        "calibration was due on " + format_date(*d.calibration_due));
        } else if (policy.refuse_unknown_calibration) {
            out.add(errc::calibration_expired, "calibration_due",
                    "the analyzer's calibration due date is unknown");
        }
    }

    if (d.cls == device_class::body_camera && d.footage_pending_since &&
        now - *d.footage_pending_since > policy.footage_offload_limit) {
        const auto hours =
            std::chrono::duration_cast<std::chrono::hours>(now - *d.footage_pending_since).count();
        out.add(errc::footage_pending, "footage_pending_since",
                "footage has waited " + std::to_string(hours) + " h for offload (since " +
                    format_timestamp(*d.footage_pending_since) + "); the limit is " +
                    std::to_string(
                        std::chrono::duration_cast<std::chrono::hours>(policy.footage_offload_limit)
                            .count()) +
                    " h");
    }
}

std::vector<error> collect(const device_snapshot& device, const person_record* who,
                           std::string_view city, const booking_view& bookings,
                           const readiness_policy& policy, clock_ms now, bool first_only) {
    problem_list out(first_only);
    if (!device.registered)
        out.add(errc::unregistered, "device", "device " + device.id + " is not registered");
    check_person(out, who, city);
    check_device(out, device, bookings, who, policy, now);
    return out.take();
}

}  // namespace

double readiness_policy::min_battery_pct(device_class c) const noexcept {
    switch (c) {
        case device_class::body_camera:
            return body_camera_min_battery_pct;
        case device_class::drone:
            return drone_min_battery_pct;
        case device_class::analyzer:
            return analyzer_min_battery_pct;
        case device_class::dock:
            return dock_min_battery_pct;
    }
    return 0;
}

checkout_subject checkout_subject_of(const device_snapshot& device, std::string_view city,
                                     const person_record* who) {
    return checkout_subject{device.id, device.cls, device.analyte, city,
                            who ? std::string_view(who->id) : std::string_view{}};
}

result<void> check_checkout(const device_snapshot& device, const person_record* badge_holder,
                            std::string_view city, std::span<const reservation> reservations,
                            const readiness_policy& policy, clock_ms now,
                            std::optional<std::span<const ready_unit>> ready_units) {
    auto problems =
        collect(device, badge_holder, city, {reservations, ready_units, city}, policy, now, true);
    if (problems.empty()) return {};
    return std::unexpected(std::move(problems.front()));
}

std::vector<error> checkout_problems(const device_snapshot& device,
                                     const person_record* badge_holder, std::string_view city,
                                     std::span<const reservation> reservations,
                                     const readiness_policy& policy, clock_ms now,
                                     std::optional<std::span<const ready_unit>> ready_units) {
    return collect(device, badge_holder, city, {reservations, ready_units, city}, policy, now,
                   false);
}

readiness_report assess_readiness(const device_snapshot& device,
                                  std::span<const reservation> reservations,
                                  const readiness_policy& policy, clock_ms now) {
    problem_list out(false);
    if (!device.registered)
        out.add(errc::unregistered, "device", "device " + device.id + " is not registered");
    // Nobody in particular asks, so every named booking that needs the device now shows.
    check_device(out, device, {reservations, std::nullopt, {}}, nullptr, policy, now);
    return readiness_report{out.take()};
}

nlohmann::json readiness_report::to_json() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : problems)
        list.push_back({{"code", to_string(p.code)}, {"message", p.message}});
    return {{"ready", ready()}, {"problems", list}};
}

}  // namespace eqm
