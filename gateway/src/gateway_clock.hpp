#pragma once
/// The gateway's two time sources, passed into the core and everything it owns:
/// - `now`, the wall clock (UTC ms) for every timestamp and every rule of libs/domain;
/// - `ticks`, a monotonic clock for timers (flush, sweep, prune, batching, retransmits), which
///   never jumps when NTP sets the wall clock.
/// The program uses the system's clocks; tests pass controllable ones (tests/support
/// eqm/test/manual_clock.hpp) to drive time without waiting for it.
#include <chrono>
#include <functional>
#include <optional>

#include "eqm/runtime/clock.hpp"

namespace eqm::gateway {

using steady_time = std::chrono::steady_clock::time_point;

/// A source of monotonic time.
using ticks_fn = std::function<steady_time()>;

struct gateway_clock {
    clock_fn now = system_now;
    ticks_fn ticks = [] { return std::chrono::steady_clock::now(); };
};

/// A repeating job on the monotonic clock, counted from when the gateway starts: first due at
/// the first check, then every `every` after the last run. (Not from the clock's zero, which is
/// the machine's boot: that would postpone every first run until the uptime passed `every`.)
struct interval_timer {
    std::chrono::milliseconds every;
    std::optional<steady_time> next{};

    /// True when the job should run now; then the next run is due `every` later.
    bool due(steady_time now) {
        if (next && now < *next) return false;
        next = now + every;
        return true;
    }
};

}  // namespace eqm::gateway
