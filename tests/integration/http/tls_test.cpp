// HTTPS and WSS on one port, with the certificates scripts/gen-region-pki makes, against clients
// that verify them. Real sockets and real OpenSSL on both sides.
#include <openssl/ssl.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "eqm/http/metrics.hpp"
#include "eqm/http/server.hpp"
#include "test_client.hpp"
#include "tls_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::response;
using namespace std::chrono_literals;

namespace {

eqm::http::server_options tls_options(const eqm_test::region_pki& pki,
                                      const std::string& name = "eqm-server") {
    auto o = eqm_test::test_options();
    o.tls = eqm::http::tls_files{pki.cert(name).string(), pki.key(name).string()};
    return o;
}

eqm::http::router echo_routes() {
    eqm::http::router routes;
    routes.add(
        method::post, "/api/v1/devices/import",
        [](const request& req) {
            return response::json(200, nlohmann::json{{"bytes", req.body.size()}}.dump());
        },
        eqm::http::route_options{.body_limit = 4 << 20});
    routes.add(method::get, "/healthz", [](const request&) { return response::text(200, "ok"); });
    return routes;
}

}  // namespace

TEST_CASE("HTTPS serves requests to clients that verify the certificate", "[tls]") {
    const auto& pki = eqm_test::test_pki();
    auto srv = eqm_test::start_server(echo_routes(), tls_options(pki));
    const eqm_test::tls_peer by_ip{pki.ca(), "127.0.0.1"};
    const eqm_test::tls_peer by_name{pki.ca(), "localhost"};

    auto r = eqm_test::https_once(srv->port(), by_ip, "GET", "/healthz");
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    CHECK(eqm_test::https_once(srv->port(), by_name, "GET", "/healthz").status == 200);

    // A big body over TLS, with credentials, on the route that takes one; and a refusal that
    // still reaches the client before the close.
    const std::string csv(3 << 20, 'x');
    auto big = eqm_test::https_once(srv->port(), by_ip, "POST", "/api/v1/devices/import", csv,
                                    {{"Authorization", "Bearer t"}});
    CHECK(big.status == 200);
    CHECK(nlohmann::json::parse(big.body)["bytes"] == csv.size());
    CHECK(eqm_test::https_once(srv->port(), by_ip, "POST", "/api/v1/devices/import", csv).status ==
          413);

    // A client that trusts another CA, or expects another name, refuses the server.
    const eqm_test::tls_peer stranger{eqm_test::test_pki(true).ca(), "127.0.0.1"};
    CHECK_THROWS(eqm_test::https_once(srv->port(), stranger, "GET", "/healthz"));
    CHECK_THROWS(
        eqm_test::https_once(srv->port(), {pki.ca(), "central.example"}, "GET", "/healthz"));
}

TEST_CASE("WSS is served on the HTTPS port", "[tls][websocket]") {
    const auto& pki = eqm_test::test_pki();
    eqm::http::ws_hub hub;
    auto routes = echo_routes();
    routes.add_websocket("/api/v1/events", hub, [](const request& req) {
        if (req.query_param("token") != "good")
            return eqm::result<eqm::http::ws_filter>(
                eqm::fail(eqm::errc::unauthorized, "token", "a valid token is required"));
        return eqm::result<eqm::http::ws_filter>(eqm::http::ws_filter{});
    });
    auto srv = eqm_test::start_server(std::move(routes), tls_options(pki));
    const eqm_test::tls_peer peer{pki.ca(), "127.0.0.1"};

    CHECK_THROWS(eqm_test::wss_client(srv->port(), peer, "/api/v1/events?token=bad"));
    eqm_test::wss_client client(srv->port(), peer, "/api/v1/events?token=good");
    REQUIRE(eqm_test::eventually([&] { return hub.stats().connections == 1; }, 5s));
    CHECK(hub.broadcast("{\"kind\":\"custody\"}") == 1);
    CHECK(client.next() == "{\"kind\":\"custody\"}");
    // HTTP goes on alongside on the same port.
    CHECK(eqm_test::https_once(srv->port(), peer, "GET", "/healthz").status == 200);
}

TEST_CASE("HTTPS refuses TLS below 1.2 and plain HTTP on its port", "[tls]") {
    const auto& pki = eqm_test::test_pki();
    auto srv = eqm_test::start_server(echo_routes(), tls_options(pki));
    const eqm_test::tls_peer peer{pki.ca(), "127.0.0.1"};

    CHECK(eqm_test::tls_handshake_succeeds(srv->port(), peer, TLS1_3_VERSION));
    CHECK(eqm_test::tls_handshake_succeeds(srv->port(), peer, TLS1_2_VERSION));
    CHECK_FALSE(eqm_test::tls_handshake_succeeds(srv->port(), peer, TLS1_1_VERSION));
    CHECK_FALSE(eqm_test::tls_handshake_succeeds(srv->port(), peer, TLS1_VERSION));

    // Plain HTTP gets no answer in clear text and the connection is closed promptly.
    auto plain =
        eqm_test::raw_exchange(srv->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 5s);
    CHECK(plain.closed);
    CHECK(plain.text.find("ok") == std::string::npos);
    eqm::http::prometheus_writer w;
    srv->write_metrics(w);
    CHECK(eqm_test::metric_value(w.text(), "eqm_http_tls_handshake_failures_total") >= 3);
}

TEST_CASE("start refuses certificate and key files it cannot use, naming the option", "[tls]") {
    const auto& pki = eqm_test::test_pki();
    const auto& other = eqm_test::test_pki(true);
    struct bad_case {
        std::string cert, key, field, says;
    };
    const auto cert = pki.cert("eqm-server").string();
    const auto key = pki.key("eqm-server").string();
    for (const auto& c : std::vector<bad_case>{
             {"/nonexistent/server.crt", key, "tls_cert_file", "does not exist"},
             {cert, "/nonexistent/server.key", "tls_key_file", "does not exist"},
             {key, key, "tls_cert_file", "not a PEM certificate"},
             {cert, cert, "tls_key_file", "not a PEM private key"},
             {cert, other.key("eqm-server").string(), "tls_key_file", "not the key of"},
         }) {
        auto o = eqm_test::test_options();
        o.tls = eqm::http::tls_files{c.cert, c.key};
        eqm::http::server srv(o, eqm::http::router{});
        auto started = srv.start();
        REQUIRE_FALSE(started);
        CHECK(started.error().code == eqm::errc::bad_field);
        CHECK(started.error().field == c.field);
        CHECK(started.error().message.find(c.says) != std::string::npos);
        CHECK(srv.port() == 0);
    }
}
