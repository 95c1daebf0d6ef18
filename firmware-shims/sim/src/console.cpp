#include "console.hpp"

#include <unistd.h>

namespace eqm::sim {
namespace {

/// ANSI: carriage return, then erase the line.
constexpr std::string_view clear_line = "\r\x1b[K";

void write_stderr(std::string_view text) {
    while (!text.empty()) {
        const auto n = ::write(STDERR_FILENO, text.data(), text.size());
        if (n <= 0) return;  // nowhere to report a failing stderr
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace

void console::log(log_level level, std::string_view component, std::string_view line) {
    std::lock_guard lock(mutex_);
    if (in_place_ && shown_) {
        write_stderr(clear_line);
        shown_ = false;
    }
    log_line(level, component, line);
}

void console::status(const std::string& fields, bool final_line) {
    std::lock_guard lock(mutex_);
    if (!in_place_) {
        log_line(log_level::info, "sim", "status " + fields);
        return;
    }
    write_stderr(std::string(clear_line) + "eqm-sim " + fields + (final_line ? "\n" : ""));
    shown_ = !final_line;
}

}  // namespace eqm::sim
