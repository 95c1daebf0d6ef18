// The gateway's core in this process, on a real SQLite file, driven by controllable clocks
// (tests/support manual_clock): what depends on time is tested without waiting for it and
// without depending on the machine's uptime.
#include <catch2/catch.hpp>
#include <thread>

#include "core_harness.hpp"
#include "eqm/http/server.hpp"
#include "gateway_harness.hpp"
#include "http_api.hpp"

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

TEST_CASE("a broker link going up is never refused, even when the queue is full", "[queue]") {
    namespace gw = eqm::gateway;
    core_fixture f;
    f.config.queue.max_items = 16;
    f.open();  // the loop does not run yet: nothing drains the queue
    bool full = false;
    for (int i = 0; i < 1000 && !full; ++i)
        full = !f.core->on_message(gw::broker::local,
                                   "eqm/v1/dev/d-" + std::to_string(i) + "/telemetry",
                                   R"({"ts":"2026-11-26T08:30:00.000Z","seq":1,"battery_pct":50,)"
                                   R"("storage_free_mb":1,"temp_c":20})");
    REQUIRE(full);
    f.core->on_connection(gw::broker::central, true);
    f.core->on_connection(gw::broker::local, true);
    f.run_loop();
    std::atomic<bool> central{false}, local{false};
    CHECK(eqm::test::wait_until(
        [&] {
            f.core->post([&](gw::gateway_core& c, gw::unit_of_work&) {
                central = c.metrics().central_connected;
                local = c.metrics().local_connected;
            });
            return central && local;
        },
        5s, 50ms));
}

TEST_CASE("an HTTP request the core cannot take now is answered 503 with Retry-After at once",
          "[queue]") {
    namespace gw = eqm::gateway;
    core_fixture f;
    f.config.queue.max_items = 16;  // 16 tasks may wait
    f.open();                       // nothing drains the queue
    std::atomic<const eqm::http::server*> server_ref{nullptr};
    gw::login_desk logins;
    gw::api_context api{*f.core, server_ref, {}, logins};
    eqm::http::server_options o;
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    o.handler_timeout = 3s;
    o.log = [](std::string_view) {};
    eqm::http::server server(o, gw::make_routes(api));
    REQUIRE(server.start());

    std::vector<std::thread> waiting;
    std::atomic<int> timed_out{0};
    for (int i = 0; i < 16; ++i)
        waiting.emplace_back([&] {
            if (http_call(server.port(), "GET", "/healthz").status == 504) ++timed_out;
        });
    std::this_thread::sleep_for(500ms);  // all sixteen are in the queue now
    const auto started = std::chrono::steady_clock::now();
    const auto busy = http_call(server.port(), "GET", "/healthz");
    CHECK(std::chrono::steady_clock::now() - started < 2s);  // not after a timeout
    CHECK(busy.status == 503);
    CHECK(busy.as_json()["type"] == "urn:eqm:problem:unavailable");
    CHECK(busy.head.find("Retry-After: 1") != std::string::npos);
    for (auto& t : waiting) t.join();
    CHECK(timed_out == 16);
    server.stop();
}

TEST_CASE("a login token expires after --token-ttl by the gateway's clock", "[auth]") {
    namespace gw = eqm::gateway;
    core_fixture f;
    f.config.token_ttl = 12h;
    f.create_schema();
    f.exec(
        "INSERT INTO people(id, name, role, city, active, password_hash) VALUES('u-1', "
        "'cust', 'custodian', '450100', 1, '" +
        password_hash("pw-1") + "')");
    f.start();
    std::atomic<const eqm::http::server*> server_ref{nullptr};
    gw::login_desk logins;
    gw::api_context api{*f.core, server_ref, {}, logins};
    eqm::http::server_options o;
    o.listen = "127.0.0.1:0";
    o.log = [](std::string_view) {};
    eqm::http::server server(o, gw::make_routes(api));
    REQUIRE(server.start());

    const auto grant = http_call(server.port(), "POST", "/api/v1/auth/login",
                                 R"({"name":"cust","password":"pw-1"})");
    REQUIRE(grant.status == 200);
    CHECK(grant.as_json()["expires_at"] == eqm::format_timestamp(f.wall.now() + 12h));
    const header_fields auth{
        {"Authorization", "Bearer " + grant.as_json()["token"].get<std::string>()}};
    CHECK(http_call(server.port(), "GET", "/api/v1/alerts", "", auth).status == 200);
    f.wall.advance(12h - 1s);
    CHECK(http_call(server.port(), "GET", "/api/v1/alerts", "", auth).status == 200);
    f.wall.advance(1s);
    CHECK(http_call(server.port(), "GET", "/api/v1/alerts", "", auth).status == 401);
    server.stop();
}

TEST_CASE(
    "a device's birth and a server command are still taken when dock events fill their "
    "lane",
    "[queue]") {
    namespace gw = eqm::gateway;
    core_fixture f;
    f.config.queue.max_items = 64;  // 32 events may wait
    f.open();                       // nothing drains the queue
    bool full = false;
    for (int i = 0; i < 1000 && !full; ++i)
        full = !f.core->on_message(gw::broker::local, "eqm/v1/dock/dock-1/event",
                                   R"({"event_id":"e-)" + std::to_string(i) + R"("})");
    REQUIRE(full);
    CHECK(f.core->on_message(gw::broker::local, "eqm/v1/dev/bc-1/state",
                             R"({"ts":"2026-11-26T08:30:00.000Z","online":true,"bd_seq":3,)"
                             R"("class":"body_camera","model":"M-1","fw":"1.0"})"));
    CHECK(
        f.core->on_message(gw::broker::central, "eqm/v1/city/450100/srv/cmd",
                           R"({"cmd_id":"c-1","type":"reservation_cancel","reservation_id":"r"})"));
}
