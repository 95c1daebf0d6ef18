// The locked-down city broker (deploy/mosquitto/city.conf + scripts/gen-broker-auth) against a
// real Mosquitto: who may log in, who may publish where, and who may read what.
//
// A refused publish is dropped silently by the broker (MQTT 3.1.1 has no way to say so), so the
// tests prove absence by order: the forbidden message is sent first, then an allowed marker on
// the same broker; the watching client's first message must be the marker.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "locked_broker.hpp"

namespace {

using eqm::test::locked_city_broker;
using eqm::test::publish;
using eqm::test::registry_entry;
using eqm::test::subscriber;

constexpr auto watch_timeout = std::chrono::seconds{10};
const std::string gateway = "gw-450100";

const std::vector<registry_entry> small_city = {
    {"cam-1", "body_camera"},
    {"cam-2", "body_camera"},
    {"drone-1", "drone"},
    {"dock-1", "dock"},
};

std::string telemetry(int seq) {
    return R"({"ts":"2026-01-01T08:00:00.000Z","seq":)" + std::to_string(seq) +
           R"(,"battery_pct":80,"storage_free_mb":1000,"temp_c":30})";
}

}  // namespace

TEST_CASE("anonymous and wrong-password clients are refused", "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    CHECK(publish(broker, "", "", "eqm/v1/dev/cam-1/telemetry", telemetry(1)) != 0);
    CHECK(publish(broker, "cam-1", "not-the-password", "eqm/v1/dev/cam-1/telemetry",
                  telemetry(1)) != 0);
    CHECK(publish(broker, "cam-1", broker.password("cam-2"), "eqm/v1/dev/cam-1/telemetry",
                  telemetry(1)) != 0);
    CHECK(publish(broker, "nobody", "x", "eqm/v1/dev/cam-1/telemetry", telemetry(1)) != 0);
    // The right password works, so the refusals above are about the credentials.
    CHECK(publish(broker, "cam-1", broker.password("cam-1"), "eqm/v1/dev/cam-1/telemetry",
                  telemetry(1)) == 0);
}

TEST_CASE("every device, dock and the gateway get their own password", "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    std::vector<std::string> passwords;
    for (const auto& id : {"gw-450100", "cam-1", "cam-2", "drone-1", "dock-1"}) {
        REQUIRE(broker.has_login(id));
        passwords.push_back(broker.password(id));
    }
    std::sort(passwords.begin(), passwords.end());
    CHECK(std::adjacent_find(passwords.begin(), passwords.end()) == passwords.end());
    for (const auto& pw : passwords) CHECK(pw.size() >= 20);
}

TEST_CASE("a device's own telemetry, state and events reach the gateway", "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    subscriber gw(broker, gateway, broker.password(gateway), {"eqm/v1/#"}, 3, watch_timeout);
    gw.wait_subscribed();
    const auto& pw = broker.password("cam-1");
    REQUIRE(publish(broker, "cam-1", pw, "eqm/v1/dev/cam-1/telemetry", telemetry(7)) == 0);
    REQUIRE(publish(broker, "cam-1", pw, "eqm/v1/dev/cam-1/state", R"({"online":true})", true) ==
            0);
    REQUIRE(publish(broker, "cam-1", pw, "eqm/v1/dev/cam-1/event", R"({"event_id":"e1"})") == 0);
    const auto got = gw.messages();
    INFO(gw.raw());
    REQUIRE(got.size() == 3);
    CHECK(got[0] == "eqm/v1/dev/cam-1/telemetry " + telemetry(7));
    CHECK(got[1] == R"(eqm/v1/dev/cam-1/state {"online":true})");
    CHECK(got[2] == R"(eqm/v1/dev/cam-1/event {"event_id":"e1"})");
}

TEST_CASE("a client cannot publish outside its own topics", "[broker_acl]") {
    struct forbidden {
        std::string client;
        std::string topic;
        std::string marker_topic;  // a topic the same client may publish
    };
    const auto row =
        GENERATE(forbidden{"cam-1", "eqm/v1/dev/cam-2/telemetry", "eqm/v1/dev/cam-1/telemetry"},
                 forbidden{"cam-1", "eqm/v1/dev/cam-2/event", "eqm/v1/dev/cam-1/event"},
                 forbidden{"cam-1", "eqm/v1/dev/cam-2/state", "eqm/v1/dev/cam-1/state"},
                 forbidden{"cam-1", "eqm/v1/dock/dock-1/event", "eqm/v1/dev/cam-1/event"},
                 forbidden{"cam-1", "eqm/v1/ack/cam-2", "eqm/v1/dev/cam-1/event"},
                 forbidden{"cam-1", "eqm/v1/dev/cam-2/cmd", "eqm/v1/dev/cam-1/event"},
                 forbidden{"cam-1", "eqm/v1/city/450100/gw/events", "eqm/v1/dev/cam-1/event"},
                 forbidden{"dock-1", "eqm/v1/dev/cam-1/event", "eqm/v1/dock/dock-1/event"},
                 forbidden{"dock-1", "eqm/v1/dev/cam-1/telemetry", "eqm/v1/dock/dock-1/event"},
                 forbidden{"dock-1", "eqm/v1/dock/dock-2/event", "eqm/v1/dock/dock-1/event"},
                 forbidden{"drone-1", "eqm/v1/dev/cam-1/event", "eqm/v1/dev/drone-1/event"});
    CAPTURE(row.client, row.topic);
    locked_city_broker broker(gateway, small_city);
    subscriber gw(broker, gateway, broker.password(gateway), {"eqm/v1/#"}, 1, watch_timeout);
    gw.wait_subscribed();
    const auto& pw = broker.password(row.client);
    publish(broker, row.client, pw, row.topic, R"({"event_id":"impostor"})");
    REQUIRE(publish(broker, row.client, pw, row.marker_topic, R"({"event_id":"marker"})") == 0);
    const auto got = gw.messages();
    INFO(gw.raw());
    REQUIRE(got.size() == 1);
    CHECK(got[0] == row.marker_topic + R"( {"event_id":"marker"})");
}

TEST_CASE("a device reads its own ack and commands but not another device's", "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    const auto& gw_pw = broker.password(gateway);
    subscriber snoop(broker, "cam-2", broker.password("cam-2"),
                     {"eqm/v1/ack/cam-1", "eqm/v1/dev/cam-1/cmd", "eqm/v1/ack/#",
                      "eqm/v1/dev/cam-2/cmd", "eqm/v1/ack/cam-2"},
                     2, watch_timeout);
    // Mosquitto 2.0 grants every SUBSCRIBE over MQTT 3.1.1 and applies the read ACL to each
    // message it would deliver, so what counts is what arrives.
    snoop.wait_subscribed();
    REQUIRE(publish(broker, gateway, gw_pw, "eqm/v1/ack/cam-1", R"({"for":"cam-1"})") == 0);
    REQUIRE(publish(broker, gateway, gw_pw, "eqm/v1/dev/cam-1/cmd", R"({"for":"cam-1"})") == 0);
    REQUIRE(publish(broker, gateway, gw_pw, "eqm/v1/dev/cam-2/cmd", R"({"for":"cam-2"})") == 0);
    REQUIRE(publish(broker, gateway, gw_pw, "eqm/v1/ack/cam-2", R"({"for":"cam-2"})") == 0);
    const auto got = snoop.messages();
    INFO(snoop.raw());
    REQUIRE(got.size() == 2);
    CHECK(got[0] == R"(eqm/v1/dev/cam-2/cmd {"for":"cam-2"})");
    CHECK(got[1] == R"(eqm/v1/ack/cam-2 {"for":"cam-2"})");
}

TEST_CASE("a device cannot read other devices' telemetry", "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    subscriber snoop(broker, "dock-1", broker.password("dock-1"),
                     {"eqm/v1/dev/+/telemetry", "eqm/v1/ack/dock-1"}, 1, watch_timeout);
    snoop.wait_subscribed();
    REQUIRE(publish(broker, "cam-1", broker.password("cam-1"), "eqm/v1/dev/cam-1/telemetry",
                    telemetry(1)) == 0);
    REQUIRE(publish(broker, gateway, broker.password(gateway), "eqm/v1/ack/dock-1",
                    R"({"for":"dock-1"})") == 0);
    const auto got = snoop.messages();
    INFO(snoop.raw());
    REQUIRE(got.size() == 1);
    CHECK(got[0] == R"(eqm/v1/ack/dock-1 {"for":"dock-1"})");
}

TEST_CASE("regenerating keeps passwords, and a removed device loses its login", "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    const auto cam1_before = broker.password("cam-1");
    const auto cam2_before = broker.password("cam-2");
    broker.regenerate({{"cam-1", "body_camera"}, {"dock-1", "dock"}, {"cam-3", "body_camera"}});
    CHECK(broker.password("cam-1") == cam1_before);
    CHECK_FALSE(broker.has_login("cam-2"));
    CHECK(publish(broker, "cam-1", cam1_before, "eqm/v1/dev/cam-1/telemetry", telemetry(2)) == 0);
    CHECK(publish(broker, "cam-3", broker.password("cam-3"), "eqm/v1/dev/cam-3/telemetry",
                  telemetry(1)) == 0);
    CHECK(publish(broker, "cam-2", cam2_before, "eqm/v1/dev/cam-2/telemetry", telemetry(2)) != 0);
}

TEST_CASE("gen-broker-auth refuses a bad registry and names the problem", "[broker_acl]") {
    struct bad_input {
        std::string registry;
        std::string message;
    };
    const auto row =
        GENERATE(bad_input{R"([{"id":"cam 1","class":"body_camera"}])", "does not match"},
                 bad_input{R"([{"id":"x","class":"toaster"}])", "unknown class \"toaster\""},
                 bad_input{R"([{"class":"drone"}])", "has no string \"id\""},
                 bad_input{R"({"people":[]})", "devices"}, bad_input{R"({not json)", "registry"},
                 bad_input{R"([{"id":"gw-450100","class":"drone"}])", "appears as both"});
    CAPTURE(row.registry);
    eqm::test::temp_dir dir("eqm-gen-auth");
    { std::ofstream(dir / "registry.json") << row.registry; }
    const auto result = eqm::test::run_program(
        {std::string(EQM_SOURCE_DIR) + "/scripts/gen-broker-auth", "--gateway-id", gateway,
         "--registry", (dir / "registry.json").string(), "--out", (dir / "auth").string()},
        dir.path());
    CHECK(result.exit_code == 2);
    CHECK(result.output.find(row.message) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "auth" / "passwd"));
}

TEST_CASE("a client cannot take over another client's session by asking for its client id",
          "[broker_acl]") {
    locked_city_broker broker(gateway, small_city);
    const auto at = broker.endpoint();
    // cam-1 is online, waiting for a command, with its own id as client id.
    subscriber cam1(at, eqm::test::password_login("cam-1", broker.password("cam-1"), "cam-1"),
                    {"eqm/v1/dev/cam-1/cmd"}, 1, watch_timeout);
    cam1.wait_subscribed();
    // cam-2, with its own valid password, connects asking for cam-1's client id.
    REQUIRE(publish(at, eqm::test::password_login("cam-2", broker.password("cam-2"), "cam-1"),
                    "eqm/v1/dev/cam-2/telemetry", telemetry(1)) == 0);
    // cam-1 was not disconnected: it gets the gateway's command on its one and only connection.
    REQUIRE(publish(broker, gateway, broker.password(gateway), "eqm/v1/dev/cam-1/cmd",
                    R"({"cmd_id":"c-1","type":"locate"})") == 0);
    const auto got = cam1.messages();
    INFO(cam1.raw());
    REQUIRE(got.size() == 1);
    CHECK(got[0] == R"(eqm/v1/dev/cam-1/cmd {"cmd_id":"c-1","type":"locate"})");
    const auto raw = cam1.raw();
    std::size_t connects = 0;
    for (auto p = raw.find("sending CONNECT"); p != std::string::npos;
         p = raw.find("sending CONNECT", p + 1))
        ++connects;
    CHECK(connects == 1);
    CHECK(eqm::test::count_in_file(broker.log_path(), "already connected") == 0);
}
