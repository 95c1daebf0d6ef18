// The gateway's core in this process, on a real SQLite file, driven by controllable clocks
// (tests/support manual_clock): what depends on time is tested without waiting for it and
// without depending on the machine's uptime.
#include <catch2/catch.hpp>
#include <thread>

#include "core_harness.hpp"

using namespace eqm::gwtest;
using namespace std::chrono_literals;

TEST_CASE(
    "the first retention prune and alert sweep run when the gateway starts, even a second "
    "after the machine booted",
    "[timers]") {
    core_fixture f;
    f.config.telemetry_retention_days = 1;
    const auto now = f.wall.now();
    f.create_schema();
    f.exec(
        "INSERT INTO telemetry_minute(device_id, minute_ms, count, battery_pct_min, "
        "battery_pct_last, storage_free_mb_last, temp_c_max) VALUES('tm-old', " +
        std::to_string(ms(now - 48h)) + ", 3, 50, 51, 100, 30), ('tm-recent', " +
        std::to_string(ms(now - 1h)) + ", 3, 50, 51, 100, 30)");
    f.exec(
        "INSERT INTO devices(id, registered, class, model, city) VALUES('bc-late', 1, "
        "'body_camera', 'M-1', '450100')");
    f.exec(
        "INSERT INTO custody(device_id, state, holder, due_ms) VALUES('bc-late', "
        "'checked_out', 'p-1', " +
        std::to_string(ms(now - 2h)) + ")");

    f.start();  // the monotonic clock says the machine booted one second ago
    REQUIRE(eqm::test::wait_until(
        [&] {
            return f.count("SELECT COUNT(*) FROM telemetry_minute WHERE device_id = 'tm-old'") == 0;
        },
        5s));
    CHECK(f.count("SELECT COUNT(*) FROM telemetry_minute WHERE device_id = 'tm-recent'") == 1);
    CHECK(eqm::test::wait_until(
        [&] {
            return f.count(
                       "SELECT COUNT(*) FROM alerts WHERE type = 'overdue_return' AND "
                       "device_id = 'bc-late'") == 1;
        },
        5s));

    // The next prune comes one interval (an hour) after the first, by the monotonic clock.
    f.exec(
        "INSERT INTO telemetry_minute(device_id, minute_ms, count, battery_pct_min, "
        "battery_pct_last, storage_free_mb_last, temp_c_max) VALUES('tm-old-2', " +
        std::to_string(ms(now - 48h)) + ", 3, 50, 51, 100, 30)");
    f.ticks.advance(59min);
    std::this_thread::sleep_for(600ms);
    CHECK(f.count("SELECT COUNT(*) FROM telemetry_minute WHERE device_id = 'tm-old-2'") == 1);
    f.ticks.advance(1min);
    CHECK(eqm::test::wait_until(
        [&] {
            return f.count("SELECT COUNT(*) FROM telemetry_minute WHERE device_id = 'tm-old-2'") ==
                   0;
        },
        5s));
}
