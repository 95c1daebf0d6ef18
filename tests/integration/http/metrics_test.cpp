// The Prometheus text writer, and the per-route counters the server keeps.
#include "eqm/http/metrics.hpp"

#include <catch2/catch.hpp>

#include "eqm/http/server.hpp"
#include "test_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::response;

TEST_CASE("counters and gauges get HELP and TYPE once per family, with escaped labels",
          "[metrics]") {
    eqm::http::prometheus_writer w;
    w.counter("eqm_checkouts_total", "Check-outs\nby city", 3, {{"city", "450100"}})
        .counter("eqm_checkouts_total", "ignored the second time", 4, {{"city", "a\"b\\c\nd"}})
        .gauge("eqm_devices", "Devices", 12.5);
    CHECK(w.text() ==
          "# HELP eqm_checkouts_total Check-outs\\nby city\n"
          "# TYPE eqm_checkouts_total counter\n"
          "eqm_checkouts_total{city=\"450100\"} 3\n"
          "eqm_checkouts_total{city=\"a\\\"b\\\\c\\nd\"} 4\n"
          "# HELP eqm_devices Devices\n"
          "# TYPE eqm_devices gauge\n"
          "eqm_devices 12.5\n");
}

TEST_CASE("histograms are written cumulative with +Inf, sum and count", "[metrics]") {
    eqm::http::prometheus_writer w;
    w.histogram("eqm_latency_seconds", "Latency", {{0.1, 1}, {2, 1, 3}, 7.5, 6}, {{"route", "/x"}});
    CHECK(w.take() ==
          "# HELP eqm_latency_seconds Latency\n"
          "# TYPE eqm_latency_seconds histogram\n"
          "eqm_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
          "eqm_latency_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
          "eqm_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 6\n"
          "eqm_latency_seconds_sum{route=\"/x\"} 7.5\n"
          "eqm_latency_seconds_count{route=\"/x\"} 6\n");
    CHECK(w.text().empty());
}

TEST_CASE("the server counts requests per route pattern, method and status", "[metrics]") {
    eqm::http::router routes;
    routes.add(method::get, "/api/v1/devices/{id}",
               [](const request&) { return response::json(200, "{}"); });
    auto srv = eqm_test::start_server(std::move(routes));
    eqm_test::http_once(srv->port(), "GET", "/api/v1/devices/a");
    eqm_test::http_once(srv->port(), "GET", "/api/v1/devices/b");
    eqm_test::http_once(srv->port(), "GET", "/nowhere");

    eqm::http::prometheus_writer w;
    srv->write_metrics(w);
    const auto& t = w.text();
    CHECK(t.find("eqm_http_requests_total{route=\"/api/v1/devices/"
                 "{id}\",method=\"GET\",status=\"200\"} 2\n") != std::string::npos);
    CHECK(
        t.find("eqm_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n") !=
        std::string::npos);
    CHECK(t.find("eqm_http_request_duration_seconds_count{route=\"/api/v1/devices/"
                 "{id}\",method=\"GET\"} 2\n") != std::string::npos);
    CHECK(t.find("# TYPE eqm_http_connections gauge\n") != std::string::npos);
}
