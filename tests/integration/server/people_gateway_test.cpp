// A badge at the dock of a real eqm-gateway follows what an admin does over REST: the cities a
// badge is allowed in decide which gateways hold it, a deactivation withdraws it from an online
// gateway at once, and a gateway that was offline loses it with the full sync of its next birth.
#include <catch2/catch.hpp>
#include <csignal>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

/// A dock and the device in its slot on the city broker, reading the gateway's acks.
class dock_station {
  public:
    explicit dock_station(const std::string& broker_uri) {
        mqtt::session_options so;
        so.server_uri = broker_uri;
        so.client_id = "dock-p";
        so.log = [](std::string_view) {};
        so.subscriptions.push_back({"eqm/v1/ack/dock-p", 1});
        auto s = mqtt::session::create(so);
        REQUIRE(s.has_value());
        session_ = std::move(*s);
        session_->on_message([this](std::string, std::string payload) {
            auto a = parse_ack(payload);
            if (!a) return;
            std::lock_guard lock(mutex_);
            for (const auto& [id, o] : a->results) results_[id] = to_string(o);
        });
        session_->start();
        REQUIRE(session_->wait_connected(quick));
        device_state birth{
            now_ms(), true, 1, device_class::body_camera, std::string("DSJ"), std::string("1.0")};
        REQUIRE(session_->publish("eqm/v1/dev/cam-p/state", to_json_text(birth), 1, true));
    }

    /// The device reports a full battery, then the dock reads `badge` and the device is taken
    /// out: the gateway's answer ("ok", "rejected:<reason>"), or "" when none came.
    std::string take_out(const std::string& badge) {
        report_battery();
        return send(
            dock_event{next_id(), now_ms(), dock_event_type::slot_remove, 1, "cam-p", badge});
    }

    /// The device goes back into the slot (a check-in).
    std::string put_back() {
        return send(dock_event{next_id(), now_ms(), dock_event_type::slot_insert, 1, "cam-p",
                               std::nullopt});
    }

  private:
    // Unique across docks of one test: the gateway answers a repeated event_id from its record.
    static std::string next_id() {
        static std::atomic<int> events{0};
        return "ev-" + std::to_string(++events);
    }

    void report_battery() {
        device_telemetry t;
        t.ts = now_ms();
        t.seq = ++telemetry_seq_;
        t.battery_pct = 95;
        t.storage_free_mb = 20000;
        t.temp_c = 30;
        REQUIRE(session_->publish("eqm/v1/dev/cam-p/telemetry", to_json_text(t), 0, false));
        std::this_thread::sleep_for(100ms);  // QoS 0 on another topic: let it arrive first
    }

    std::string send(const dock_event& e) {
        REQUIRE(session_->publish("eqm/v1/dock/dock-p/event", to_json_text(e), 1, false));
        std::string out;
        test::wait_until(
            [&] {
                std::lock_guard lock(mutex_);
                auto it = results_.find(e.event_id);
                if (it == results_.end()) return false;
                out = it->second;
                return true;
            },
            quick);
        return out;
    }

    std::unique_ptr<mqtt::session> session_;
    std::mutex mutex_;
    std::map<std::string, std::string> results_;
    std::uint64_t telemetry_seq_ = 0;
};

/// The first check-out of `badge` at a gateway that just came online: tried again (each try a
/// new dock event) until the registry sync that brings the device and the badge is in.
std::string first_take_out(dock_station& dock, const std::string& badge) {
    std::string out;
    for (int attempt = 0; attempt < 40 && out != "ok"; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(250ms);
        out = dock.take_out(badge);
    }
    return out;
}

/// eqm-gateway of 450100 on `city_broker`, linked to the region's central broker.
std::unique_ptr<test::child_process> start_gateway(region_fixture& region,
                                                   test::mosquitto_broker& city_broker,
                                                   const fs::path& dir, int run) {
    test::process_options o;
    o.argv = {EQM_GATEWAY_BIN,
              "--city",
              "450100",
              "--local-mqtt",
              city_broker.uri(),
              "--central-mqtt",
              region.broker.uri(),
              "--db",
              (dir / "gw.db").string(),
              "--listen",
              "127.0.0.1:0"};
    o.stdout_path = dir / ("gateway-" + std::to_string(run) + ".log");
    return std::make_unique<test::child_process>(o);
}

bool city_online(api_client& c, bool online) {
    return test::wait_until(
        [&] { return c.get("/api/v1/cities?limit=1").body["items"][0]["online"] == online; }, 10s);
}

api_reply patch(api_client& c, const std::string& id, const json& body) {
    return c.call("PATCH", "/api/v1/people/" + id, body.dump(), "application/json");
}

/// A check-out asked at the centre: the gateway decides it after every command sent before,
/// so its answer shows what the gateway holds now.
std::string central_checkout(api_client& admin, const std::string& badge) {
    auto r = admin.post("/api/v1/devices/cam-p/checkout", json{{"badge", badge}});
    INFO(r.text);
    if (r.status == 200) return "ok";
    return r.body.value("reason", r.body.value("type", std::string("?")));
}

}  // namespace

TEST_CASE(
    "a badge works at the docks of its allowed cities and is withdrawn from the gateway at "
    "once when the person is deactivated",
    "[server][people][e2e]") {
    region_fixture region;
    region.register_device("cam-p", "body_camera", "450100");
    auto admin = region.as("admin");
    // An officer of Liuzhou whose badge also opens the docks of Nanning.
    REQUIRE(admin
                .post("/api/v1/people", json{{"name", "visitor"},
                                             {"role", "officer"},
                                             {"city", "450200"},
                                             {"badge", "B-VIS"},
                                             {"badge_cities", {"450100"}}})
                .status == 201);
    test::mosquitto_broker city_broker;
    test::temp_dir gw_dir("eqm-people-gw");
    auto gateway = start_gateway(region, city_broker, gw_dir.path(), 1);
    INFO(test::read_file(gw_dir.path() / "gateway-1.log"));
    REQUIRE(city_online(admin, true));
    dock_station dock(city_broker.uri());

    // The gateway knows the device and the badge once its registry sync is in.
    REQUIRE(first_take_out(dock, "B-VIS") == "ok");
    REQUIRE(dock.put_back() == "ok");

    // Nanning taken off the badge's cities: withdrawn from that gateway.
    REQUIRE(patch(admin, "visitor", json{{"badge_cities", json::array()}}).status == 200);
    CHECK(central_checkout(admin, "B-VIS") == "badge_not_allowed");
    CHECK(dock.take_out("B-VIS") == "rejected:badge_not_allowed");
    REQUIRE(patch(admin, "visitor", json{{"badge_cities", {"450100"}}}).status == 200);
    CHECK(central_checkout(admin, "B-VIS") == "ok");
    REQUIRE(dock.put_back() == "ok");

    // Deactivated while the gateway is online: no badge at its docks any more.
    REQUIRE(patch(admin, "visitor", json{{"active", false}}).status == 200);
    CHECK(central_checkout(admin, "B-VIS") == "badge_not_allowed");
    CHECK(dock.take_out("B-VIS") == "rejected:badge_not_allowed");
}

TEST_CASE(
    "a person deactivated while their gateway was offline cannot check out after its next "
    "birth",
    "[server][people][e2e]") {
    region_fixture region;
    region.register_device("cam-p", "body_camera", "450100");
    auto admin = region.as("admin");
    REQUIRE(admin
                .post("/api/v1/people", json{{"name", "temp"},
                                             {"role", "officer"},
                                             {"city", "450100"},
                                             {"badge", "B-TMP"},
                                             {"password", "temp-secret"}})
                .status == 201);
    test::mosquitto_broker city_broker;
    test::temp_dir gw_dir("eqm-people-gw");
    auto gateway = start_gateway(region, city_broker, gw_dir.path(), 1);
    REQUIRE(city_online(admin, true));
    {
        dock_station dock(city_broker.uri());
        REQUIRE(first_take_out(dock, "B-TMP") == "ok");
        REQUIRE(dock.put_back() == "ok");
    }
    // Killed, so the broker sends its Last Will and the server sees the city offline.
    REQUIRE(gateway->signal(SIGKILL));
    REQUIRE(gateway->wait_for_exit(quick).has_value());
    REQUIRE(city_online(admin, false));
    REQUIRE(patch(admin, "temp", json{{"active", false}}).status == 200);

    gateway = start_gateway(region, city_broker, gw_dir.path(), 2);
    INFO(test::read_file(gw_dir.path() / "gateway-2.log"));
    REQUIRE(city_online(admin, true));
    // The full sync of the birth no longer lists the person: the gateway forgot the badge.
    CHECK(central_checkout(admin, "B-TMP") == "badge_unknown");
    dock_station dock(city_broker.uri());
    CHECK(dock.take_out("B-TMP") == "rejected:badge_unknown");
}
