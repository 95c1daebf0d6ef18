#pragma once
/// The gateway's core (gateway/src) in the test's own process, on a real SQLite file in a temp
/// dir, with controllable clocks: `wall` (the wall clock every rule reads) and `ticks` (the
/// monotonic clock its timers read, which starts one second after "boot" so nothing can depend
/// on the machine's real uptime). The core's loop runs on a thread from start() until the
/// fixture is destroyed.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "eqm/test/manual_clock.hpp"
#include "eqm/test/support.hpp"
#include "gateway_core.hpp"

namespace eqm::gwtest {

/// Milliseconds since the epoch, as the ledger stores times.
inline std::int64_t ms(clock_ms t) {
    return t.time_since_epoch().count();
}

struct core_fixture {
    core_fixture();
    ~core_fixture();
    core_fixture(const core_fixture&) = delete;
    core_fixture& operator=(const core_fixture&) = delete;

    /// Opens the ledger once and closes it, so tests can write rows before the core starts.
    void create_schema();
    /// Opens the core with `config` and the two clocks and runs its loop on a thread.
    void start();
    /// The two halves of start(): open the core (nothing runs yet), then run its loop.
    void open();
    void run_loop();
    /// Stops the loop and closes the core.
    void stop();

    /// Runs SQL on the ledger through a second connection.
    void exec(const std::string& sql);
    /// The first column of the first row of `sql` as an integer.
    std::int64_t count(const std::string& sql);

    test::temp_dir dir{"eqm-gw-core"};
    gateway::gateway_config config;
    test::manual_clock wall;
    /// Monotonic time since "boot", in the manual clock's representation.
    test::manual_clock ticks{clock_ms{std::chrono::seconds{1}}};
    std::unique_ptr<gateway::gateway_core> core;

  private:
    std::thread loop_;
};

}  // namespace eqm::gwtest
