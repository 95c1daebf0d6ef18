#pragma once
/// Bookings as the server decides them (it is their single writer): the booking itself, who may
/// move it from one status to the next and when, and the refusal every rule gives. Requests are
/// read and checked in booking_request.hpp, windows and capacity in booking_capacity.hpp, the
/// calendar feed in icalendar.hpp; docs/reservations.md tells the whole story.
///
// clang-format off
/// | from                | action    | to        | who                                        | when                            |
/// | ------------------- | --------- | --------- | ------------------------------------------ | ------------------------------- |
/// | (request)           | -         | requested | officer (or anyone who may book)           | the class rule needs approval   |
/// | (request)           | -         | approved  |                                            | it does not                     |
/// | requested           | approve   | approved  | dispatcher, admin, the city's custodian    | before the end                  |
/// | requested           | decline   | declined  | dispatcher, admin, the city's custodian    | a reason is required            |
/// | requested, approved | cancel    | cancelled | its officer, dispatcher, admin, custodian  | reason optional                 |
/// | approved            | check_out | active    | system: a custody record names it          | before the end                  |
/// | no_show             | check_out | active    | system                                     | picked up before start + 30 min |
/// |                     |           |           |                                            | (an offline gateway's record)   |
/// | active, overdue     | check_in  | completed | system: the unit came back                 |                                 |
/// | approved            | no_show   | no_show   | system (timer)                             | start + 30 min, nothing out     |
/// | requested           | lapse     | declined  | system (timer), reason "not decided ..."   | start + 30 min, undecided       |
/// | active              | overdue   | overdue   | system (timer), raises an alert            | at the end, still out           |
// clang-format on
///
/// Every other pair is refused (errc::invalid_transition, rule `transition`). Requested,
/// approved, active and overdue bookings hold their window (reservation.hpp, holds_window).
#include <chrono>
#include <cstddef>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm {

/// An approved booking nobody picked up is released this long after its start.
inline constexpr std::chrono::milliseconds no_show_after = std::chrono::minutes{30};
/// A request may start this long before `now` ("from now" arrives a little late); earlier is
/// "in the past".
inline constexpr std::chrono::milliseconds booking_start_grace = std::chrono::minutes{5};
inline constexpr std::size_t max_purpose_chars = 512;
inline constexpr std::size_t max_case_no_chars = 64;
inline constexpr std::size_t max_booking_reason_chars = 256;

/// One booking, as the server stores and serves it.
struct booking {
    std::string id;
    std::string person_id;  ///< whose booking it is
    std::string city;
    std::optional<std::string> device_id;          ///< set: a named-device booking
    device_class cls = device_class::body_camera;  ///< the class (of the named device, too)
    std::optional<eqm::analyte> analyte;           ///< analyzers
    clock_ms start{};
    clock_ms end{};
    std::string purpose;
    std::optional<std::string> case_no;
    reservation_status status = reservation_status::requested;
    /// The unit checked out for it: the named device, or the unit a class booking was bound to.
    std::optional<std::string> unit_id;
    std::optional<std::string> reason;      ///< why it was declined (or cancelled)
    std::optional<std::string> decided_by;  ///< who approved or declined it
    clock_ms created_at{};
    clock_ms updated_at{};
    std::optional<clock_ms> picked_up_at;
    std::optional<clock_ms> returned_at;

    bool by_class() const noexcept { return !device_id.has_value(); }
    /// The device whose time this booking holds: the named device, else the bound unit.
    const std::optional<std::string>& held_device() const noexcept {
        return device_id ? device_id : unit_id;
    }
    bool operator==(const booking&) const = default;
};

/// The wire record for the gateway of the booking's city (`reservation_upsert`).
reservation_record to_record(const booking& b);

/// The REST form: `{id, status, person_id, city, class, analyte?, device_id?, start, end,
/// purpose, case_no?, unit_id?, reason?, decided_by?, created_at, updated_at, picked_up_at?,
/// returned_at?}`, times RFC 3339 UTC with milliseconds.
nlohmann::json to_json(const booking& b);

/// The rule a refusal comes from; its wire name is the problem body's `rule`.
enum class booking_rule {
    body,                ///< a field missing, of the wrong type, malformed, or unknown
    target,              ///< not exactly one of device_id and class
    class_not_bookable,  ///< docks are not booked
    analyte,             ///< analyzers by class need an analyte; nothing else has one
    city_unknown,        ///< not one of the region's city codes
    device_unknown,      ///< no such device in the registry
    device_city,         ///< the device is kept in another city
    device_in_transit,   ///< the device is moving between cities
    device_unavailable,  ///< the device is lost or retired
    officer_city,        ///< an officer (or custodian) books outside their own city
    window_order,        ///< end not after start
    past,                ///< start more than 5 minutes before now
    min_notice,          ///< start sooner than the class's minimum notice
    max_length,          ///< longer than the class allows
    working_hours,       ///< start or end outside the counter's working hours
    max_open,            ///< the person already holds the most open bookings allowed
    device_conflict,     ///< the device is booked (buffer included) in the window
    class_capacity,      ///< the city would promise more units than it has
    transition,          ///< the booking's status does not allow the action
    role,                ///< the person may not do this to this booking
    reason,              ///< decline without a reason, or a reason too long
    timing,              ///< too early (no_show, lapse, overdue) or too late (approve, check-out)
    unit,                ///< check-out of a unit other than the named device
};
std::string_view to_string(booking_rule r) noexcept;

/// One booking a request clashes with (problem body `conflicts`).
struct booking_conflict {
    std::string id;
    clock_ms start{};
    clock_ms end{};
    bool operator==(const booking_conflict&) const = default;
};

/// A free window offered instead (problem body `alternatives`); device_id for a named device.
struct booking_window {
    clock_ms start{};
    clock_ms end{};
    std::optional<std::string> device_id;
    bool operator==(const booking_window&) const = default;
};

/// A refusal: the error (its code gives the HTTP status through the one errc table: bad_field
/// 400, forbidden 403, conflict and invalid_transition 409), the rule, and for a window clash
/// what it clashes with and the nearest free windows of the same length.
struct booking_refusal {
    error err;
    booking_rule rule = booking_rule::body;
    std::vector<booking_conflict> conflicts;
    std::vector<booking_window> alternatives;
    /// The extra members of the problem body: `{rule}`, plus `conflicts: [{id, start, end}]`
    /// and `alternatives: [{start, end, device_id?}]` for device_conflict and class_capacity.
    nlohmann::json problem_extra() const;
};

template <class T>
using booking_result = std::expected<T, booking_refusal>;

/// Shorthand: `return refuse(errc::bad_field, "end", booking_rule::max_length, "...");`.
std::unexpected<booking_refusal> refuse(errc code, std::string field, booking_rule rule,
                                        std::string message);

enum class booking_action {
    approve,
    decline,
    cancel,
    check_out,
    check_in,
    no_show,
    lapse,
    overdue
};
std::string_view to_string(booking_action a) noexcept;

/// A person acting on a booking over REST.
struct booking_actor {
    std::string person_id;
    person_role role = person_role::officer;
    std::optional<std::string> city;
};

struct booking_command {
    booking_action action = booking_action::approve;
    /// Who asks: required for approve, decline and cancel; absent for the system's actions
    /// (timers, custody records), which nobody may ask for over REST.
    std::optional<booking_actor> actor;
    std::optional<std::string> reason;   ///< decline (required), cancel (optional)
    std::optional<std::string> unit_id;  ///< check_out: the unit picked up
    /// check_out / check_in: when it happened (the custody record's ts); `now` when absent.
    std::optional<clock_ms> at;
};

/// The state machine (table at the top). Pure: returns the booking after the action, with
/// updated_at = now; the caller stores it and pushes to_record() to the city's gateway.
booking_result<booking> apply(const booking& b, const booking_command& cmd, clock_ms now);

/// The action a timer owes this booking at `now` (no_show, lapse or overdue), if any.
std::optional<booking_action> due_action(const booking& b, clock_ms now) noexcept;
/// When due_action() will next return something for this booking as it is (for a timer).
std::optional<clock_ms> next_due_time(const booking& b) noexcept;

}  // namespace eqm
