// A transfer end to end with the real programs: a central Mosquitto, two city Mosquittos, two
// eqm-gateways (Nanning and Liuzhou) and eqm-server. Approval orders both gateways; the
// courier's badge takes the camera from a Nanning dock; a Liuzhou dock takes it in while
// Liuzhou's central link is down (the gateway knew it was coming); once the link is back the
// device is Liuzhou's at the server and at both gateways.
#include <catch2/catch.hpp>

#include "eqm/test/net.hpp"
#include "ingest_support.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

/// One city: its broker, its eqm-gateway on a known HTTP port, and a dock that reads its acks.
struct city_site {
    explicit city_site(std::string code) : city(std::move(code)) {
        http_port = test::free_port();
        mqtt::session_options so;
        so.server_uri = broker.uri();
        so.client_id = "dock-" + city;
        so.log = [](std::string_view) {};
        auto s = mqtt::session::create(so);
        REQUIRE(s.has_value());
        dock = std::move(*s);
        dock->on_message([this](std::string, std::string payload) {
            auto j = json::parse(payload, nullptr, false);
            if (j.is_discarded() || !j.contains("results") || !j["results"].is_object()) return;
            std::lock_guard lock(mutex);
            for (const auto& [k, v] : j["results"].items())
                if (v.is_string()) results[k] = v.get<std::string>();
        });
        REQUIRE(dock->subscribe({"eqm/v1/ack/dock-" + city, 1}));
        dock->start();
        REQUIRE(dock->wait_connected(quick));
    }

    /// (Re)starts the gateway with `central_uri` as its central broker.
    void start_gateway(const std::string& central_uri) {
        gateway.reset();
        test::process_options o;
        o.argv = {EQM_GATEWAY_BIN,
                  "--city",
                  city,
                  "--local-mqtt",
                  broker.uri(),
                  "--central-mqtt",
                  central_uri,
                  "--db",
                  (dir.path() / "gw.db").string(),
                  "--listen",
                  "127.0.0.1:" + std::to_string(http_port),
                  "--min-battery-body-camera",
                  "0"};
        o.stdout_path = dir.path() / ("gateway-" + std::to_string(++starts) + ".log");
        gateway = std::make_unique<test::child_process>(o);
        token.clear();
    }

    std::string logs() const {
        std::string out;
        for (int i = 1; i <= starts; ++i)
            out += test::read_file(dir.path() / ("gateway-" + std::to_string(i) + ".log"));
        return out;
    }

    /// Publishes a dock event until the gateway acks one (a gateway that is still starting
    /// misses what was published before it subscribed); the result, "" when none came.
    std::string dock_says(dock_event_type type, const std::string& device,
                          std::optional<std::string> badge) {
        for (int attempt = 0; attempt < 8; ++attempt) {
            const auto id = city + "-ev-" + std::to_string(++events);
            eqm::dock_event e{id, now_ms(), type, 1, device, badge};
            REQUIRE(
                dock->publish("eqm/v1/dock/dock-" + city + "/event", to_json_text(e), 1, false));
            std::string result;
            const bool acked = test::wait_until(
                [&] {
                    std::lock_guard lock(mutex);
                    auto it = results.find(id);
                    if (it == results.end()) return false;
                    result = it->second;
                    return true;
                },
                2s);
            if (acked) return result;
        }
        return "";
    }

    /// GET on the gateway's API as `user` (a person the registry gave a password); an empty
    /// object on any failure.
    json get(const std::string& target, const std::string& user) {
        const client::server_url url{"127.0.0.1", std::to_string(http_port), false};
        if (token.empty()) {
            auto r = client::http_call(url, "POST", "/api/v1/auth/login",
                                       json{{"name", user}, {"password", user + "-pw"}}.dump(),
                                       {{"Content-Type", "application/json"}});
            if (!r || r->status != 200) return json::object();
            token = json::parse(r->body, nullptr, false).value("token", "");
        }
        auto r = client::http_call(url, "GET", target, {}, {{"Authorization", "Bearer " + token}});
        if (!r || r->status != 200) return json::object();
        auto j = json::parse(r->body, nullptr, false);
        return j.is_object() ? j : json::object();
    }

    std::string city;
    test::temp_dir dir{"eqm-transfer-gw"};
    test::mosquitto_broker broker;
    std::uint16_t http_port = 0;
    std::unique_ptr<test::child_process> gateway;
    std::unique_ptr<mqtt::session> dock;
    std::mutex mutex;
    std::map<std::string, std::string> results;
    int events = 0;
    int starts = 0;
    std::string token;
};

}  // namespace

TEST_CASE(
    "a transfer runs from approval through the courier's hand-over to a check-in at the "
    "destination while its central link is down",
    "[server][e2e][transfers]") {
    region_fixture region;
    REQUIRE(add_user(region.db(), "courier", "dispatcher", "", "B-COURIER", "courier-pw") == 0);
    region.register_device("cam-t", "body_camera", "450100");
    city_site nn("450100");
    city_site lz("450200");
    nn.start_gateway(region.broker.uri());
    lz.start_gateway(region.broker.uri());
    auto disp = region.as("disp");
    INFO(nn.logs() << lz.logs());
    REQUIRE(test::wait_until(
        [&] {
            return city_entry(disp, "450100")["online"] == true &&
                   city_entry(disp, "450200")["online"] == true;
        },
        10s));

    auto created = disp.post("/api/v1/transfers",
                             json{{"from_city", "450100"},
                                  {"to_city", "450200"},
                                  {"items", json::array({json{{"device_id", "cam-t"}}})},
                                  {"due", format_timestamp(now_ms() + std::chrono::hours{24})},
                                  {"reason", "Liuzhou's inspection week"}});
    REQUIRE(created.status == 201);
    const std::string id = created.body["id"];
    REQUIRE(disp.post("/api/v1/transfers/" + id + "/approve", json::object()).status == 200);
    // Both gateways have their orders (and the registry, with the courier's badge).
    REQUIRE(test::wait_until(
        [&] {
            for (const auto& o : outbox_rows(region.db()))
                if (o.state == "pending") return false;
            return true;
        },
        10s));

    // Nanning: the courier's badge takes the camera from the dock.
    REQUIRE(nn.dock_says(dock_event_type::slot_remove, "cam-t", "B-COURIER") == "ok");
    REQUIRE(test::wait_until([&] { return device(disp, "cam-t")["status"] == "in_transit"; }, 10s));
    CHECK(device(disp, "cam-t")["holder"] == "courier");
    CHECK(disp.get("/api/v1/transfers/" + id).body["status"] == "in_transit");

    // Liuzhou's central link is down (its gateway points at a port nobody listens on); its dock
    // still takes the camera in, and the camera is Liuzhou's there at once.
    lz.gateway->stop();
    lz.start_gateway("tcp://127.0.0.1:" + std::to_string(test::free_port()));
    CHECK(lz.dock_says(dock_event_type::slot_insert, "cam-t", std::nullopt) == "ok");
    auto at_lz = lz.get("/api/v1/devices/cam-t", "cust-lz");
    CHECK(at_lz.value("status", "") == "available");
    CHECK(at_lz.value("city", "") == "450200");
    CHECK(at_lz.value("registered", false) == true);
    CHECK(device(disp, "cam-t")["status"] == "in_transit");

    // The link comes back: the arrival reaches the server, and both registries follow.
    lz.gateway->stop();
    lz.start_gateway(region.broker.uri());
    REQUIRE(test::wait_until([&] { return device(disp, "cam-t")["city"] == "450200"; }, 15s));
    CHECK(device(disp, "cam-t")["status"] == "available");
    CHECK(disp.get("/api/v1/transfers/" + id).body["status"] == "completed");
    CHECK(test::wait_until(
        [&] {
            auto at_nn = nn.get("/api/v1/devices/cam-t", "cust-nn");
            return at_nn.value("city", "") == "450200" && at_nn.value("registered", true) == false;
        },
        10s));
    CHECK(test::wait_until(
        [&] {
            auto at = lz.get("/api/v1/devices/cam-t", "cust-lz");
            return at.value("city", "") == "450200" && at.value("registered", false) == true;
        },
        10s));
    // In Liuzhou it goes out like any of Liuzhou's devices.
    CHECK(lz.dock_says(dock_event_type::slot_remove, "cam-t", "B-CUST-LZ") == "ok");
}
