#pragma once
/// Reservations as gateways hold them: the wire `reservation_record` the server pushes with
/// `reservation_upsert`, and the rules a gateway enforces with them at check-out, also while the
/// central link is down. The server's own model of a booking (rules, states, capacity) is in
/// booking.hpp; docs/reservations.md describes both.
///
/// Windows are half-open, [start, end): a reservation ending at 10:00 and one starting at 10:00
/// do not overlap. Requested, approved, active and overdue reservations hold a window; declined,
/// cancelled, completed and no-show ones never conflict with anything.
///
/// Offline enforcement (claim_for_checkout): an approved booking *needs* its unit from `lead`
/// before its start until its end, that is while start < now + lead and now < end (lead: 30
/// minutes by default, the time a unit needs to be back and charged). While a booking needs its
/// unit, a gateway refuses
/// - another person's check-out of a device named by an approved booking
///   (errc::reserved_for_other), and
/// - another person's check-out of a ready unit of a class when the ready units of that class
///   left after it would be fewer than the approved class bookings that need one now
///   (errc::reserved_for_other, naming the booking that would go without).
/// A check-out by the booking's own person fulfils it: the custody record names the booking.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm {

/// The longest window a single reservation may hold (the default rule, reservation_rules.hpp).
inline constexpr std::chrono::milliseconds max_reservation_length = std::chrono::days{14};

/// How long before its start an approved booking already holds its unit at the gateway.
inline constexpr std::chrono::milliseconds default_booking_lead = std::chrono::minutes{30};

/// A reservation is exactly its wire record (payloads.hpp: `{id, device_id?, person_id, start,
/// end, status, class?, analyte?, city?}`); the rules below work on it directly.
using reservation = reservation_record;

/// True when the status holds the window: requested, approved, active or overdue.
bool holds_window(reservation_status s) noexcept;
bool holds_window(const reservation& r) noexcept;

/// True when [a_start, a_end) and [b_start, b_end) share at least one instant.
bool windows_overlap(clock_ms a_start, clock_ms a_end, clock_ms b_start, clock_ms b_end) noexcept;

/// True when `at` is inside [r.start, r.end).
bool covers(const reservation& r, clock_ms at) noexcept;

/// Ids of the reservations in `existing` that conflict with `candidate`: the same device (a
/// named booking's device, or the unit a class booking was bound to), overlapping windows, both
/// holding a window, other id (so re-checking an edited reservation does not conflict with its
/// own stored copy). In the order of `existing`. A candidate without a device (an unbound class
/// booking) or that holds no window conflicts with nothing here; class capacity is
/// booking_capacity.hpp's.
std::vector<std::string> conflicts(const reservation& candidate,
                                   std::span<const reservation> existing);

/// Field checks for a record built by hand (the parser makes the same ones): ids in the
/// contract's id pattern, a device or a class (a class booking with its city; an analyte only
/// for analyzers), end > start (errc::bad_field on "end"), and at most `max_length` long.
result<void> validate(const reservation& r,
                      std::chrono::milliseconds max_length = max_reservation_length);

/// The approved named booking of `device_id` whose window covers `at`, if any (the first one in
/// `all`: the server keeps approved windows of one device from overlapping).
const reservation* active_reservation(std::span<const reservation> all, std::string_view device_id,
                                      clock_ms at) noexcept;

// ---------------------------------------------------------------------------------------------
// Offline enforcement at the gateway

/// True when `r` is approved and needs its unit at `now`: start < now + lead and now < end.
bool needs_unit(const reservation& r, clock_ms now,
                std::chrono::milliseconds lead = default_booking_lead) noexcept;

/// A unit of the city that could go out now (registered, here, and ready by readiness.hpp):
/// what the last-free-unit rule counts.
struct ready_unit {
    std::string device_id;
    device_class cls = device_class::body_camera;
    std::optional<eqm::analyte> analyte;
    bool operator==(const ready_unit&) const = default;
};

/// The check-out being decided: which unit, of what kind, in which city, by whom.
struct checkout_subject {
    std::string_view device_id;
    device_class cls = device_class::body_camera;
    std::optional<eqm::analyte> analyte;
    std::string_view city;
    std::string_view person_id;  ///< empty when nobody is known (an unknown badge)
};

/// What a permitted check-out means for the bookings: the one it fulfils, if any (its id goes
/// into the custody record's `reservation_id`).
struct checkout_claim {
    std::optional<std::string> reservation_id;
    bool operator==(const checkout_claim&) const = default;
};

/// May this person take this unit now, as far as bookings go, and which booking does it
/// fulfil? `bookings` are the city's reservations (any status; only approved ones count).
/// `ready_units` are the city's units ready to go out now, this one included; without them
/// (std::nullopt) class bookings are not enforced, only matched.
///
/// Order: an approved named booking of this device that needs it now: the person's own is
/// fulfilled (the earliest, if several), anyone else's refuses (reserved_for_other). Then class
/// bookings: the person's own approved, unbound class booking of this city that this unit can
/// serve (same class; the analyte, when the booking names one) and that needs a unit now is
/// fulfilled (the earliest); and the check-out is refused (reserved_for_other) when the ready
/// units of this class and analyte left after it, not counting units held for a named booking
/// now, are fewer than the other such class bookings that need one now. A check-out fulfilling a
/// named booking takes no unit from the class pool and is never refused for class bookings.
result<checkout_claim> claim_for_checkout(const checkout_subject& subject,
                                          std::span<const reservation> bookings,
                                          std::optional<std::span<const ready_unit>> ready_units,
                                          clock_ms now,
                                          std::chrono::milliseconds lead = default_booking_lead);

}  // namespace eqm
