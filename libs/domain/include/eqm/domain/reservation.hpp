#pragma once
/// Reservations: a person books a device for a time window. The server decides them (it is the
/// single writer); gateways receive approved ones and refuse check-outs by anyone else inside
/// an approved window (readiness.hpp, errc::reserved_for_other).
///
/// Windows are half-open, [start, end): a reservation ending at 10:00 and one starting at 10:00
/// do not overlap. Only pending and approved reservations hold a window; cancelled ones never
/// conflict with anything.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/time.hpp"

namespace eqm {

/// The longest window a single reservation may hold.
inline constexpr std::chrono::milliseconds max_reservation_length = std::chrono::days{14};

/// A reservation is exactly its wire record (payloads.hpp: `{id, device_id, person_id, start,
/// end, status}`, with reservation_status pending / approved / cancelled and its
/// to_string / parse_reservation_status); the rules below work on it directly.
using reservation = reservation_record;

/// True when the status holds the window (pending or approved).
bool holds_window(const reservation& r) noexcept;

/// True when [a_start, a_end) and [b_start, b_end) share at least one instant.
bool windows_overlap(clock_ms a_start, clock_ms a_end, clock_ms b_start, clock_ms b_end) noexcept;

/// True when `at` is inside [r.start, r.end).
bool covers(const reservation& r, clock_ms at) noexcept;

/// Ids of the reservations in `existing` that conflict with `candidate`: same device,
/// overlapping windows, both holding a window (pending or approved), other id (so re-checking an
/// edited reservation does not conflict with its own stored copy). In the order of `existing`.
/// A cancelled candidate conflicts with nothing.
std::vector<std::string> conflicts(const reservation& candidate,
                                   std::span<const reservation> existing);

/// Field checks for a new or edited reservation: ids in the contract's id pattern, end > start
/// (errc::bad_field on "end"), and at most `max_length` long (errc::bad_field on "end").
result<void> validate(const reservation& r,
                      std::chrono::milliseconds max_length = max_reservation_length);

/// The approved reservation of `device_id` whose window covers `at`, if any (the first one in
/// `all`: conflicts() keeps approved windows from overlapping).
const reservation* active_reservation(std::span<const reservation> all, std::string_view device_id,
                                      clock_ms at) noexcept;

}  // namespace eqm
