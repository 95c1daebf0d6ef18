#pragma once
/// A booking request, `POST /api/v1/reservations` `{device_id?, class?, analyte?, city, start,
/// end, purpose, case_no?}`: reading the body, checking it against the rules and the facts the
/// server passes in, and (admit_booking) the whole decision including conflicts and capacity.
///
/// Refusals, in the order they are checked (field, errc, rule):
// clang-format off
/// | check                                             | field              | errc        | rule               |
/// | ------------------------------------------------- | ------------------ | ----------- | ------------------ |
/// | malformed or unknown member, bad time, bad text   | the member         | bad_field / | body               |
/// |                                                   |                    | unknown_f.  |                    |
/// | not exactly one of device_id and class            | device_id / class  | bad_field   | target             |
/// | analyte with a device, or on a class not analyzer | analyte            | bad_field   | analyte            |
/// | class dock (or a dock named by device_id)         | class / device_id  | bad_field   | class_not_bookable |
/// | analyzers by class without an analyte             | analyte            | bad_field   | analyte            |
/// | city not one of the region's                      | city               | bad_field   | city_unknown       |
/// | officer or custodian outside their home city      | city               | bad_field   | officer_city       |
/// | device not in the registry                        | device_id          | bad_field   | device_unknown     |
/// | device kept in another city                       | city               | bad_field   | device_city        |
/// | device in transit                                 | device_id          | conflict    | device_in_transit  |
/// | device lost or retired                            | device_id          | conflict    | device_unavailable |
/// | end not after start                               | end                | bad_field   | window_order       |
/// | start more than 5 minutes before now              | start              | bad_field   | past               |
/// | start sooner than the minimum notice              | start              | bad_field   | min_notice         |
/// | longer than the maximum length                    | end                | bad_field   | max_length         |
/// | start, then end, outside the working hours        | start / end        | bad_field   | working_hours      |
/// | the person holds the most open bookings allowed   | device_id / class  | conflict    | max_open           |
/// | the device is booked in the window (buffer incl.) | device_id          | conflict    | device_conflict    |
/// | the city would promise more units than it has     | class / device_id  | conflict    | class_capacity     |
// clang-format on
///
/// Dispatchers and admins book in any city; officers and custodians with a home city only in it.
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "eqm/domain/booking.hpp"
#include "eqm/domain/custody.hpp"
#include "eqm/domain/reservation_rules.hpp"

namespace eqm {

/// The body of `POST /api/v1/reservations`, read.
struct booking_request {
    std::optional<std::string> device_id;
    std::optional<device_class> cls;  ///< JSON `class`
    std::optional<eqm::analyte> analyte;
    std::string city;
    clock_ms start{};
    clock_ms end{};
    std::string purpose;                 ///< 1..512 characters
    std::optional<std::string> case_no;  ///< 1..64 characters
    bool operator==(const booking_request&) const = default;
};

/// Reads the body: members and their forms (times in any RFC 3339 form with an offset, city six
/// digits, purpose 1..512 characters, case_no 1..64, no control characters in either), exactly
/// one of device_id and class, an analyte only with class analyzer. Rules `body`, `target`,
/// `analyte` of the table above.
booking_result<booking_request> parse_booking_request(const nlohmann::json& body);

/// What the registry knows of a device.
struct device_facts {
    std::string id;
    device_class cls = device_class::body_camera;
    std::optional<eqm::analyte> analyte;
    std::string city;
    custody_state state = custody_state::available;
    bool operator==(const device_facts&) const = default;
};

/// Who asks.
struct booking_requester {
    std::string person_id{};
    person_role role = person_role::officer;
    std::optional<std::string> city{};  ///< home city
};

/// The facts the server passes with a request.
struct booking_facts {
    booking_requester requester{};
    /// The registry's entry for request.device_id (nothing: no such device).
    std::optional<device_facts> device{};
    /// The requester's bookings, any status (only open ones of the class count for max_open).
    std::span<const booking> requester_bookings{};
};

/// Checks a read request against the facts and the rule of its class and analyte (every row of
/// the table above but the last two) and builds the booking: no id yet, status requested when
/// the rule needs approval, else approved, created_at and updated_at = now.
booking_result<booking> validate_booking(const booking_request& request, const booking_facts& facts,
                                         const reservation_rules& rules, clock_ms now);

/// The whole decision on a request: validate_booking(), then check_availability()
/// (booking_capacity.hpp) against `city_bookings` (the bookings of the request's city, any
/// status) and `units` (the ids of the city's serviceable units of the booking's class and
/// analyte; serviceable_units() makes that list from the registry). The booking gets `id`.
/// A refusal changes nothing: the caller stores only what this returns.
booking_result<booking> admit_booking(std::string id, const booking_request& request,
                                      const booking_facts& facts, const reservation_rules& rules,
                                      std::span<const booking> city_bookings,
                                      std::span<const std::string> units, clock_ms now);

}  // namespace eqm
