// The WAN over TLS with the real programs: eqm-server and eqm-gateway on the central broker as
// deployed (TLS only, client certificates of scripts/gen-region-pki), both serving HTTPS, the
// server's WebSocket feed over WSS, and the eqm CLI over HTTPS. A gateway without a valid
// certificate is refused; Nanning's certificate cannot speak for Liuzhou.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eqm/test/child_process.hpp"
#include "eqm/test/mosquitto_broker.hpp"
#include "eqm/test/net.hpp"
#include "eqm/test/wait.hpp"
#include "locked_broker.hpp"
#include "tls_client.hpp"

namespace {

using eqm::test::child_process;
using eqm::test::locked_central_broker;
using eqm::test::mosquitto_broker;
using eqm::test::process_options;
using nlohmann::json;

constexpr auto start_timeout = std::chrono::milliseconds{20000};
constexpr auto effect_timeout = std::chrono::milliseconds{15000};
const std::string admin_password = "admin-pw-1";

std::string birth(const std::string& gw_id) {
    return R"({"ts":"2026-01-01T08:00:00.000Z","online":true,"gw_id":")" + gw_id +
           R"(","bd_seq":1,"version":"test"})";
}

/// The cities of GET /api/v1/cities, as a list whether or not the answer is a page.
json city_list(const json& answer) {
    if (answer.is_object() && answer.contains("items")) return answer["items"];
    return answer.is_array() ? answer : json::array();
}

/// eqm-server on the TLS central broker with its certificate, serving HTTPS, with an admin.
class tls_server {
  public:
    explicit tls_server(const locked_central_broker& central)
        : central_(central), port_(eqm::test::free_port()) {
        const auto pki = central.pki();
        const auto db = central.dir() / "region.db";
        const auto added = eqm::test::run_program(
            {"bash", "-c",
             "printf '%s\\n' \"$1\" | \"$2\" user add --db \"$3\" --name admin --role admin", "-",
             admin_password, EQM_SERVER_BINARY, db.string()},
            central.dir());
        if (added.exit_code != 0) throw std::runtime_error("user add failed: " + added.output);
        process_ = std::make_unique<child_process>(process_options{
            .argv = {EQM_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port_), "--db",
                     db.string(), "--mqtt", central.uri(), "--mqtt-ca-file",
                     (pki / "ca.crt").string(), "--mqtt-cert-file",
                     (pki / "eqm-server.crt").string(), "--mqtt-key-file",
                     (pki / "eqm-server.key").string(), "--tls-cert-file",
                     (pki / "eqm-server.crt").string(), "--tls-key-file",
                     (pki / "eqm-server.key").string()},
            .env = {},
            .stdout_path = central.dir() / "eqm-server.log",
            .stderr_path = {},
            .working_dir = {},
        });
        const bool up = eqm::test::wait_until(
            [this] {
                const auto h = get("/healthz");
                return h.is_object() && h.value("mqtt_connected", false);
            },
            start_timeout, std::chrono::milliseconds{100});
        if (!up) throw std::runtime_error("eqm-server did not come up over TLS:\n" + log());
        const auto login =
            https("POST", "/api/v1/auth/login",
                  json{{"name", "admin"}, {"password", admin_password}}.dump(), false);
        token_ = login.value("token", "");
        if (token_.empty()) throw std::runtime_error("cannot log in as admin:\n" + log());
    }

    std::uint16_t port() const { return port_; }
    const std::string& token() const { return token_; }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    eqm_test::tls_peer peer() const { return {central_.pki() / "ca.crt", "127.0.0.1"}; }
    std::string log() const { return eqm::test::read_file(central_.dir() / "eqm-server.log"); }

    /// GET over HTTPS without a token; a discarded json when it fails.
    json get(const std::string& path) const { return https("GET", path, {}, false); }

    /// A request over HTTPS (with the admin's token when `auth`); discarded when it fails.
    json https(const std::string& method, const std::string& path, const std::string& body,
               bool auth = true) const {
        try {
            eqm_test::headers h;
            if (auth) h.emplace_back("Authorization", "Bearer " + token_);
            if (!body.empty()) h.emplace_back("Content-Type", "application/json");
            const auto r = eqm_test::https_once(port_, peer(), method, path, body, h);
            if (r.status != 200) return json::value_t::discarded;
            return json::parse(r.body, nullptr, false);
        } catch (const std::exception&) {
            return json::value_t::discarded;
        }
    }

    /// The server's view of a city's gateway: online or not.
    bool city_online(const std::string& code) const {
        for (const auto& c : city_list(https("GET", "/api/v1/cities", {})))
            if (c.value("code", "") == code) return c.value("online", false);
        return false;
    }

  private:
    const locked_central_broker& central_;
    std::uint16_t port_;
    std::string token_;
    std::unique_ptr<child_process> process_;
};

/// How a gateway presents itself on the central broker.
struct gateway_identity {
    std::filesystem::path cert_file;  ///< empty: no client certificate
    std::filesystem::path key_file;
};

/// eqm-gateway for `city`, on its own plain city broker, with the central link over TLS and
/// HTTPS with its certificate (the region's gw-<city> one when it has it).
class tls_gateway {
  public:
    tls_gateway(const locked_central_broker& central, const std::string& city,
                const gateway_identity& id)
        : central_(central), city_(city), http_port_(eqm::test::free_port()) {
        const auto pki = central.pki();
        std::vector<std::string> argv = {EQM_GATEWAY_BINARY,
                                         "--city",
                                         city,
                                         "--local-mqtt",
                                         local_.uri(),
                                         "--central-mqtt",
                                         central.uri(),
                                         "--central-mqtt-ca-file",
                                         (pki / "ca.crt").string(),
                                         "--db",
                                         (central.dir() / ("gateway-" + city + ".db")).string(),
                                         "--listen",
                                         "127.0.0.1:" + std::to_string(http_port_),
                                         "--tls-cert-file",
                                         (pki / "eqm-server.crt").string(),
                                         "--tls-key-file",
                                         (pki / "eqm-server.key").string()};
        if (std::filesystem::exists(pki / ("gw-" + city + ".crt"))) {
            argv[argv.size() - 3] = (pki / ("gw-" + city + ".crt")).string();
            argv[argv.size() - 1] = (pki / ("gw-" + city + ".key")).string();
        }
        if (!id.cert_file.empty()) {
            argv.insert(argv.end(), {"--central-mqtt-cert-file", id.cert_file.string(),
                                     "--central-mqtt-key-file", id.key_file.string()});
        }
        process_ = std::make_unique<child_process>(process_options{
            .argv = argv,
            .env = {},
            .stdout_path = log_path(),
            .stderr_path = {},
            .working_dir = {},
        });
        const bool up = eqm::test::wait_until([this] { return health().is_object(); },
                                              start_timeout, std::chrono::milliseconds{100});
        if (!up) throw std::runtime_error("eqm-gateway did not serve HTTPS:\n" + log());
    }

    std::filesystem::path log_path() const {
        return central_.dir() / ("gateway-" + city_ + ".log");
    }
    std::string log() const { return eqm::test::read_file(log_path()); }

    /// GET /healthz over HTTPS, checked against the region CA; discarded when it fails.
    json health() const {
        try {
            const auto r = eqm_test::https_once(
                http_port_, {central_.pki() / "ca.crt", "localhost"}, "GET", "/healthz");
            return r.status == 200 ? json::parse(r.body, nullptr, false)
                                   : json(json::value_t::discarded);
        } catch (const std::exception&) {
            return json::value_t::discarded;
        }
    }

    bool central_connected() const {
        const auto h = health();
        return h.is_object() && h.value("central_mqtt", false);
    }

  private:
    const locked_central_broker& central_;
    std::string city_;
    mosquitto_broker local_;
    std::uint16_t http_port_;
    std::unique_ptr<child_process> process_;
};

gateway_identity region_identity(const locked_central_broker& central, const std::string& city) {
    return {central.pki() / ("gw-" + city + ".crt"), central.pki() / ("gw-" + city + ".key")};
}

}  // namespace

TEST_CASE("a gateway reaches the server over TLS, and HTTPS, WSS and the CLI over HTTPS work",
          "[broker_acl][tls]") {
    locked_central_broker central({"450100", "450200"});
    tls_server server(central);
    // The feed is open before the gateway starts, so the gateway's arrival comes through it.
    eqm_test::wss_client feed(server.port(), server.peer(),
                              "/api/v1/events?token=" + server.token());
    tls_gateway nanning(central, "450100", region_identity(central, "450100"));

    bool announced = false;
    while (!announced) {
        const auto m = feed.next(std::chrono::milliseconds{effect_timeout});
        if (!m) break;
        const auto j = json::parse(*m, nullptr, false);
        announced = j.value("type", "") == "gateway" && j["city"].value("code", "") == "450100" &&
                    j["city"].value("online", false);
    }
    INFO(server.log() + nanning.log());
    CHECK(announced);
    CHECK(server.city_online("450100"));
    CHECK(nanning.central_connected());

    // The CLI logs in over HTTPS with the region CA, and keeps using it.
    eqm::test::temp_dir home("eqm-cli-home");
    const std::vector<std::pair<std::string, std::string>> env = {
        {"XDG_CONFIG_HOME", home.path().string()}, {"EQM_SERVER", ""}, {"EQM_CA_FILE", ""}};
    const auto cli = [&](const std::string& args) {
        child_process p(process_options{
            .argv = {"bash", "-c", "printf '%s\\n' \"$1\" | \"$2\" " + args, "-", admin_password,
                     EQM_CLI_BINARY},
            .env = env,
            .stdout_path = home / "cli.out",
            .stderr_path = {},
            .working_dir = {},
        });
        const auto code = p.wait_for_exit(std::chrono::milliseconds{15000});
        return std::make_pair(code.value_or(-1), eqm::test::read_file(home / "cli.out"));
    };
    const auto ca = (central.pki() / "ca.crt").string();
    const auto login = cli("--server " + server.url() + " --ca-file " + ca + " login --name admin");
    INFO(login.second);
    CHECK(login.first == 0);
    const auto listed = cli("--json devices list");
    INFO(listed.second);
    CHECK(listed.first == 0);
    // Without the region CA the CLI does not trust the server, and says what to do.
    eqm::test::temp_dir fresh("eqm-cli-fresh");
    child_process untrusting(process_options{
        .argv = {EQM_CLI_BINARY, "--server", server.url(), "devices", "list"},
        .env = {{"XDG_CONFIG_HOME", fresh.path().string()}, {"EQM_CA_FILE", ""}},
        .stdout_path = fresh / "cli.out",
        .stderr_path = {},
        .working_dir = {},
    });
    CHECK(untrusting.wait_for_exit(std::chrono::milliseconds{15000}) == 3);
    CHECK(eqm::test::read_file(fresh / "cli.out").find("--ca-file") != std::string::npos);
}

TEST_CASE("gateways with a certificate of another CA, or none, are refused by the central broker",
          "[broker_acl][tls]") {
    locked_central_broker central({"450100", "450200"});
    tls_server server(central);
    eqm::test::temp_dir other("eqm-other-ca");
    REQUIRE(eqm::test::run_program({std::string(EQM_SOURCE_DIR) + "/scripts/gen-region-pki",
                                    (other / "pki").string(), "--cities", "450200"},
                                   other.path())
                .exit_code == 0);
    // Liuzhou with a certificate of the right name from another CA; Guilin with none at all.
    tls_gateway impostor(central, "450200",
                         {other / "pki" / "gw-450200.crt", other / "pki" / "gw-450200.key"});
    tls_gateway bare(central, "450300", {});
    // Both tried and were turned down at the handshake (the broker logs why).
    const auto refused = [&](const tls_gateway& g) {
        const auto log = g.log();
        return log.find("connect to " + central.uri() + " failed") != std::string::npos ||
               log.find("connect to " + central.uri() + " timed out") != std::string::npos;
    };
    REQUIRE(
        eqm::test::wait_until([&] { return refused(impostor) && refused(bare); }, effect_timeout));
    CHECK(eqm::test::count_in_file(central.log_path(), "OpenSSL Error") >= 2);
    // Then a gateway with its region certificate gets through: whatever the refused ones sent
    // would have reached the server before it.
    tls_gateway nanning(central, "450100", region_identity(central, "450100"));
    REQUIRE(eqm::test::wait_until([&] { return server.city_online("450100"); }, effect_timeout));
    INFO(impostor.log() + bare.log());
    CHECK_FALSE(impostor.central_connected());
    CHECK_FALSE(bare.central_connected());
    CHECK_FALSE(server.city_online("450200"));
    CHECK_FALSE(server.city_online("450300"));
}

TEST_CASE("Nanning's certificate cannot publish to Liuzhou's topics: the server never sees it",
          "[broker_acl][tls]") {
    locked_central_broker central({"450100", "450200"});
    tls_server server(central);
    const auto nanning = central.login("gw-450100");
    const auto at = central.endpoint();
    eqm::test::publish(at, nanning, "eqm/v1/city/450200/gw/state", birth("gw-450200"), true);
    eqm::test::publish(
        at, nanning, "eqm/v1/city/450200/gw/events",
        R"({"ts":"2026-01-01T08:00:00.000Z","gw_id":"gw-450200","bd_seq":1,"events":[]})");
    // Then Nanning's own birth: once the server has it, it has seen everything sent before.
    REQUIRE(eqm::test::publish(at, nanning, "eqm/v1/city/450100/gw/state", birth("gw-450100"),
                               true) == 0);
    REQUIRE(eqm::test::wait_until([&] { return server.city_online("450100"); }, effect_timeout));
    CHECK_FALSE(server.city_online("450200"));
    for (const auto& c : city_list(server.https("GET", "/api/v1/cities", {}))) {
        if (c.value("code", "") != "450200") continue;
        INFO(c.dump());
        CHECK(c.value("applied_seq", 0) == 0);
    }
}
