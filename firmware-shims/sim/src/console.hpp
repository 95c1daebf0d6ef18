#pragma once
/// eqm-sim's stderr: log lines through the one logger (eqm/runtime/log.hpp), and the progress
/// status line, redrawn in place on a terminal and logged as a line every few seconds otherwise.
#include <mutex>
#include <string>
#include <string_view>

#include "eqm/runtime/log.hpp"

namespace eqm::sim {

class console {
  public:
    /// `in_place`: stderr is a terminal, so the status line is redrawn in place.
    explicit console(bool in_place) : in_place_(in_place) {}

    /// Writes one log line. On a terminal the status line is cleared first; the next status()
    /// draws it again below the log line.
    void log(log_level level, std::string_view component, std::string_view line);
    /// Shows the progress line `fields` (`key=value ...`): in place on a terminal (`final_line`
    /// ends it with a newline), else as an INFO line of component `sim`, verb `status`.
    void status(const std::string& fields, bool final_line);
    /// True when the status line is redrawn in place.
    bool in_place() const noexcept { return in_place_; }

  private:
    std::mutex mutex_;
    bool in_place_;
    bool shown_ = false;  ///< a status line is on the terminal's last row
};

}  // namespace eqm::sim
