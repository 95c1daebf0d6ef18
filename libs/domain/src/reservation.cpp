#include "eqm/domain/reservation.hpp"

#include "eqm/domain/custody.hpp"

namespace eqm {

bool holds_window(const reservation& r) noexcept {
    return r.status != reservation_status::cancelled;
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
    if (!holds_window(candidate)) return out;
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
    if (!is_valid_id(r.id))
        return fail(errc::bad_field, "id", "must be an id: 1 to 64 of A-Z a-z 0-9 _ -");
    if (!is_valid_id(r.device_id))
        return fail(errc::bad_field, "device_id", "must be an id: 1 to 64 of A-Z a-z 0-9 _ -");
    if (!is_valid_id(r.person_id))
        return fail(errc::bad_field, "person_id", "must be an id: 1 to 64 of A-Z a-z 0-9 _ -");
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
        if (r.status == reservation_status::approved && r.device_id == device_id && covers(r, at))
            return &r;
    return nullptr;
}

}  // namespace eqm
