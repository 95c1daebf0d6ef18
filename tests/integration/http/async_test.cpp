// Async handlers: answers from other threads, the timeout, exceptions, and late answers.
#include <catch2/catch.hpp>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "eqm/http/server.hpp"
#include "test_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::responder;
using eqm::http::response;
using namespace std::chrono_literals;

namespace {

/// Threads started by handlers, joined when the test ends (even on failure).
struct worker_threads {
    std::mutex mutex;
    std::vector<std::thread> threads;
    void spawn(std::function<void()> f) {
        std::lock_guard lock(mutex);
        threads.emplace_back(std::move(f));
    }
    ~worker_threads() {
        for (auto& t : threads) t.join();
    }
};

std::string problem_type(const eqm_test::http_reply& r) {
    auto b = nlohmann::json::parse(r.body, nullptr, false);
    return b.is_object() ? b.value("type", "") : "";
}

}  // namespace

TEST_CASE("an async handler answers from another thread after a delay", "[async]") {
    worker_threads workers;
    eqm::http::router routes;
    routes.add_async(
        method::post, "/api/v1/devices/{id}/checkout", [&](request req, responder reply) {
            workers.spawn([req = std::move(req), reply] {
                std::this_thread::sleep_for(200ms);
                reply(response::json(200, R"({"id":")" + std::string{req.path_param("id")} +
                                              R"(","body":)" + req.body + "}"));
            });
        });
    routes.add(method::get, "/healthz", [](const request&) { return response::text(200, "ok"); });
    auto srv = eqm_test::start_server(std::move(routes));

    eqm_test::http_connection conn(srv->port());
    const auto start = std::chrono::steady_clock::now();
    auto r = conn.request("POST", "/api/v1/devices/cam-9/checkout", R"({"badge":"B7"})");
    CHECK(std::chrono::steady_clock::now() - start >= 200ms);
    REQUIRE(r.status == 200);
    CHECK(r.body == R"({"id":"cam-9","body":{"badge":"B7"}})");
    // The session went back to reading: the same connection serves the next request.
    CHECK(conn.request("GET", "/healthz").body == "ok");
}

TEST_CASE("a responder that is never called gives 504 after the handler timeout", "[async]") {
    std::promise<responder> kept;
    eqm::http::router routes;
    routes.add_async(method::get, "/api/v1/slow",
                     [&](request, responder reply) { kept.set_value(reply); });
    routes.add(method::get, "/healthz", [](const request&) { return response::text(200, "ok"); });
    auto options = eqm_test::test_options();
    options.handler_timeout = 300ms;
    auto srv = eqm_test::start_server(std::move(routes), options);

    eqm_test::http_connection conn(srv->port());
    const auto start = std::chrono::steady_clock::now();
    auto r = conn.request("GET", "/api/v1/slow");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 504);
    CHECK(problem_type(r) == "urn:eqm:problem:gateway_timeout");
    CHECK(elapsed >= 300ms);
    CHECK(elapsed < 3s);

    // Answering late is harmless: it reports that it was too late and nothing is sent.
    auto late = kept.get_future().get();
    CHECK(late.answered());
    CHECK_FALSE(late(response::text(200, "too late")));
    CHECK(conn.request("GET", "/healthz").body == "ok");
}

TEST_CASE("a responder dropped without being called also gives 504", "[async]") {
    eqm::http::router routes;
    routes.add_async(method::get, "/api/v1/forgotten", [](request, responder) {});
    auto options = eqm_test::test_options();
    options.handler_timeout = 200ms;
    auto srv = eqm_test::start_server(std::move(routes), options);
    CHECK(eqm_test::http_once(srv->port(), "GET", "/api/v1/forgotten").status == 504);
}

TEST_CASE("an async handler that throws before answering gives 500", "[async]") {
    eqm::http::router routes;
    routes.add_async(method::get, "/api/v1/broken",
                     [](request, responder) { throw std::logic_error("nope"); });
    routes.add(method::get, "/healthz", [](const request&) { return response::text(200, "ok"); });
    auto srv = eqm_test::start_server(std::move(routes));
    eqm_test::http_connection conn(srv->port());
    auto r = conn.request("GET", "/api/v1/broken");
    CHECK(r.status == 500);
    CHECK(problem_type(r) == "urn:eqm:problem:internal");
    CHECK(conn.request("GET", "/healthz").status == 200);
}

TEST_CASE("only the first of several answers is sent", "[async]") {
    eqm::http::router routes;
    std::atomic<int> accepted{0};
    routes.add_async(method::get, "/api/v1/twice", [&](request, responder reply) {
        auto copy = reply;
        accepted += copy(response::text(200, "first")) ? 1 : 0;
        accepted += reply(response::text(200, "second")) ? 1 : 0;
    });
    auto srv = eqm_test::start_server(std::move(routes));
    auto r = eqm_test::http_once(srv->port(), "GET", "/api/v1/twice");
    CHECK(r.body == "first");
    CHECK(accepted == 1);
}

TEST_CASE("a responder called after the server is gone does nothing and does not crash",
          "[async]") {
    std::promise<responder> kept;
    std::promise<void> asked;
    eqm::http::router routes;
    routes.add_async(method::get, "/api/v1/pending", [&](request, responder reply) {
        kept.set_value(reply);
        asked.set_value();
    });
    auto options = eqm_test::test_options();
    options.shutdown_grace = 100ms;
    auto srv = eqm_test::start_server(std::move(routes), options);

    std::thread client([port = srv->port()] {
        try {
            eqm_test::http_once(port, "GET", "/api/v1/pending");
        } catch (...) {
            // The server goes away mid-request: the connection is cut, which is the point.
        }
    });
    asked.get_future().wait();
    srv.reset();  // stop + destroy while the request is still waiting
    client.join();
    auto reply = kept.get_future().get();
    CHECK_FALSE(reply(response::text(200, "after the end")));
}
