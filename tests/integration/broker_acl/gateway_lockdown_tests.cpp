// The real eqm-gateway behind the locked-down city broker: the gateway logs in with its own
// generated password, devices and docks with theirs. A dock's check-out goes round trip; a
// device with valid credentials cannot inject a check-in or telemetry for another device. The
// central side is a plain broker of its own (the city broker gives every login one session, so
// the gateway's two links cannot share it).
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "eqm/test/child_process.hpp"
#include "eqm/test/mosquitto_broker.hpp"
#include "eqm/test/net.hpp"
#include "eqm/test/wait.hpp"
#include "locked_broker.hpp"

namespace {

using eqm::test::child_process;
using eqm::test::locked_city_broker;
using eqm::test::mosquitto_broker;
using eqm::test::process_options;
using eqm::test::publish;
using nlohmann::json;

constexpr auto gateway_ready_timeout = std::chrono::milliseconds{20000};
constexpr auto effect_timeout = std::chrono::milliseconds{10000};
constexpr auto ack_timeout = std::chrono::seconds{15};
const std::string gw_id = "gw-450100";
const std::string city = "450100";
const std::string badge = "B-1001";
/// The custodian's password "lockdown-password" as the server sends it (argon2id, libsodium's
/// crypto_pwhash_str at its minimum cost): the tests log in at the gateway's API with it.
const std::string password_hash =
    "$argon2id$v=19$m=8,t=1,p=1$nYeL75TRkY/lM7wTm32QJA$vgtT7fJWATeMNXPkMGPSySbXfayIVBzYAvPo0eQa9d8";

/// RFC 3339 UTC with milliseconds (g++ 12 has no std::format).
std::string now_ts() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    gmtime_r(&secs, &utc);
    char text[32];
    const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    char out[40];
    std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), text,
                  static_cast<int>(millis));
    return out;
}

/// `j[key]` when j is an object holding it, else `fallback` (the gateway may not answer yet).
template <class T>
T field(const json& j, const char* key, T fallback) {
    if (!j.is_object() || !j.contains(key)) return fallback;
    return j.value(key, fallback);
}

/// eqm-gateway logged in to the locked city broker, with a plain central broker.
class running_gateway {
  public:
    running_gateway(const locked_city_broker& broker, const mosquitto_broker& central)
        : broker_(broker), http_port_(eqm::test::free_port()) {
        const auto pw_file = broker.dir() / "gateway.password";
        std::ofstream(pw_file) << broker.password(gw_id) << "\n";
        process_ = std::make_unique<child_process>(process_options{
            .argv = {EQM_GATEWAY_BINARY, "--city", city, "--gw-id", gw_id, "--local-mqtt",
                     broker.uri(), "--central-mqtt", central.uri(), "--db",
                     (broker.dir() / "gateway.db").string(), "--listen",
                     "127.0.0.1:" + std::to_string(http_port_), "--local-mqtt-user", gw_id,
                     "--local-mqtt-password-file", pw_file.string()},
            .env = {},
            .stdout_path = broker.dir() / "gateway.log",
            .stderr_path = {},
            .working_dir = {},
        });
        const bool ready = eqm::test::wait_until(
            [this] {
                const auto h = get("/healthz");
                return field(h, "local_mqtt", false) && field(h, "central_mqtt", false);
            },
            gateway_ready_timeout, std::chrono::milliseconds{100});
        if (!ready) {
            throw std::runtime_error("eqm-gateway did not connect to the locked broker; log:\n" +
                                     eqm::test::read_file(broker.dir() / "gateway.log"));
        }
    }

    /// GET on the gateway's HTTP API, logged in as the custodian once the registry holds them
    /// (/healthz needs no login); a discarded json when it does not answer 200.
    json get(const std::string& path) const {
        if (path.starts_with("/api/") && token_.empty()) token_ = login();
        std::vector<std::string> argv{"curl", "-fsS"};
        if (!token_.empty()) {
            argv.push_back("-H");
            argv.push_back("Authorization: Bearer " + token_);
        }
        argv.push_back("http://127.0.0.1:" + std::to_string(http_port_) + path);
        const auto r = eqm::test::run_program(argv, broker_.dir(), std::chrono::milliseconds{5000});
        if (r.exit_code != 0) return json::value_t::discarded;
        return json::parse(r.output, nullptr, false);
    }

    std::string log() const { return eqm::test::read_file(broker_.dir() / "gateway.log"); }

  private:
    /// A token for the custodian, or "" while the registry has not reached the gateway.
    std::string login() const {
        const auto r = eqm::test::run_program(
            {"curl", "-fsS", "-H", "Content-Type: application/json", "-d",
             R"({"name":"Li Wei","password":"lockdown-password"})",
             "http://127.0.0.1:" + std::to_string(http_port_) + "/api/v1/auth/login"},
            broker_.dir(), std::chrono::milliseconds{5000});
        if (r.exit_code != 0) return {};
        const auto j = json::parse(r.output, nullptr, false);
        return j.is_object() ? j.value("token", std::string{}) : std::string{};
    }

    const locked_city_broker& broker_;
    std::uint16_t http_port_;
    mutable std::string token_;
    std::unique_ptr<child_process> process_;
};

std::string registry_command() {
    return json{{"cmd_id", "reg-1"},
                {"ts", now_ts()},
                {"type", "registry_upsert"},
                {"devices",
                 {{{"id", "cam-1"}, {"class", "body_camera"}, {"model", "BC-200"}, {"city", city}},
                  {{"id", "cam-2"}, {"class", "body_camera"}, {"model", "BC-200"}, {"city", city}},
                  {{"id", "dock-1"}, {"class", "dock"}, {"model", "DK-8"}, {"city", city}}}},
                {"people",
                 {{{"id", "p-1"},
                   {"name", "Li Wei"},
                   {"role", "custodian"},
                   {"city", city},
                   {"badge", badge},
                   {"password_hash", password_hash}}}}}
        .dump();
}

/// A reading; seq grows with every call, as a device's does (the gateway takes the highest seq
/// of a session as the latest reading).
std::string telemetry(double battery) {
    static int seq = 0;
    return json{{"ts", now_ts()},
                {"seq", ++seq},
                {"battery_pct", battery},
                {"storage_free_mb", 30000},
                {"temp_c", 31}}
        .dump();
}

std::string dock_event(const std::string& event_id, const std::string& type,
                       const std::string& device, bool with_badge) {
    json e{{"event_id", event_id},
           {"ts", now_ts()},
           {"type", type},
           {"slot", 3},
           {"device_id", device}};
    if (with_badge) e["badge"] = badge;
    return e.dump();
}

/// The server's registry command, on the central broker.
int publish_central(const mosquitto_broker& central, const std::string& topic,
                    const std::string& payload) {
    return eqm::test::run_program(
               {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(central.port()), "-q", "1",
                "-t", topic, "-m", payload},
               central.dir())
        .exit_code;
}

/// Registers the fleet and reports cam-1's and cam-2's batteries, each device with its own login.
void prepare_fleet(const locked_city_broker& broker, const mosquitto_broker& central,
                   const running_gateway& gateway) {
    REQUIRE(publish_central(central, "eqm/v1/city/" + city + "/srv/cmd", registry_command()) == 0);
    REQUIRE(eqm::test::wait_until(
        [&] { return field(gateway.get("/api/v1/devices/dock-1"), "registered", false); },
        effect_timeout));
    for (const std::string id : {"cam-1", "cam-2"}) {
        REQUIRE(publish(broker, id, broker.password(id), "eqm/v1/dev/" + id + "/telemetry",
                        telemetry(95)) == 0);
        REQUIRE(eqm::test::wait_until(
            [&] { return field(gateway.get("/api/v1/devices/" + id), "battery_pct", 0.0) == 95.0; },
            effect_timeout));
    }
}

}  // namespace

TEST_CASE("a dock check-out goes round trip through the locked-down broker",
          "[broker_acl][gateway]") {
    locked_city_broker broker(
        gw_id, {{"cam-1", "body_camera"}, {"cam-2", "body_camera"}, {"dock-1", "dock"}});
    mosquitto_broker central;
    running_gateway gateway(broker, central);
    prepare_fleet(broker, central, gateway);

    // The dock's one connection (its login is its client id): it sends the event and waits
    // for its ack on the same session.
    const auto reply = eqm::test::request_reply(
        broker.endpoint(), eqm::test::password_login("dock-1", broker.password("dock-1")),
        "eqm/v1/dock/dock-1/event", dock_event("out-1", "slot_remove", "cam-1", true),
        "eqm/v1/ack/dock-1", ack_timeout);
    INFO(gateway.log());
    INFO(reply.output);
    REQUIRE(reply.exit_code == 0);
    const auto body = json::parse(reply.output, nullptr, false);
    REQUIRE_FALSE(body.is_discarded());
    CHECK(body["results"]["out-1"] == "ok");
    const auto device = gateway.get("/api/v1/devices/cam-1");
    CHECK(device["status"] == "checked_out");
    CHECK(device["holder"] == "p-1");
}

TEST_CASE("a device cannot inject events or telemetry for another device",
          "[broker_acl][gateway]") {
    locked_city_broker broker(
        gw_id, {{"cam-1", "body_camera"}, {"cam-2", "body_camera"}, {"dock-1", "dock"}});
    mosquitto_broker central;
    running_gateway gateway(broker, central);
    prepare_fleet(broker, central, gateway);
    REQUIRE(publish(broker, "dock-1", broker.password("dock-1"), "eqm/v1/dock/dock-1/event",
                    dock_event("out-1", "slot_remove", "cam-1", true)) == 0);
    REQUIRE(eqm::test::wait_until(
        [&] {
            return field(gateway.get("/api/v1/devices/cam-1"), "status", std::string{}) ==
                   "checked_out";
        },
        effect_timeout));

    // cam-2, logged in with its own valid password, pretends to be the dock returning cam-1,
    // and reports cam-1's battery as nearly empty.
    const auto& impostor_pw = broker.password("cam-2");
    publish(broker, "cam-2", impostor_pw, "eqm/v1/dock/dock-1/event",
            dock_event("impostor-in", "slot_insert", "cam-1", false));
    publish(broker, "cam-2", impostor_pw, "eqm/v1/dev/cam-1/telemetry", telemetry(5));
    publish(broker, "cam-2", impostor_pw, "eqm/v1/dev/cam-1/state",
            json{{"ts", now_ts()}, {"online", false}, {"bd_seq", 99}}.dump(), true);
    // Then a message cam-2 may send: once the gateway shows it, everything before it was handled.
    REQUIRE(publish(broker, "cam-2", impostor_pw, "eqm/v1/dev/cam-2/telemetry", telemetry(42)) ==
            0);
    REQUIRE(eqm::test::wait_until(
        [&] { return field(gateway.get("/api/v1/devices/cam-2"), "battery_pct", 0.0) == 42.0; },
        effect_timeout));

    const auto device = gateway.get("/api/v1/devices/cam-1");
    INFO(device.dump());
    CHECK(device["status"] == "checked_out");
    CHECK(device["holder"] == "p-1");
    CHECK(device["battery_pct"] == 95.0);
    const auto custody = gateway.get("/api/v1/devices/cam-1/custody");
    CHECK(custody["items"].size() == 1);
}

TEST_CASE("gen-broker-auth reads the registry from the gateway's ledger", "[broker_acl][gateway]") {
    locked_city_broker broker(
        gw_id, {{"cam-1", "body_camera"}, {"cam-2", "body_camera"}, {"dock-1", "dock"}});
    mosquitto_broker central;
    running_gateway gateway(broker, central);
    prepare_fleet(broker, central, gateway);
    // A device seen on the broker but never registered gets no login: give it one on the broker
    // only (the registry the gateway knows stays without it).
    broker.regenerate({{"cam-1", "body_camera"},
                       {"cam-2", "body_camera"},
                       {"dock-1", "dock"},
                       {"stranger-1", "body_camera"}});
    REQUIRE(publish(broker, "stranger-1", broker.password("stranger-1"),
                    "eqm/v1/dev/stranger-1/telemetry", telemetry(50)) == 0);
    REQUIRE(eqm::test::wait_until(
        [&] {
            return field(gateway.get("/api/v1/devices/stranger-1"), "battery_pct", 0.0) == 50.0;
        },
        effect_timeout));
    const auto out = broker.dir() / "from-db";
    const auto result = eqm::test::run_program(
        {std::string(EQM_SOURCE_DIR) + "/scripts/gen-broker-auth", "--gateway-id", gw_id, "--db",
         (broker.dir() / "gateway.db").string(), "--out", out.string()},
        broker.dir());
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    const auto acl = eqm::test::read_file(out / "acl");
    for (const auto* user : {"user gw-450100\n", "user cam-1\n", "user cam-2\n", "user dock-1\n"})
        CHECK(acl.find(user) != std::string::npos);
    CHECK(acl.find("stranger-1") == std::string::npos);
    CHECK(acl.find("topic write eqm/v1/dock/dock-1/event") != std::string::npos);
}
