#pragma once
/// The reservation rules: one row per class (or per analyte of analyzers), edited by an admin
/// with `GET|PUT /api/v1/reservation-rules`. A booking is checked against the row of its class
/// and analyte (booking_request.hpp); classes without a row follow the defaults.
///
/// | field              | JSON                         | default                                |
/// | ------------------ | ---------------------------- | -------------------------------------- |
/// | min_notice         | `min_notice_minutes`         | 0 (no minimum notice)                  |
/// | max_length         | `max_length_minutes`         | 20160 (14 days)                        |
/// | buffer             | `buffer_minutes`             | 30, after each booking, for recharging |
/// | hours              | `working_hours`              | null: any time                         |
/// | approval_required  | `approval_required`          | true for drones only                   |
/// | max_open           | `max_open_bookings`          | null: no limit                         |
///
/// Working hours are the times the counter is staffed, local time in Asia/Shanghai: a booking
/// must start and end inside them (pick-up and return happen at the counter). Asia/Shanghai
/// is UTC+8 all year (China has not used daylight saving time since 1991), so a fixed offset
/// gives the exact local time of every instant a booking can have; no time zone database is
/// needed.
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm {

/// Asia/Shanghai's offset from UTC, the same on every day of the year.
inline constexpr std::chrono::minutes shanghai_utc_offset{8 * 60};

// Bounds of the editable numbers (a rule outside them is refused, naming the field).
inline constexpr std::chrono::minutes max_rule_min_notice = std::chrono::days{30};
inline constexpr std::chrono::minutes max_rule_length = std::chrono::days{90};
inline constexpr std::chrono::minutes max_rule_buffer = std::chrono::hours{24};
inline constexpr std::uint32_t max_rule_open_bookings = 1000;
inline constexpr std::size_t max_rule_items = 64;

/// When a city's counter is staffed, local time (Asia/Shanghai).
struct working_hours {
    std::chrono::minutes open{8 * 60 + 30};    ///< time of day it opens, 00:00..23:59
    std::chrono::minutes close{17 * 60 + 30};  ///< time of day it closes, after open
    /// Bit i set: ISO weekday i + 1 is a working day (bit 0 Monday ... bit 6 Sunday).
    std::uint8_t days = 0b001'1111;
    bool operator==(const working_hours&) const = default;
};

/// True when `t` falls on a working day between open and close inclusive (local time).
bool within(const working_hours& hours, clock_ms t) noexcept;
/// The earliest instant at or after `t` within the hours; nothing when no day is a working day.
std::optional<clock_ms> next_within(const working_hours& hours, clock_ms t) noexcept;
/// The latest instant at or before `t` within the hours; nothing when no day is a working day.
std::optional<clock_ms> prev_within(const working_hours& hours, clock_ms t) noexcept;
/// "08:30-17:30 Mon-Fri" style text for messages ("08:30-17:30 on mon, tue, wed, thu, fri").
std::string describe(const working_hours& hours);

/// The rule of one class, or of one analyte of analyzers.
struct reservation_rule {
    device_class cls = device_class::body_camera;
    std::optional<eqm::analyte> analyte;  ///< set: this analyte only (analyzers)
    std::chrono::minutes min_notice{0};
    std::chrono::minutes max_length = std::chrono::days{14};
    std::chrono::minutes buffer{30};  ///< after each booking's end, before the unit's next one
    std::optional<working_hours> hours;
    bool approval_required = false;
    std::optional<std::uint32_t> max_open;  ///< open bookings one person may hold of this class
    bool operator==(const reservation_rule&) const = default;
};

/// True for the classes a person may book (every class but docks).
bool is_bookable(device_class c) noexcept;

/// The rule a class follows without a row of its own (drones need approval).
reservation_rule default_rule(device_class c, std::optional<eqm::analyte> a = std::nullopt);

/// The whole table. Rows are unique by (class, analyte).
struct reservation_rules {
    std::vector<reservation_rule> items;
    /// The row of exactly this class and analyte, else the row of the class, else the default.
    reservation_rule rule_for(device_class c, std::optional<eqm::analyte> a = std::nullopt) const;
    bool operator==(const reservation_rules&) const = default;
};

/// One row per bookable class with the defaults: what a fresh server serves.
reservation_rules default_reservation_rules();

/// `{items: [rule, ...]}`, rows sorted by class and analyte.
nlohmann::json to_json(const reservation_rules& rules);
/// `{class, analyte?, min_notice_minutes, max_length_minutes, buffer_minutes, working_hours,
/// approval_required, max_open_bookings}`; working_hours is `{open: "08:30", close: "17:30",
/// days: ["mon", ...]}` or null, max_open_bookings an integer or null.
nlohmann::json to_json(const reservation_rule& rule);

/// Reads a `PUT /api/v1/reservation-rules` body (the whole table). In a row only `class` is
/// required; a missing field takes the class default. Refused (errc::bad_field, or
/// unknown_field, naming the path, e.g. `items[2].buffer_minutes`): numbers out of their bounds,
/// an analyte on a class other than analyzer, a dock row, two rows of one class and analyte,
/// working hours that do not open before they close or have no day.
result<reservation_rules> parse_reservation_rules(const nlohmann::json& body);
result<reservation_rule> from_json_reservation_rule(const nlohmann::json& j,
                                                    std::string_view path = "");

}  // namespace eqm
