#include "eqm/domain/booking.hpp"

#include <array>
#include <utility>

#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {
namespace {

using nlohmann::json;
using enum reservation_status;

constexpr std::array<std::string_view, 23> rule_names{
    "body",
    "target",
    "class_not_bookable",
    "analyte",
    "city_unknown",
    "device_unknown",
    "device_city",
    "device_in_transit",
    "device_unavailable",
    "officer_city",
    "window_order",
    "past",
    "min_notice",
    "max_length",
    "working_hours",
    "max_open",
    "device_conflict",
    "class_capacity",
    "transition",
    "role",
    "reason",
    "timing",
    "unit",
};

constexpr std::array<std::string_view, 8> action_names{
    "approve", "decline", "cancel", "check_out", "check_in", "no_show", "lapse", "overdue",
};

json window_json(clock_ms start, clock_ms end) {
    return {{"start", format_timestamp(start)}, {"end", format_timestamp(end)}};
}

/// May this person decide (approve, decline) bookings of this city?
bool may_decide(const booking_actor& a, std::string_view city) {
    return a.role == person_role::dispatcher || a.role == person_role::admin ||
           (a.role == person_role::custodian && a.city == city);
}

std::unexpected<booking_refusal> cannot(const booking& b, booking_action action,
                                        std::string_view why = {}) {
    return refuse(errc::invalid_transition, "status", booking_rule::transition,
                  "cannot " + std::string(to_string(action)) + " booking " + b.id + ": it is " +
                      std::string(to_string(b.status)) + (why.empty() ? "" : "; ") +
                      std::string(why));
}

booking_result<void> check_actor(const booking& b, const booking_command& cmd) {
    if (!cmd.actor)
        return refuse(errc::forbidden, "actor", booking_rule::role,
                      std::string(to_string(cmd.action)) + " needs the person who asks");
    const auto& a = *cmd.actor;
    if (cmd.action == booking_action::cancel && a.person_id == b.person_id) return {};
    if (may_decide(a, b.city)) return {};
    const std::string who = cmd.action == booking_action::cancel
                                ? "its officer, a dispatcher, an admin or a custodian of " + b.city
                                : "a dispatcher, an admin or a custodian of " + b.city;
    return refuse(errc::forbidden, "actor", booking_rule::role,
                  a.person_id + " (" + std::string(to_string(a.role)) + ") may not " +
                      std::string(to_string(cmd.action)) + " booking " + b.id + "; only " + who +
                      " may");
}

booking_result<void> check_reason(const booking_command& cmd, bool required) {
    if (!cmd.reason || cmd.reason->empty()) {
        if (!required) return {};
        return refuse(errc::bad_field, "reason", booking_rule::reason,
                      "a declined booking needs a reason the officer can read");
    }
    if (detail::code_points(*cmd.reason) > max_booking_reason_chars)
        return refuse(errc::bad_field, "reason", booking_rule::reason,
                      "at most " + std::to_string(max_booking_reason_chars) + " characters");
    return {};
}

booking_result<booking> check_out(booking b, const booking_command& cmd, clock_ms now) {
    const clock_ms at = cmd.at.value_or(now);
    const bool late_news = b.status == no_show && at < b.start + no_show_after;
    if (b.status != approved && !late_news)
        return cannot(b, cmd.action, "only an approved booking is picked up");
    if (at >= b.end)
        return refuse(errc::invalid_transition, "at", booking_rule::timing,
                      "booking " + b.id + " ended at " + format_timestamp(b.end));
    if (!cmd.unit_id)
        return refuse(errc::bad_field, "unit_id", booking_rule::unit, "the unit picked up");
    if (b.device_id && *cmd.unit_id != *b.device_id)
        return refuse(errc::bad_field, "unit_id", booking_rule::unit,
                      "booking " + b.id + " is for " + *b.device_id + ", not " + *cmd.unit_id);
    b.status = active;
    b.unit_id = cmd.unit_id;
    b.picked_up_at = at;
    return b;
}

/// The timer's actions: each is due from a fixed instant on.
booking_result<booking> timed(booking b, booking_action action, clock_ms now) {
    const reservation_status from = action == booking_action::no_show ? approved
                                    : action == booking_action::lapse ? requested
                                                                      : active;
    if (b.status != from)
        return cannot(b, action, "it applies to " + std::string(to_string(from)) + " bookings");
    if (due_action(b, now) == action) {
        switch (action) {
            case booking_action::no_show:
                b.status = no_show;
                break;
            case booking_action::lapse:
                b.status = declined;
                b.reason = "not approved or declined before it began; released automatically";
                break;
            default:
                b.status = overdue;
                break;
        }
        return b;
    }
    return refuse(errc::invalid_transition, "status", booking_rule::timing,
                  std::string(to_string(action)) + " of booking " + b.id + " is due at " +
                      format_timestamp(next_due_time(b).value_or(now)) + ", not before");
}

}  // namespace

std::string_view to_string(booking_rule r) noexcept {
    const auto i = static_cast<std::size_t>(r);
    return i < rule_names.size() ? rule_names[i] : "unknown";
}

std::string_view to_string(booking_action a) noexcept {
    const auto i = static_cast<std::size_t>(a);
    return i < action_names.size() ? action_names[i] : "unknown";
}

std::unexpected<booking_refusal> refuse(errc code, std::string field, booking_rule rule,
                                        std::string message) {
    return std::unexpected(
        booking_refusal{error{code, std::move(field), std::move(message)}, rule, {}, {}});
}

json booking_refusal::problem_extra() const {
    json j = {{"rule", to_string(rule)}};
    if (rule != booking_rule::device_conflict && rule != booking_rule::class_capacity) return j;
    json list = json::array();
    for (const auto& c : conflicts) {
        auto item = window_json(c.start, c.end);
        item["id"] = c.id;
        list.push_back(std::move(item));
    }
    j["conflicts"] = std::move(list);
    list = json::array();
    for (const auto& w : alternatives) {
        auto item = window_json(w.start, w.end);
        if (w.device_id) item["device_id"] = *w.device_id;
        list.push_back(std::move(item));
    }
    j["alternatives"] = std::move(list);
    return j;
}

reservation_record to_record(const booking& b) {
    reservation_record r;
    r.id = b.id;
    r.device_id = b.held_device();
    r.person_id = b.person_id;
    r.start = b.start;
    r.end = b.end;
    r.status = b.status;
    if (b.by_class()) {
        r.cls = b.cls;
        r.analyte = b.analyte;
        r.city = b.city;
    }
    return r;
}

json to_json(const booking& b) {
    json j = window_json(b.start, b.end);
    j["id"] = b.id;
    j["status"] = to_string(b.status);
    j["person_id"] = b.person_id;
    j["city"] = b.city;
    j["class"] = to_string(b.cls);
    if (b.analyte) j["analyte"] = to_string(*b.analyte);
    if (b.device_id) j["device_id"] = *b.device_id;
    j["purpose"] = b.purpose;
    if (b.case_no) j["case_no"] = *b.case_no;
    if (b.unit_id) j["unit_id"] = *b.unit_id;
    if (b.reason) j["reason"] = *b.reason;
    if (b.decided_by) j["decided_by"] = *b.decided_by;
    j["created_at"] = format_timestamp(b.created_at);
    j["updated_at"] = format_timestamp(b.updated_at);
    if (b.picked_up_at) j["picked_up_at"] = format_timestamp(*b.picked_up_at);
    if (b.returned_at) j["returned_at"] = format_timestamp(*b.returned_at);
    return j;
}

std::optional<booking_action> due_action(const booking& b, clock_ms now) noexcept {
    if (b.status == approved && now >= b.start + no_show_after) return booking_action::no_show;
    if (b.status == requested && now >= b.start + no_show_after) return booking_action::lapse;
    if (b.status == active && now >= b.end) return booking_action::overdue;
    return std::nullopt;
}

std::optional<clock_ms> next_due_time(const booking& b) noexcept {
    if (b.status == approved || b.status == requested) return b.start + no_show_after;
    if (b.status == active) return b.end;
    return std::nullopt;
}

booking_result<booking> apply(const booking& b, const booking_command& cmd, clock_ms now) {
    booking out = b;
    switch (cmd.action) {
        case booking_action::approve:
        case booking_action::decline: {
            if (b.status != requested) return cannot(b, cmd.action, "only a request is decided");
            EQM_TRY(check_actor(b, cmd));
            const bool approve = cmd.action == booking_action::approve;
            EQM_TRY(check_reason(cmd, !approve));
            if (approve && now >= b.end)
                return refuse(errc::invalid_transition, "status", booking_rule::timing,
                              "booking " + b.id + " ended at " + format_timestamp(b.end));
            out.status = approve ? approved : declined;
            out.reason = approve ? std::nullopt : cmd.reason;
            out.decided_by = cmd.actor->person_id;
            break;
        }
        case booking_action::cancel: {
            if (b.status != requested && b.status != approved)
                return cannot(b, cmd.action, "only a request or an approved booking is cancelled");
            EQM_TRY(check_actor(b, cmd));
            EQM_TRY(check_reason(cmd, false));
            out.status = cancelled;
            if (cmd.reason && !cmd.reason->empty()) out.reason = cmd.reason;
            break;
        }
        case booking_action::check_out: {
            auto next = check_out(std::move(out), cmd, now);
            if (!next) return next;
            out = std::move(*next);
            break;
        }
        case booking_action::check_in:
            if (b.status != active && b.status != overdue)
                return cannot(b, cmd.action, "only a booking whose unit is out is checked in");
            out.status = completed;
            out.returned_at = cmd.at.value_or(now);
            break;
        case booking_action::no_show:
        case booking_action::lapse:
        case booking_action::overdue: {
            auto next = timed(std::move(out), cmd.action, now);
            if (!next) return next;
            out = std::move(*next);
            break;
        }
    }
    out.updated_at = now;
    return out;
}

}  // namespace eqm
