// Routing, problems, limits and keep-alive over real sockets.
#include <catch2/catch.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "eqm/http/problem.hpp"
#include "eqm/http/server.hpp"
#include "test_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::response;
using nlohmann::json;

namespace {

response echo(const request& req) {
    json out{{"method", eqm::http::to_string(req.method)}, {"path", req.path}};
    out["params"] = json(req.path_params);
    out["query"] = json(req.query);
    out["authorization"] = std::string{req.header("authorization")};
    out["body"] = req.body;
    return response::json(200, out.dump());
}

json body_of(const eqm_test::http_reply& r) {
    return json::parse(r.body, nullptr, false);
}

}  // namespace

TEST_CASE("path parameters and query parameters reach the handler decoded", "[routing]") {
    eqm::http::router routes;
    routes.add(method::get, "/api/v1/devices/{id}/custody", echo);
    routes.add(method::post, "/api/v1/devices/{id}/checkout", echo);
    auto srv = eqm_test::start_server(std::move(routes));

    auto r = eqm_test::http_once(
        srv->port(), "GET",
        "/api/v1/devices/cam%2D01/custody?city=450100&class=drone&note=a%20b+c&city=999999", {},
        {{"Authorization", "Bearer t0k"}});
    REQUIRE(r.status == 200);
    auto b = body_of(r);
    CHECK(b["params"]["id"] == "cam-01");
    CHECK(b["query"]["city"] == "450100");  // the first occurrence wins
    CHECK(b["query"]["class"] == "drone");
    CHECK(b["query"]["note"] == "a b c");
    CHECK(b["authorization"] == "Bearer t0k");

    auto p = eqm_test::http_once(srv->port(), "POST", "/api/v1/devices/drone-7/checkout",
                                 R"({"badge":"B1"})");
    REQUIRE(p.status == 200);
    CHECK(body_of(p)["params"]["id"] == "drone-7");
    CHECK(body_of(p)["body"] == R"({"badge":"B1"})");
}

TEST_CASE("a literal segment beats a parameter at the same place", "[routing]") {
    eqm::http::router routes;
    routes.add(method::get, "/api/v1/devices/{id}", [](const request& req) {
        return response::text(200, "device " + std::string{req.path_param("id")});
    });
    routes.add(method::get, "/api/v1/devices/summary",
               [](const request&) { return response::text(200, "summary"); });
    auto srv = eqm_test::start_server(std::move(routes));

    CHECK(eqm_test::http_once(srv->port(), "GET", "/api/v1/devices/summary").body == "summary");
    CHECK(eqm_test::http_once(srv->port(), "GET", "/api/v1/devices/cam-1").body == "device cam-1");
    CHECK(eqm_test::http_once(srv->port(), "GET", "/api/v1/devices/cam-1/").body == "device cam-1");
}

TEST_CASE("unknown paths get a 404 problem and wrong methods a 405 problem with Allow",
          "[routing]") {
    eqm::http::router routes;
    routes.add(method::get, "/api/v1/devices/{id}/checkout", echo);
    routes.add(method::post, "/api/v1/devices/{id}/checkout", echo);
    auto srv = eqm_test::start_server(std::move(routes));

    auto nf = eqm_test::http_once(srv->port(), "GET", "/api/v1/nothing/here");
    CHECK(nf.status == 404);
    CHECK(nf.header("Content-Type") == "application/problem+json");
    auto nfb = body_of(nf);
    CHECK(nfb["type"] == "urn:eqm:problem:not_found");
    CHECK(nfb["status"] == 404);
    CHECK(nfb["detail"].get<std::string>().find("/api/v1/nothing/here") != std::string::npos);

    auto na = eqm_test::http_once(srv->port(), "DELETE", "/api/v1/devices/cam-1/checkout");
    CHECK(na.status == 405);
    CHECK(na.header("Allow") == "GET, POST");
    CHECK(body_of(na)["type"] == "urn:eqm:problem:method_not_allowed");

    auto bad = eqm_test::http_once(srv->port(), "GET", "/api/v1/devices/%zz/checkout");
    CHECK(bad.status == 400);
    CHECK(body_of(bad)["type"] == "urn:eqm:problem:bad_request");
}

TEST_CASE("every error code maps to its status and problem type through a handler", "[problem]") {
    using eqm::errc;
    auto [code, status] = GENERATE(table<errc, unsigned>({
        {errc::bad_json, 400},           {errc::bad_field, 400},
        {errc::unknown_field, 400},      {errc::too_large, 413},
        {errc::unauthorized, 401},       {errc::forbidden, 403},
        {errc::not_found, 404},          {errc::conflict, 409},
        {errc::invalid_transition, 409}, {errc::not_holder, 409},
        {errc::battery_low, 409},        {errc::calibration_expired, 409},
        {errc::footage_pending, 409},    {errc::locked, 409},
        {errc::in_maintenance, 409},     {errc::reserved_for_other, 409},
        {errc::unregistered, 409},       {errc::badge_unknown, 409},
        {errc::badge_not_allowed, 409},  {errc::unavailable, 503},
        {errc::internal, 500},           {errc::ledger_broken, 500},
    }));
    eqm::http::router routes;
    routes.add(method::post, "/api/v1/devices/{id}/checkout", [code = code](const request&) {
        return eqm::http::problem_response(eqm::error{code, "badge", "refused for the test"});
    });
    auto srv = eqm_test::start_server(std::move(routes));

    auto r = eqm_test::http_once(srv->port(), "POST", "/api/v1/devices/cam-1/checkout", "{}");
    CHECK(r.status == status);
    CHECK(r.header("Content-Type") == "application/problem+json");
    auto b = body_of(r);
    CHECK(b["type"] == "urn:eqm:problem:" + std::string{eqm::to_string(code)});
    CHECK(b["status"] == status);
    CHECK(b["detail"] == "refused for the test");
    CHECK(b["field"] == "badge");
    CHECK(!b["title"].get<std::string>().empty());
}

TEST_CASE("a body over the limit gets 413 and one under it is served", "[limits]") {
    eqm::http::router routes;
    routes.add(method::post, "/api/v1/devices", echo);
    auto options = eqm_test::test_options();
    options.body_limit = 1024;
    auto srv = eqm_test::start_server(std::move(routes), options);

    auto big =
        eqm_test::http_once(srv->port(), "POST", "/api/v1/devices", std::string(64 * 1024, 'x'));
    CHECK(big.status == 413);
    CHECK(body_of(big)["type"] == "urn:eqm:problem:too_large");

    auto small =
        eqm_test::http_once(srv->port(), "POST", "/api/v1/devices", std::string(1000, 'y'));
    CHECK(small.status == 200);
}

TEST_CASE("the default body limit is 64 KiB", "[limits]") {
    eqm::http::router routes;
    routes.add(method::post, "/api/v1/devices", [](const request& req) {
        return response::text(200, std::to_string(req.body.size()));
    });
    auto srv = eqm_test::start_server(std::move(routes));
    CHECK(eqm_test::http_once(srv->port(), "POST", "/api/v1/devices", std::string(64 << 10, 'a'))
              .body == "65536");
    CHECK(eqm_test::http_once(srv->port(), "POST", "/api/v1/devices",
                              std::string((64 << 10) + 1, 'a'))
              .status == 413);
}

TEST_CASE("a handler that throws gives 500, a log line, and the server keeps serving", "[errors]") {
    std::mutex log_mutex;
    std::vector<std::string> lines;
    auto options = eqm_test::test_options();
    options.log = [&](std::string_view line) {
        std::lock_guard lock(log_mutex);
        lines.emplace_back(line);
    };
    eqm::http::router routes;
    routes.add(method::get, "/boom",
               [](const request&) -> response { throw std::runtime_error("kaboom"); });
    routes.add(method::get, "/ok", [](const request&) { return response::text(200, "fine"); });
    auto srv = eqm_test::start_server(std::move(routes), options);

    eqm_test::http_connection conn(srv->port());
    auto r = conn.request("GET", "/boom");
    CHECK(r.status == 500);
    CHECK(body_of(r)["type"] == "urn:eqm:problem:internal");
    CHECK(r.body.find("kaboom") == std::string::npos);  // internals stay in the log
    CHECK(conn.request("GET", "/ok").body == "fine");   // same connection still works
    CHECK(eqm_test::http_once(srv->port(), "GET", "/ok").status == 200);

    std::lock_guard lock(log_mutex);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("kaboom") != std::string::npos);
}

TEST_CASE("several requests share one keep-alive connection", "[keepalive]") {
    std::mutex m;
    std::set<std::string> peers;
    eqm::http::router routes;
    routes.add(method::get, "/api/v1/cities/{n}", [&](const request& req) {
        std::lock_guard lock(m);
        peers.insert(req.remote_address);
        return response::text(200, std::string{req.path_param("n")});
    });
    auto srv = eqm_test::start_server(std::move(routes));

    eqm_test::http_connection conn(srv->port());
    for (int i = 0; i < 5; ++i) {
        auto r = conn.request("GET", "/api/v1/cities/" + std::to_string(i));
        CHECK(r.status == 200);
        CHECK(r.body == std::to_string(i));
        CHECK(r.header("Connection") != "close");
    }
    std::lock_guard lock(m);
    CHECK(peers.size() == 1);
}

TEST_CASE("listen addresses are parsed with clear errors", "[listen]") {
    SECTION("good") {
        auto [text, host, port] = GENERATE(table<std::string, std::string, unsigned>({
            {"127.0.0.1:8080", "127.0.0.1", 8080},
            {"0.0.0.0:0", "0.0.0.0", 0},
            {"[::1]:9000", "::1", 9000},
            {"localhost:80", "localhost", 80},
        }));
        auto a = eqm::http::parse_listen_address(text);
        REQUIRE(a);
        CHECK(a->host == host);
        CHECK(a->port == port);
    }
    SECTION("bad") {
        auto text = GENERATE(as<std::string>{}, "", "8080", "127.0.0.1", "127.0.0.1:", ":8080",
                             "127.0.0.1:http", "127.0.0.1:70000", "::1:80", "example.invalid:80",
                             "[::1]8080");
        auto a = eqm::http::parse_listen_address(text);
        REQUIRE_FALSE(a);
        CHECK(a.error().code == eqm::errc::bad_field);
        CHECK(a.error().field == "listen");
        CHECK(a.error().message.find("HOST:PORT") != std::string::npos);
    }
}

TEST_CASE("start reports an unparsable address and a port in use", "[listen]") {
    auto opts = eqm_test::test_options();
    opts.listen = "nonsense";
    eqm::http::server bad(opts, eqm::http::router{});
    auto r = bad.start();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == eqm::errc::bad_field);

    auto first = eqm_test::start_server(eqm::http::router{});
    REQUIRE(first->port() != 0);
    opts.listen = "127.0.0.1:" + std::to_string(first->port());
    eqm::http::server second(opts, eqm::http::router{});
    auto clash = second.start();
    REQUIRE_FALSE(clash);
    CHECK(clash.error().code == eqm::errc::unavailable);
    CHECK(clash.error().message.find("in use") != std::string::npos);
    CHECK(second.port() == 0);
}

TEST_CASE("stop closes idle keep-alive connections and the port stops answering", "[lifecycle]") {
    eqm::http::router routes;
    routes.add(method::get, "/ok", [](const request&) { return response::text(200, "fine"); });
    auto srv = eqm_test::start_server(std::move(routes));
    const auto port = srv->port();
    eqm_test::http_connection idle(port);
    REQUIRE(idle.request("GET", "/ok").status == 200);

    const auto before = std::chrono::steady_clock::now();
    srv->stop();
    // The idle connection was closed at once, not after the grace period.
    CHECK(std::chrono::steady_clock::now() - before < std::chrono::milliseconds{400});
    CHECK_THROWS(idle.request("GET", "/ok"));
    CHECK_THROWS(eqm_test::http_once(port, "GET", "/ok"));
}
