#pragma once
/// The one logger of every eqm program: one line per event on stderr,
///     2026-11-26T08:30:00.000Z INFO custody checkout device=bc-0001 badge=b-7 result=ok
/// that is, time (UTC), level, component, then the message as `key=value` fields after a short
/// verb. Values that may hold spaces or quotes go through log_value(). The line is written with
/// a single write(2), so lines from different threads never interleave.
#include <atomic>
#include <optional>
#include <string>
#include <string_view>

namespace eqm {

enum class log_level { debug, info, warn, error };

std::string_view to_string(log_level level) noexcept;
std::optional<log_level> parse_log_level(std::string_view text) noexcept;

/// Lines below this level are not written. Default: info.
void set_log_level(log_level level) noexcept;
bool log_enabled(log_level level) noexcept;

/// Writes "<now> <LEVEL> <component> <message>\n" to stderr when the level is enabled.
void log_line(log_level level, std::string_view component, std::string_view message);

inline void log_debug(std::string_view component, std::string_view message) {
    log_line(log_level::debug, component, message);
}
inline void log_info(std::string_view component, std::string_view message) {
    log_line(log_level::info, component, message);
}
inline void log_warn(std::string_view component, std::string_view message) {
    log_line(log_level::warn, component, message);
}
inline void log_error(std::string_view component, std::string_view message) {
    log_line(log_level::error, component, message);
}

/// A log sink for libraries that take a `std::function<void(std::string_view)>` (libs/mqtt,
/// libs/http): each line they report is written at `level` under `component`.
inline auto log_sink(log_level level, std::string_view component) {
    return [level, component](std::string_view line) { log_line(level, component, line); };
}

/// A value for a `key=value` log field: quoted (with \" and \\ escaped, control characters
/// dropped) when it is empty or holds a space, quote or '='; cut at 200 characters.
std::string log_value(std::string_view v);

}  // namespace eqm
