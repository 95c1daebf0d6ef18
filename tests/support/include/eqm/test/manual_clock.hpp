#pragma once
/// A clock a test moves by hand: pass `clock.fn()` where a program passes eqm::system_now,
/// then set() or advance() it. Safe to read from other threads (the gateway's core, the
/// server's ingest thread) while the test moves it.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "eqm/domain/time.hpp"

namespace eqm::test {

class manual_clock {
  public:
    /// Starts at `start` (default 2026-11-26T08:30:00.000Z, a Thursday morning in Guangxi).
    explicit manual_clock(clock_ms start = clock_ms{std::chrono::milliseconds{1'795'681'800'000}})
        : now_(std::make_shared<std::atomic<std::int64_t>>(start.time_since_epoch().count())) {}

    clock_ms now() const { return clock_ms{std::chrono::milliseconds{now_->load()}}; }
    void set(clock_ms t) { now_->store(t.time_since_epoch().count()); }
    void advance(std::chrono::milliseconds d) { now_->fetch_add(d.count()); }

    /// A clock function that follows this clock (it shares its state, so it may outlive it).
    std::function<clock_ms()> fn() const {
        return [n = now_] { return clock_ms{std::chrono::milliseconds{n->load()}}; };
    }

  private:
    std::shared_ptr<std::atomic<std::int64_t>> now_;
};

}  // namespace eqm::test
