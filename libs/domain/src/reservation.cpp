#include "eqm/domain/reservation.hpp"

#include <algorithm>

#include "eqm/domain/custody.hpp"

namespace eqm {
namespace {

constexpr std::string_view id_rule = "must be an id: 1 to 64 of A-Z a-z 0-9 _ -";

/// "reserved for p-2 until 12:00 (reservation r-1)", with "from" when it has not begun yet.
std::string reserved_phrase(const reservation& r, clock_ms now) {
    std::string out = "reserved for " + r.person_id;
    if (r.start > now) out += " from " + format_timestamp(r.start);
    return out + " until " + format_timestamp(r.end) + " (reservation " + r.id + ")";
}

/// Keeps the earliest-starting of two candidates.
void keep_earliest(const reservation*& slot, const reservation& r) {
    if (!slot || r.start < slot->start) slot = &r;
}

bool can_serve(const reservation& r, const checkout_subject& s) {
    return r.by_class() && r.status == reservation_status::approved && !r.device_id &&
           *r.cls == s.cls && (!r.analyte || r.analyte == s.analyte) &&
           (!r.city || *r.city == s.city);
}

bool held_for_named_booking(std::span<const reservation> bookings, std::string_view device_id,
                            clock_ms now, std::chrono::milliseconds lead) {
    return std::ranges::any_of(bookings, [&](const reservation& r) {
        return !r.by_class() && r.device_id == device_id && needs_unit(r, now, lead);
    });
}

}  // namespace

bool holds_window(reservation_status s) noexcept {
    using enum reservation_status;
    return s == requested || s == approved || s == active || s == overdue;
}

bool holds_window(const reservation& r) noexcept {
    return holds_window(r.status);
}

bool windows_overlap(clock_ms a_start, clock_ms a_end, clock_ms b_start, clock_ms b_end) noexcept {
    // Half-open: an empty window (start >= end) overlaps nothing.
    return a_start < b_end && b_start < a_end && a_start < a_end && b_start < b_end;
}

bool covers(const reservation& r, clock_ms at) noexcept {
    return r.start <= at && at < r.end;
}

std::vector<std::string> conflicts(const reservation& candidate,
                                   std::span<const reservation> existing) {
    std::vector<std::string> out;
    if (!holds_window(candidate) || !candidate.device_id) return out;
    for (const auto& other : existing) {
        if (other.id == candidate.id || other.device_id != candidate.device_id ||
            !holds_window(other))
            continue;
        if (windows_overlap(candidate.start, candidate.end, other.start, other.end))
            out.push_back(other.id);
    }
    return out;
}

result<void> validate(const reservation& r, std::chrono::milliseconds max_length) {
    if (!is_valid_id(r.id)) return fail(errc::bad_field, "id", std::string(id_rule));
    if (r.device_id && !is_valid_id(*r.device_id))
        return fail(errc::bad_field, "device_id", std::string(id_rule));
    if (!r.device_id && !r.cls)
        return fail(errc::bad_field, "device_id",
                    "a named booking needs device_id, a class booking class and city");
    if (r.cls && !r.city)
        return fail(errc::bad_field, "city", "a class booking needs the city whose units it books");
    if (r.analyte && r.cls != device_class::analyzer)
        return fail(errc::bad_field, "analyte", "only a class booking of analyzers has an analyte");
    if (!is_valid_id(r.person_id)) return fail(errc::bad_field, "person_id", std::string(id_rule));
    if (r.end <= r.start)
        return fail(errc::bad_field, "end",
                    "must be after start (" + format_timestamp(r.start) + "), got " +
                        format_timestamp(r.end));
    if (r.end - r.start > max_length)
        return fail(
            errc::bad_field, "end",
            "a reservation may last at most " +
                std::to_string(std::chrono::duration_cast<std::chrono::hours>(max_length).count()) +
                " hours");
    return {};
}

const reservation* active_reservation(std::span<const reservation> all, std::string_view device_id,
                                      clock_ms at) noexcept {
    for (const auto& r : all)
        if (r.status == reservation_status::approved && !r.by_class() && r.device_id == device_id &&
            covers(r, at))
            return &r;
    return nullptr;
}

bool needs_unit(const reservation& r, clock_ms now, std::chrono::milliseconds lead) noexcept {
    return r.status == reservation_status::approved && r.start < now + lead && now < r.end;
}

result<checkout_claim> claim_for_checkout(const checkout_subject& subject,
                                          std::span<const reservation> bookings,
                                          std::optional<std::span<const ready_unit>> ready_units,
                                          clock_ms now, std::chrono::milliseconds lead) {
    const auto is_mine = [&](const reservation& r) {
        return !subject.person_id.empty() && r.person_id == subject.person_id;
    };
    const reservation* own_named = nullptr;
    const reservation* other_named = nullptr;
    for (const auto& r : bookings)
        if (!r.by_class() && r.device_id == subject.device_id && needs_unit(r, now, lead))
            keep_earliest(is_mine(r) ? own_named : other_named, r);
    if (own_named) return checkout_claim{own_named->id};
    if (other_named)
        return fail(errc::reserved_for_other, "device", reserved_phrase(*other_named, now));

    // The class bookings this unit could serve that need a unit now; ours (the earliest, if
    // several) is the one this check-out fulfils, the rest compete for the units left.
    std::vector<const reservation*> waiting;
    const reservation* own_class = nullptr;
    for (const auto& r : bookings) {
        if (!can_serve(r, subject) || !needs_unit(r, now, lead)) continue;
        waiting.push_back(&r);
        if (is_mine(r)) keep_earliest(own_class, r);
    }
    const checkout_claim claim{own_class ? std::optional(own_class->id) : std::nullopt};
    std::erase(waiting, own_class);
    if (!ready_units || waiting.empty()) return claim;

    const auto left = std::ranges::count_if(*ready_units, [&](const ready_unit& u) {
        return u.device_id != subject.device_id && u.cls == subject.cls &&
               u.analyte == subject.analyte &&
               !held_for_named_booking(bookings, u.device_id, now, lead);
    });
    if (static_cast<std::size_t>(left) >= waiting.size()) return claim;
    std::ranges::sort(waiting, {}, &reservation::start);
    const auto& first = *waiting.front();
    return fail(errc::reserved_for_other, "device",
                "the last free " + std::string(to_string(subject.cls)) + " here is " +
                    reserved_phrase(first, now) + "; " + std::to_string(left) +
                    " other ready unit(s) for " + std::to_string(waiting.size()) +
                    " booking(s) that need one now");
}

}  // namespace eqm
