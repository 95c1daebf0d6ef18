#pragma once
/// Where a program's time comes from. Rules in libs/domain take `now` as an argument; the
/// adapters that call them hold a clock_fn, which is system_now() in a program and a
/// controllable clock in tests (tests/support, eqm/test/manual_clock.hpp).
#include <functional>

#include "eqm/domain/time.hpp"

namespace eqm {

/// A source of the current time (UTC, milliseconds).
using clock_fn = std::function<clock_ms()>;

/// The wall clock, in milliseconds.
clock_ms system_now();

}  // namespace eqm
