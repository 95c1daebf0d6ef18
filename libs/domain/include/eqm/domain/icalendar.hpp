#pragma once
/// A person's bookings as an iCalendar feed (RFC 5545), for the calendar app on their phone:
/// one VCALENDAR (VERSION 2.0, PRODID, METHOD PUBLISH, a name and a 15-minute refresh hint)
/// with one VEVENT per booking: UID `<id>@<uid_domain>`, DTSTAMP (now), CREATED, LAST-MODIFIED,
/// DTSTART and DTEND in UTC, SUMMARY (class, device or analyte, purpose), LOCATION (the city),
/// STATUS (requested: TENTATIVE; approved, active, overdue, completed: CONFIRMED; declined,
/// cancelled, no-show: CANCELLED) and DESCRIPTION (booking id, status, case number, unit,
/// reason). Text values are escaped (`\` `;` `,` and line breaks), lines end in CRLF and are
/// folded at 75 octets without splitting a UTF-8 character. Words are zh-CN, as on the pages.
#include <span>
#include <string>
#include <string_view>

#include "eqm/domain/booking.hpp"
#include "eqm/domain/time.hpp"

namespace eqm {

inline constexpr std::size_t ical_line_octets = 75;

struct calendar_options {
    std::string prodid = "-//eqm//equipment bookings//ZH";
    std::string uid_domain = "eqm";     ///< UIDs are `<booking id>@<uid_domain>`
    std::string name = "执法装备预约";  ///< X-WR-CALNAME
};

/// The feed, in the order of `bookings`.
std::string icalendar_feed(std::span<const booking> bookings, clock_ms now,
                           const calendar_options& options = {});

/// A TEXT value escaped (RFC 5545 3.3.11): `\` `;` `,` escaped, CR LF / LF / CR as `\n`, other
/// control characters dropped, ill-formed UTF-8 replaced by U+FFFD.
std::string ical_text(std::string_view value);

/// One content line folded (RFC 5545 3.1) and ended with CRLF.
std::string ical_line(std::string_view content);

/// "20261127T010000Z".
std::string ical_utc(clock_ms t);

}  // namespace eqm
