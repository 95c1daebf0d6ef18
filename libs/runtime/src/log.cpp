#include "eqm/runtime/log.hpp"

#include <unistd.h>

#include <chrono>

#include "eqm/domain/time.hpp"

namespace eqm {
namespace {

std::atomic<int> current_level{static_cast<int>(log_level::info)};

/// Long payload fragments in logs help nobody and can flood the disk.
constexpr std::size_t max_log_value_chars = 200;

}  // namespace

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::debug:
            return "DEBUG";
        case log_level::info:
            return "INFO";
        case log_level::warn:
            return "WARN";
        case log_level::error:
            return "ERROR";
    }
    return "INFO";
}

std::optional<log_level> parse_log_level(std::string_view text) noexcept {
    if (text == "debug") return log_level::debug;
    if (text == "info") return log_level::info;
    if (text == "warn" || text == "warning") return log_level::warn;
    if (text == "error") return log_level::error;
    return std::nullopt;
}

void set_log_level(log_level level) noexcept {
    current_level = static_cast<int>(level);
}

bool log_enabled(log_level level) noexcept {
    return static_cast<int>(level) >= current_level;
}

void log_line(log_level level, std::string_view component, std::string_view message) {
    if (!log_enabled(level)) return;
    const auto now =
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    std::string line = format_timestamp(now);
    line += ' ';
    line += to_string(level);
    line += ' ';
    line += component;
    line += ' ';
    for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
    line += '\n';
    std::size_t off = 0;
    while (off < line.size()) {
        const auto n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
        if (n <= 0) break;  // nowhere to report a failing stderr
        off += static_cast<std::size_t>(n);
    }
}

std::string log_value(std::string_view v) {
    const bool cut = v.size() > max_log_value_chars;
    if (cut) v = v.substr(0, max_log_value_chars);
    bool quote = v.empty();
    for (char c : v)
        if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) quote = true;
    std::string out;
    if (quote) out += '"';
    for (char c : v) {
        if (static_cast<unsigned char>(c) < 0x20) continue;
        if (quote && (c == '"' || c == '\\')) out += '\\';
        out += c;
    }
    if (cut) out += "...";
    if (quote) out += '"';
    return out;
}

}  // namespace eqm
