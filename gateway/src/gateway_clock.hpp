#pragma once
/// The gateway's two time sources, passed into the core and everything it owns:
/// - `now`, the wall clock (UTC ms) for every timestamp and every rule of libs/domain;
/// - `ticks`, a monotonic clock for timers (flush, sweep, prune, batching, retransmits), which
///   never jumps when NTP sets the wall clock.
/// The program uses the system's clocks; tests pass controllable ones (tests/support
/// eqm/test/manual_clock.hpp) to drive time without waiting for it.
#include <chrono>
#include <functional>

#include "eqm/runtime/clock.hpp"

namespace eqm::gateway {

using steady_time = std::chrono::steady_clock::time_point;

/// A source of monotonic time.
using ticks_fn = std::function<steady_time()>;

struct gateway_clock {
    clock_fn now = system_now;
    ticks_fn ticks = [] { return std::chrono::steady_clock::now(); };
};

}  // namespace eqm::gateway
