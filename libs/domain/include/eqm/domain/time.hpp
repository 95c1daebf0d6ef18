#pragma once
/// Time as the contract writes it: RFC 3339 UTC with milliseconds,
/// "2026-11-26T08:30:00.000Z". Domain code never reads a clock; callers pass `now`.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"

namespace eqm {

using clock_ms = std::chrono::sys_time<std::chrono::milliseconds>;
using date = std::chrono::sys_days;

/// "2026-11-26T08:30:00.000Z". Exactly this shape is accepted: the contract's pattern is
/// ^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$ and the fields must form a real date and time.
result<clock_ms> parse_timestamp(std::string_view text, std::string_view field = "ts");
std::string format_timestamp(clock_ms t);

/// Any RFC 3339 date-time, as people and other programs write it in REST bodies:
/// "2026-11-27T09:00:00+08:00", "2026-11-27T01:00:00Z", "2026-11-27t01:00:00.5z". The offset
/// (Z or +hh:mm / -hh:mm) is required; fractions finer than a millisecond are cut off; a leap
/// second (:60) is refused (no clock here can name it). Errors name `field`.
result<clock_ms> parse_rfc3339(std::string_view text, std::string_view field = "ts");

/// "2026-11-26" (calibration due dates and other calendar days).
result<date> parse_date(std::string_view text, std::string_view field = "date");
std::string format_date(date d);

}  // namespace eqm
