#pragma once
/// Polling helper: integration tests wait for an observable effect instead of sleeping a
/// fixed time, which is both faster on a quiet machine and steadier on a busy one.
#include <chrono>
#include <functional>
#include <thread>

namespace eqm::test {

/// Polling interval used when none is given.
inline constexpr std::chrono::milliseconds default_poll_interval{10};

/// Calls `predicate` until it returns true or `timeout` passes; true when it did.
/// The predicate is evaluated one last time at the deadline, so a slow machine that
/// reaches the condition exactly then still passes.
inline bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds poll = default_poll_interval) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate()) return true;
        std::this_thread::sleep_for(poll);
    }
    return predicate();
}

}  // namespace eqm::test
