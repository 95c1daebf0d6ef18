// WebSocket upgrade, filtered broadcast, and dropping a client that does not read.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "eqm/http/metrics.hpp"
#include "eqm/http/server.hpp"
#include "test_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::response;
using eqm::http::ws_filter;
using eqm::http::ws_message;
using namespace std::chrono_literals;

namespace {

/// The accept hook a program would write: a token is required, `?city=` narrows the feed.
eqm::result<ws_filter> accept_events(const request& req) {
    auto token = req.query_param("token");
    if (!token || *token != "good")
        return eqm::fail(eqm::errc::unauthorized, "token", "a valid token is required");
    auto city = req.query_param("city");
    if (!city) return ws_filter{};
    return ws_filter{[c = std::string{*city}](const ws_message& m) {
        auto it = m.labels.find("city");
        return it != m.labels.end() && it->second == c;
    }};
}

std::vector<std::string> read_until(eqm_test::ws_client& c, const std::string& last) {
    std::vector<std::string> got;
    while (auto m = c.next()) {
        if (*m == last) break;
        got.push_back(*m);
    }
    return got;
}

}  // namespace

TEST_CASE("an upgrade without a valid token is refused with 401", "[websocket]") {
    eqm::http::ws_hub hub;
    eqm::http::router routes;
    routes.add_websocket("/api/v1/events", hub, accept_events);
    auto srv = eqm_test::start_server(std::move(routes));

    CHECK(eqm_test::ws_upgrade_status(srv->port(), "/api/v1/events") == 401);
    CHECK(eqm_test::ws_upgrade_status(srv->port(), "/api/v1/events?token=bad") == 401);
    CHECK(eqm_test::ws_upgrade_status(srv->port(), "/api/v1/events?token=good") == 101);
    auto plain = eqm_test::http_once(srv->port(), "GET", "/api/v1/events?token=good");
    CHECK(plain.status == 426);
    auto refused = eqm_test::http_once(srv->port(), "GET", "/api/v1/events", {},
                                       {{"Connection", "Upgrade"},
                                        {"Upgrade", "websocket"},
                                        {"Sec-WebSocket-Version", "13"},
                                        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
    CHECK(refused.header("Content-Type") == "application/problem+json");
    CHECK(nlohmann::json::parse(refused.body, nullptr, false)["field"] == "token");
    CHECK(hub.stats().connections_total == 1);
}

TEST_CASE("a broadcast reaches only the connections whose filter accepts it", "[websocket]") {
    eqm::http::ws_hub hub;
    eqm::http::router routes;
    routes.add_websocket("/api/v1/events", hub, accept_events);
    auto srv = eqm_test::start_server(std::move(routes));

    eqm_test::ws_client nanning(srv->port(), "/api/v1/events?token=good&city=450100");
    eqm_test::ws_client liuzhou(srv->port(), "/api/v1/events?token=good&city=450200");
    eqm_test::ws_client region(srv->port(), "/api/v1/events?token=good");
    REQUIRE(eqm_test::eventually([&] { return hub.stats().connections == 3; }));

    CHECK(hub.broadcast("n1", {{"city", "450100"}}) == 2);
    CHECK(hub.broadcast("l1", {{"city", "450200"}}) == 2);
    CHECK(hub.broadcast("g1", {{"city", "450300"}}) == 1);
    CHECK(hub.broadcast("n2", {{"city", "450100"}}) == 2);
    CHECK(hub.broadcast("end") == 1);  // unlabelled: only the unfiltered connection takes it
    CHECK(hub.broadcast("end", {{"city", "450100"}}) == 2);
    CHECK(hub.broadcast("end", {{"city", "450200"}}) == 2);

    CHECK(read_until(nanning, "end") == std::vector<std::string>{"n1", "n2"});
    CHECK(read_until(liuzhou, "end") == std::vector<std::string>{"l1"});
    CHECK(read_until(region, "end") == std::vector<std::string>{"n1", "l1", "g1", "n2"});
    CHECK(eqm_test::eventually(
        [&] { return hub.stats().messages_sent == 2 + 2 + 1 + 2 + 1 + 2 + 2; }));
}

TEST_CASE("a client that never reads is dropped while a fast client gets everything",
          "[websocket]") {
    eqm::http::ws_hub hub{eqm::http::ws_hub_options{.queue_limit = 8}};
    eqm::http::router routes;
    routes.add_websocket("/api/v1/events", hub);
    auto srv = eqm_test::start_server(std::move(routes));

    eqm_test::ws_client fast(srv->port(), "/api/v1/events");
    eqm_test::ws_client slow(srv->port(), "/api/v1/events", {}, /*reader=*/false);
    REQUIRE(eqm_test::eventually([&] { return hub.stats().connections == 2; }));

    // 64 KiB messages, paced by the fast client: its queue never holds more than one, while the
    // slow one's socket buffers fill and then its queue does.
    const std::string payload(64 * 1024, 'p');
    constexpr int max_messages = 2000;
    int sent = 0;
    bool fast_kept_up = true;
    for (; sent < max_messages && hub.stats().clients_dropped == 0; ++sent) {
        hub.broadcast(std::to_string(sent) + ":" + payload);
        auto m = fast.next(2000ms);
        if (!m || m->substr(0, m->find(':')) != std::to_string(sent)) {
            fast_kept_up = false;
            break;
        }
    }
    CHECK(fast_kept_up);
    REQUIRE(hub.stats().clients_dropped == 1);
    CHECK(sent < max_messages);
    CHECK(eqm_test::eventually([&] { return hub.stats().connections == 1; }));

    // The fast client keeps receiving after the drop, in order, with nothing missing.
    for (int i = 0; i < 20; ++i) {
        const int n = sent + i;
        CHECK(hub.broadcast(std::to_string(n) + ":tail") == 1);
        auto m = fast.next(2000ms);
        REQUIRE(m);
        CHECK(*m == std::to_string(n) + ":tail");
    }
    CHECK_FALSE(fast.closed());

    eqm::http::prometheus_writer w;
    hub.write_metrics(w);
    CHECK(w.text().find("eqm_ws_clients_dropped_total 1\n") != std::string::npos);
    CHECK(w.text().find("eqm_ws_connections 1\n") != std::string::npos);
}

TEST_CASE("stop sends WebSocket clients a close", "[websocket]") {
    eqm::http::ws_hub hub;
    eqm::http::router routes;
    routes.add_websocket("/api/v1/events", hub);
    auto srv = eqm_test::start_server(std::move(routes));
    eqm_test::ws_client client(srv->port(), "/api/v1/events");
    REQUIRE(eqm_test::eventually([&] { return hub.stats().connections == 1; }));
    srv->stop();
    CHECK(eqm_test::eventually([&] { return client.closed(); }));
    CHECK(hub.stats().connections == 0);
    CHECK(hub.broadcast("after stop") == 0);
}

TEST_CASE("close_where closes the connections its verdict names, with the code and reason",
          "[websocket]") {
    eqm::http::ws_hub hub;
    eqm::http::router routes;
    routes.add_websocket(
        "/api/v1/events", hub, [](const request& req) -> eqm::result<eqm::http::ws_admission> {
            auto who = req.query_param("user");
            return eqm::http::ws_admission{{}, {{"user", std::string(who.value_or(""))}}};
        });
    auto srv = eqm_test::start_server(std::move(routes));
    eqm_test::ws_client amy(srv->port(), "/api/v1/events?user=amy");
    eqm_test::ws_client bob(srv->port(), "/api/v1/events?user=bob");
    REQUIRE(eqm_test::eventually([&] { return hub.stats().connections == 2; }));

    const auto closed = hub.close_where([](const eqm::http::ws_labels& l) {
        return l.at("user") == "amy" ? std::optional<std::string>("the login has expired")
                                     : std::nullopt;
    });
    CHECK(closed == 1);
    REQUIRE(eqm_test::eventually([&] { return amy.closed(); }));
    auto frame = amy.close_frame();
    REQUIRE(frame);
    CHECK(frame->first == 1008);
    CHECK(frame->second == "the login has expired");
    CHECK(eqm_test::eventually([&] { return hub.stats().connections == 1; }));
    CHECK(hub.broadcast("still here") == 1);
    CHECK(bob.next() == std::optional<std::string>("still here"));
    CHECK_FALSE(bob.closed());
}
