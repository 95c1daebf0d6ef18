#pragma once
/// Conflicts and capacity: may the city promise this booking, and if not, with what does it
/// clash and which windows of the same length are free?
///
/// Every booking that holds a window (requested, approved, active, overdue) holds
/// [start, end + buffer), the buffer (the class rule's, 30 minutes by default) being the time
/// the unit needs to come back and recharge; an active or overdue booking holds at least until
/// now, since its unit is out. A unit is `serviceable` when it is in the city and not in
/// transit, in maintenance, lost or retired (serviceable_units()); the server passes that list.
///
/// - A named-device booking clashes with every other booking holding the same device (named
///   for it, or a class booking bound to it at check-out) whose held window overlaps its own.
/// - The city never promises more units of a class (and analyte) than it has: at every instant
///   of the held window, the bookings of that class and analyte at the city that take a unit
///   from the pool (class bookings not yet bound, and bookings holding a serviceable unit), the
///   new one included, number at most the serviceable units. A named booking of a serviceable
///   unit takes from the pool too, so it cannot take the unit a class booking was promised.
///
/// On a clash the refusal (errc::conflict, rule device_conflict or class_capacity) names the
/// bookings it clashes with and offers the three nearest free windows of the same length: it
/// looks for the nearest ones after the requested start and the nearest ones before it, never
/// overlapping each other, never starting before now + the minimum notice (rounded up to the
/// minute), each starting and ending within the working hours when the rule has them, at most
/// 30 days away; it keeps the three nearest, and at least one on each side when both have one.
/// The search runs on the merged blocked intervals: O(n log n) for n bookings.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/booking.hpp"
#include "eqm/domain/booking_request.hpp"
#include "eqm/domain/reservation_rules.hpp"

namespace eqm {

/// How far from the requested start alternatives are looked for.
inline constexpr std::chrono::milliseconds alternative_horizon = std::chrono::days{30};
inline constexpr std::size_t alternative_count = 3;

/// The instant a held booking's unit is free again, before the buffer: its end, or now while
/// an active or overdue booking's unit is still out.
clock_ms held_until(const booking& b, clock_ms now) noexcept;

/// Ids of the devices in `devices` at `city` of this class and analyte that are serviceable:
/// available or checked out (checked-out units come back), not in transit, maintenance, lost or
/// retired.
std::vector<std::string> serviceable_units(std::span<const device_facts> devices,
                                           std::string_view city, device_class cls,
                                           std::optional<eqm::analyte> analyte);

/// May the city promise `candidate`? `city_bookings`: the bookings of its city (any status; the
/// candidate's own id is skipped). `units`: the serviceable units of its class and analyte.
booking_result<void> check_availability(const booking& candidate,
                                        std::span<const booking> city_bookings,
                                        std::span<const std::string> units,
                                        const reservation_rule& rule, clock_ms now);

/// Late binding: the unit among `ready` (units ready to go out now) to hand out for class
/// booking `b` at `now`: one whose other bookings leave it free from now (or the start) until
/// the end plus the buffer, preferring the one whose next booking comes soonest after that
/// (so units with long free stretches stay for long bookings), then the smallest id. Nothing
/// when no ready unit is free for the whole window.
std::optional<std::string> choose_unit(const booking& b, std::span<const booking> city_bookings,
                                       std::span<const std::string> ready,
                                       const reservation_rule& rule, clock_ms now);

}  // namespace eqm
