// What a client from outside can make the server hold: connections, request bodies, and the
// label values of the request counter. Real sockets, no mocks.
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eqm/http/metrics.hpp"
#include "eqm/http/server.hpp"
#include "test_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::response;
using namespace std::chrono_literals;

namespace {

response body_size(const request& req) {
    return response::text(200, std::to_string(req.body.size()));
}

std::string metrics_of(const eqm::http::server& srv) {
    eqm::http::prometheus_writer w;
    srv.write_metrics(w);
    return w.take();
}

double open_connections(const eqm::http::server& srv) {
    return eqm_test::metric_value(metrics_of(srv), "eqm_http_connections");
}

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
const eqm_test::headers with_token{{"Authorization", "Bearer some-token"}};

}  // namespace

TEST_CASE("a client without credentials cannot make the server buffer more than 64 KiB",
          "[limits]") {
    eqm::http::router routes;
    routes.add(method::post, "/api/v1/devices", body_size);
    auto srv = eqm_test::start_server(std::move(routes));
    const auto port = srv->port();

    CHECK(eqm_test::http_once(port, "POST", "/api/v1/devices", std::string(64 * kib, 'a')).body ==
          "65536");
    auto over =
        eqm_test::http_once(port, "POST", "/api/v1/devices", std::string(64 * kib + 1, 'a'));
    CHECK(over.status == 413);
    CHECK(over.header("Content-Type") == "application/problem+json");
    // Credentials alone do not raise the limit: the route has to take big bodies.
    CHECK(eqm_test::http_once(port, "POST", "/api/v1/devices", std::string(512 * kib, 'a'),
                              with_token)
              .status == 413);
    // Nor does an unknown path.
    CHECK(eqm_test::http_once(port, "POST", "/nowhere", std::string(512 * kib, 'a'), with_token)
              .status == 413);
}

TEST_CASE("a route that takes big bodies reads them only from requests with credentials",
          "[limits]") {
    eqm::http::router routes;
    routes.add(method::post, "/api/v1/devices/import", body_size,
               eqm::http::route_options{.body_limit = 4 * mib});
    routes.add_async(
        method::post, "/api/v1/allocation/plan",
        [](request req, eqm::http::responder reply) { reply(body_size(req)); },
        eqm::http::route_options{.body_limit = 4 * mib});
    auto srv = eqm_test::start_server(std::move(routes));
    const auto port = srv->port();
    const std::string two_mib(2 * mib, 'c');

    CHECK(eqm_test::http_once(port, "POST", "/api/v1/devices/import", two_mib, with_token).body ==
          std::to_string(two_mib.size()));
    CHECK(eqm_test::http_once(port, "POST", "/api/v1/allocation/plan", two_mib, with_token).body ==
          std::to_string(two_mib.size()));
    CHECK(eqm_test::http_once(port, "POST", "/api/v1/devices/import", two_mib).status == 413);
    CHECK(eqm_test::http_once(port, "POST", "/api/v1/devices/import", std::string(4 * mib + 1, 'c'),
                              with_token)
              .status == 413);
}

TEST_CASE("an oversized body is refused from its header, before it is sent", "[limits]") {
    eqm::http::router routes;
    routes.add(method::post, "/api/v1/devices/import", body_size,
               eqm::http::route_options{.body_limit = 4 * mib});
    auto srv = eqm_test::start_server(std::move(routes));

    // Content-Length announces 1 GiB; the answer comes at once, with only the header sent.
    auto r = eqm_test::raw_exchange(srv->port(),
                                    "POST /api/v1/devices/import HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer t\r\nContent-Length: 1073741824\r\n\r\n",
                                    5s);
    CHECK(r.text.starts_with("HTTP/1.1 413 "));
    CHECK(r.closed);

    // A chunked body is counted as it arrives.
    std::string chunked =
        "POST /api/v1/devices/import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk(16 * kib, 'z');
    for (int i = 0; i < 8; ++i) chunked += "4000\r\n" + chunk + "\r\n";
    chunked += "0\r\n\r\n";
    auto c = eqm_test::raw_exchange(srv->port(), chunked, 5s);
    CHECK(c.text.starts_with("HTTP/1.1 413 "));
}

TEST_CASE("connections beyond the limit are refused while those in progress are served",
          "[limits]") {
    eqm::http::ws_hub hub;
    eqm::http::router routes;
    routes.add(method::get, "/ok", [](const request&) { return response::text(200, "fine"); });
    routes.add_websocket("/api/v1/events", hub);
    auto options = eqm_test::test_options();
    options.max_connections = 4;
    auto srv = eqm_test::start_server(std::move(routes), options);
    const auto port = srv->port();

    // Two idle HTTP connections and two WebSocket clients take every place.
    std::vector<std::unique_ptr<eqm_test::http_connection>> idle;
    idle.push_back(std::make_unique<eqm_test::http_connection>(port));
    idle.push_back(std::make_unique<eqm_test::http_connection>(port));
    eqm_test::ws_client ws1(port, "/api/v1/events");
    eqm_test::ws_client ws2(port, "/api/v1/events");
    REQUIRE(eqm_test::eventually([&] { return open_connections(*srv) == 4; }, 5s));

    // The fifth is answered 503 (or cut) at once, and is not counted.
    const auto refused = eqm_test::raw_exchange(port, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 5s);
    CHECK(refused.closed);
    CHECK(refused.text.find(" 200 ") == std::string::npos);
    if (!refused.text.empty()) CHECK(refused.text.starts_with("HTTP/1.1 503 "));
    CHECK(open_connections(*srv) == 4);
    CHECK(eqm_test::metric_value(metrics_of(*srv), "eqm_http_connections_refused_total") == 1);

    // The connections already open keep working.
    CHECK(idle[0]->request("GET", "/ok").status == 200);
    CHECK(hub.broadcast("hello") == 2);
    CHECK(ws1.next(5s) == "hello");

    // A place that frees up is taken by the next client.
    idle.clear();
    REQUIRE(eqm_test::eventually([&] { return open_connections(*srv) == 2; }, 5s));
    CHECK(eqm_test::http_once(port, "GET", "/ok").status == 200);
}

TEST_CASE("the method label takes only the methods the server routes, the rest is other",
          "[limits][metrics]") {
    eqm::http::router routes;
    routes.add(method::get, "/ok", [](const request&) { return response::text(200, "fine"); });
    auto srv = eqm_test::start_server(std::move(routes));
    for (const std::string m : {"FOO1", "FOO2", "get", "BREW"}) {
        auto r = eqm_test::raw_exchange(srv->port(), m + " /ok HTTP/1.1\r\nHost: x\r\n\r\n", 5s);
        CHECK(r.text.starts_with("HTTP/1.1 501 "));
    }
    CHECK(eqm_test::http_once(srv->port(), "GET", "/ok").status == 200);

    const auto text = metrics_of(*srv);
    CHECK(text.find("FOO") == std::string::npos);
    CHECK(text.find("BREW") == std::string::npos);
    CHECK(text.find("method=\"get\"") == std::string::npos);
    CHECK(eqm_test::metric_value(
              text,
              "eqm_http_requests_total{route=\"unmatched\",method=\"other\",status=\"501\"}") == 4);
    CHECK(eqm_test::metric_value(
              text, "eqm_http_requests_total{route=\"/ok\",method=\"GET\",status=\"200\"}") == 1);
}
