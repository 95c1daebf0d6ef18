// The central broker as deployed (deploy/mosquitto/central.conf, certificates from
// scripts/gen-region-pki, ACL from scripts/gen-broker-auth --central) against a real Mosquitto:
// TLS only, a client certificate of the region CA required, each gateway confined to its city.
//
// As in broker_acl_tests.cpp, absence of a forbidden message is shown by order: the forbidden
// message first, then an allowed marker; the watcher's first message must be the marker.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "locked_broker.hpp"

namespace {

using eqm::test::locked_central_broker;
using eqm::test::mqtt_login;
using eqm::test::publish;
using eqm::test::subscriber;

constexpr auto watch_timeout = std::chrono::seconds{10};
const std::vector<std::string> two_cities = {"450100", "450200"};

std::string birth(const std::string& gw_id) {
    return R"({"ts":"2026-01-01T08:00:00.000Z","online":true,"gw_id":")" + gw_id +
           R"(","bd_seq":1,"version":"test"})";
}

}  // namespace

TEST_CASE("the central broker takes only clients with a certificate of the region CA",
          "[broker_acl][central]") {
    locked_central_broker broker(two_cities);
    const auto at = broker.endpoint();
    const std::string topic = "eqm/v1/city/450100/gw/state";

    // Refused: no TLS at all, TLS without a client certificate, a password instead of one, and
    // a certificate with the right name from another CA.
    CHECK(publish(at, mqtt_login{}, topic, birth("gw-450100")) != 0);
    CHECK(publish(at, broker.without_certificate(), topic, birth("gw-450100")) != 0);
    auto with_password = broker.without_certificate();
    with_password.user = "gw-450100";
    with_password.password = "secret";
    CHECK(publish(at, with_password, topic, birth("gw-450100")) != 0);
    eqm::test::temp_dir other("eqm-other-ca");
    REQUIRE(eqm::test::run_program({std::string(EQM_SOURCE_DIR) + "/scripts/gen-region-pki",
                                    (other / "pki").string(), "--cities", "450100"},
                                   other.path())
                .exit_code == 0);
    auto foreign = broker.login("gw-450100");
    foreign.cert_file = other / "pki" / "gw-450100.crt";
    foreign.key_file = other / "pki" / "gw-450100.key";
    CHECK(publish(at, foreign, topic, birth("gw-450100")) != 0);

    // The gateway's own certificate gets through to the server's identity.
    subscriber server(at, broker.login("eqm-server"), {"eqm/v1/city/+/gw/#"}, 1, watch_timeout);
    server.wait_subscribed();
    REQUIRE(publish(at, broker.login("gw-450100"), topic, birth("gw-450100")) == 0);
    const auto got = server.messages();
    INFO(server.raw());
    REQUIRE(got.size() == 1);
    CHECK(got[0] == topic + " " + birth("gw-450100"));
}

TEST_CASE("Nanning's certificate cannot publish into Liuzhou's topics nor read its commands",
          "[broker_acl][central]") {
    locked_central_broker broker(two_cities);
    const auto at = broker.endpoint();
    const auto nanning = broker.login("gw-450100");

    subscriber server(at, broker.login("eqm-server"), {"eqm/v1/city/+/gw/#"}, 1, watch_timeout);
    server.wait_subscribed();
    publish(at, nanning, "eqm/v1/city/450200/gw/events",
            R"({"gw_id":"gw-450200","bd_seq":1,"events":[]})");
    publish(at, nanning, "eqm/v1/city/450200/gw/state", birth("gw-450200"), true);
    publish(at, nanning, "eqm/v1/city/450200/srv/cmd", R"({"cmd_id":"x","type":"device_lock"})");
    REQUIRE(publish(at, nanning, "eqm/v1/city/450100/gw/state", birth("gw-450100")) == 0);
    const auto got = server.messages();
    INFO(server.raw());
    REQUIRE(got.size() == 1);
    CHECK(got[0] == "eqm/v1/city/450100/gw/state " + birth("gw-450100"));

    // Subscribed to both cities' commands, Nanning receives only its own.
    subscriber snoop(at, nanning, {"eqm/v1/city/450200/srv/#", "eqm/v1/city/450100/srv/#"}, 1,
                     watch_timeout);
    snoop.wait_subscribed();
    const auto srv = broker.login("eqm-server");
    REQUIRE(publish(at, srv, "eqm/v1/city/450200/srv/cmd", R"({"for":"450200"})") == 0);
    REQUIRE(publish(at, srv, "eqm/v1/city/450100/srv/cmd", R"({"for":"450100"})") == 0);
    const auto commands = snoop.messages();
    INFO(snoop.raw());
    REQUIRE(commands.size() == 1);
    CHECK(commands[0] == R"(eqm/v1/city/450100/srv/cmd {"for":"450100"})");
}

TEST_CASE("one gateway's certificate cannot take over another gateway's session",
          "[broker_acl][central]") {
    locked_central_broker broker(two_cities);
    const auto at = broker.endpoint();
    auto nanning = broker.login("gw-450100");
    nanning.client_id = "gw-450100";
    subscriber gw(at, nanning, {"eqm/v1/city/450100/srv/#"}, 1, watch_timeout);
    gw.wait_subscribed();
    // Liuzhou's valid certificate, asking for Nanning's client id.
    auto liuzhou = broker.login("gw-450200");
    liuzhou.client_id = "gw-450100";
    REQUIRE(publish(at, liuzhou, "eqm/v1/city/450200/gw/state", birth("gw-450200")) == 0);
    REQUIRE(publish(at, broker.login("eqm-server"), "eqm/v1/city/450100/srv/ack",
                    R"({"upto_seq":1})") == 0);
    const auto got = gw.messages();
    INFO(gw.raw());
    REQUIRE(got.size() == 1);
    CHECK(got[0] == R"(eqm/v1/city/450100/srv/ack {"upto_seq":1})");
    CHECK(eqm::test::count_in_file(broker.log_path(), "already connected") == 0);
}

TEST_CASE("a renewed gateway certificate replaces the old one, which is refused from then on",
          "[broker_acl][central]") {
    locked_central_broker broker(two_cities);
    const auto at = broker.endpoint();
    // The box keeps its current certificate and key while the operator renews them.
    const auto old_dir = broker.dir() / "old";
    std::filesystem::create_directories(old_dir);
    auto old_login = broker.login("gw-450100");
    std::filesystem::copy_file(old_login.cert_file, old_dir / "gw.crt");
    std::filesystem::copy_file(old_login.key_file, old_dir / "gw.key");
    old_login.cert_file = old_dir / "gw.crt";
    old_login.key_file = old_dir / "gw.key";
    const std::string topic = "eqm/v1/city/450100/gw/state";
    REQUIRE(publish(at, old_login, topic, birth("gw-450100")) == 0);

    broker.reissue({"--renew", "gw-450100"});
    CHECK(publish(at, old_login, topic, birth("gw-450100")) != 0);
    CHECK(publish(at, broker.login("gw-450100"), topic, birth("gw-450100")) == 0);
    // Revoking Liuzhou's (a stolen box) locks the thief out; Nanning's new one still works.
    auto stolen = broker.login("gw-450200");
    std::filesystem::copy_file(stolen.cert_file, old_dir / "stolen.crt");
    std::filesystem::copy_file(stolen.key_file, old_dir / "stolen.key");
    stolen.cert_file = old_dir / "stolen.crt";
    stolen.key_file = old_dir / "stolen.key";
    const std::string liuzhou_topic = "eqm/v1/city/450200/gw/state";
    REQUIRE(publish(at, stolen, liuzhou_topic, birth("gw-450200")) == 0);
    broker.reissue({"--revoke", "gw-450200"});
    CHECK_FALSE(std::filesystem::exists(broker.pki() / "gw-450200.crt"));
    CHECK(publish(at, stolen, liuzhou_topic, birth("gw-450200")) != 0);
    CHECK(publish(at, broker.login("gw-450100"), topic, birth("gw-450100")) == 0);
}
