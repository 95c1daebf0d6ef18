// End to end with the real eqm-gateway: a dock check-out in city 450100 reaches the server's
// REST API and WebSocket feed within 1 s.
#include <catch2/catch.hpp>
#include <sstream>

#include "eqm/store/database.hpp"
#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

TEST_CASE("a dock check-out in 450100 shows in GET /devices/{id} and on the WebSocket within 1 s",
          "[server][e2e]") {
    region_fixture region;
    region.register_device("cam-e2e", "body_camera", "450100");
    test::mosquitto_broker city_broker;
    test::temp_dir gw_dir("eqm-e2e-gw");
    test::process_options o;
    o.argv = {EQM_GATEWAY_BIN,
              "--city",
              "450100",
              "--local-mqtt",
              city_broker.uri(),
              "--central-mqtt",
              region.broker.uri(),
              "--db",
              (gw_dir.path() / "gw.db").string(),
              "--listen",
              "127.0.0.1:0"};
    o.stdout_path = gw_dir.path() / "gateway.log";
    test::child_process gateway(o);
    auto admin = region.as("admin");
    const bool online = test::wait_until(
        [&] { return admin.get("/api/v1/cities").body["items"][0]["online"] == true; }, 10s);
    INFO(test::read_file(gw_dir.path() / "gateway.log"));
    REQUIRE(online);

    // The device reports a full battery, then the dock reads a badge and releases it.
    mqtt::session_options so;
    so.server_uri = city_broker.uri();
    so.client_id = "dock-e2e";
    so.log = [](std::string_view) {};
    auto dock = mqtt::session::create(so);
    REQUIRE(dock.has_value());
    (*dock)->start();
    REQUIRE((*dock)->wait_connected(quick));
    device_state birth{now_ms(),          true, 1, device_class::body_camera, std::string("DSJ-A9"),
                       std::string("1.0")};
    REQUIRE((*dock)->publish("eqm/v1/dev/cam-e2e/state", to_json_text(birth), 1, true));
    ws_listener feed(region.port(), "/api/v1/events?city=450100&token=" + region.tokens["admin"]);

    // The gateway needs the registry sync before it knows the device and badge: retry the
    // removal until the server shows the check-out (each try is a new dock event).
    bool out = false;
    std::chrono::steady_clock::duration latency{};
    for (int attempt = 0; attempt < 10 && !out; ++attempt) {
        device_telemetry t;
        t.ts = now_ms();
        t.seq = static_cast<std::uint64_t>(attempt + 1);
        t.battery_pct = 95;
        t.storage_free_mb = 20000;
        t.temp_c = 30;
        REQUIRE((*dock)->publish("eqm/v1/dev/cam-e2e/telemetry", to_json_text(t), 0, false));
        std::this_thread::sleep_for(100ms);
        dock_event e{"dock-ev-" + std::to_string(attempt),
                     now_ms(),
                     dock_event_type::slot_remove,
                     3,
                     "cam-e2e",
                     std::string("B-CUST-NN")};
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE((*dock)->publish("eqm/v1/dock/dock-e2e/event", to_json_text(e), 1, false));
        out = test::wait_until([&] { return device(admin, "cam-e2e")["status"] == "checked_out"; },
                               1s);
        latency = std::chrono::steady_clock::now() - t0;
    }
    INFO(test::read_file(gw_dir.path() / "gateway.log"));
    REQUIRE(out);
    CHECK(latency < 1s);
    CHECK(device(admin, "cam-e2e")["holder"] == "cust-nn");
    CHECK(feed.wait_for(
        [](const json& m) {
            return m.value("type", "") == "device" && m["device"]["id"] == "cam-e2e" &&
                   m["device"]["status"] == "checked_out";
        },
        1s));
    auto history = admin.get("/api/v1/devices/cam-e2e/custody");
    REQUIRE(history.body["items"].size() == 1);
    CHECK(history.body["items"][0]["verified"] == true);
}

namespace {

/// The state of the newest outbox command of `type` in the server's store ("" when none).
std::string outbox_state(const fs::path& db_path, const std::string& type) {
    auto db = store::database::open(db_path);
    if (!db) return "";
    auto st = db->prepare("SELECT state FROM outbox WHERE type = ?1 ORDER BY created_at DESC");
    if (!st || !st->bind(1, type)) return "";
    auto row = st->step();
    return row && *row ? st->column_text(0) : "";
}

}  // namespace

TEST_CASE(
    "a reservation made at the centre is enforced at the dock while the central broker is "
    "stopped",
    "[server][e2e][reservations]") {
    region_fixture region;
    region.register_device("cam-r", "body_camera", "450100");
    test::mosquitto_broker city_broker;
    test::temp_dir gw_dir("eqm-e2e-gw");
    test::process_options o;
    o.argv = {EQM_GATEWAY_BIN,
              "--city",
              "450100",
              "--local-mqtt",
              city_broker.uri(),
              "--central-mqtt",
              region.broker.uri(),
              "--db",
              (gw_dir.path() / "gw.db").string(),
              "--listen",
              "127.0.0.1:0"};
    o.stdout_path = gw_dir.path() / "gateway.log";
    test::child_process gateway(o);
    auto admin = region.as("admin");
    REQUIRE(test::wait_until(
        [&] { return admin.get("/api/v1/cities").body["items"][0]["online"] == true; }, 10s));

    // The officer books the camera from now for three hours; the gateway applies the booking.
    auto officer = region.as("off-nn");
    const auto start = now_ms();
    auto booked = officer.post("/api/v1/reservations",
                               json{{"device_id", "cam-r"},
                                    {"city", "450100"},
                                    {"start", format_timestamp(start)},
                                    {"end", format_timestamp(start + std::chrono::hours{3})},
                                    {"purpose", "夜间执法"}});
    INFO(booked.text);
    REQUIRE(booked.status == 201);
    const auto id = booked.body["id"].get<std::string>();
    REQUIRE(test::wait_until(
        [&] { return outbox_state(region.db(), "reservation_upsert") == "done"; }, 10s));

    // The centre goes away; the dock still knows.
    region.broker.stop();
    mqtt::session_options so;
    so.server_uri = city_broker.uri();
    so.client_id = "dock-resv";
    so.log = [](std::string_view) {};
    auto dock = mqtt::session::create(so);
    REQUIRE(dock.has_value());
    (*dock)->start();
    REQUIRE((*dock)->wait_connected(quick));
    device_state birth{now_ms(),          true, 1, device_class::body_camera, std::string("DSJ-A9"),
                       std::string("1.0")};
    REQUIRE((*dock)->publish("eqm/v1/dev/cam-r/state", to_json_text(birth), 1, true));
    device_telemetry t;
    t.ts = now_ms();
    t.seq = 1;
    t.battery_pct = 95;
    t.storage_free_mb = 20000;
    t.temp_c = 30;
    REQUIRE((*dock)->publish("eqm/v1/dev/cam-r/telemetry", to_json_text(t), 0, false));
    std::this_thread::sleep_for(300ms);
    const auto remove = [&](const std::string& event_id, const std::string& badge) {
        dock_event e{event_id, now_ms(), dock_event_type::slot_remove, 2, "cam-r", badge};
        REQUIRE((*dock)->publish("eqm/v1/dock/dock-r/event", to_json_text(e), 1, false));
    };
    // The gateway logs each dock decision on one line: event id and result.
    const auto logged = [&](const std::string& event_id, const std::string& result) {
        return test::wait_until(
            [&] {
                std::istringstream in(test::read_file(gw_dir.path() / "gateway.log"));
                for (std::string line; std::getline(in, line);)
                    if (line.find(event_id) != std::string::npos &&
                        line.find("result=" + result) != std::string::npos)
                        return true;
                return false;
            },
            quick);
    };
    remove("ev-other", "B-CUST-NN");
    INFO(test::read_file(gw_dir.path() / "gateway.log"));
    CHECK(logged("ev-other", "rejected:reserved_for_other"));
    remove("ev-booker", "B-OFF-NN");
    CHECK(logged("ev-booker", "ok"));

    // Back online, the check-out reaches the server naming the booking: it is active.
    region.broker.start();
    CHECK(test::wait_until(
        [&] { return officer.get("/api/v1/reservations/" + id).body["status"] == "active"; }, 20s));
}
