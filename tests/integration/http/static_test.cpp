// Static files for dashboards and the kiosk page: types, index.html, and no way out of the root.
#include <catch2/catch.hpp>
#include <filesystem>

#include "eqm/http/server.hpp"
#include "test_client.hpp"

using eqm::http::method;
using eqm::http::request;
using eqm::http::response;

namespace {

struct site {
    eqm_test::temp_dir dir;
    std::filesystem::path root;
    std::unique_ptr<eqm::http::server> srv;

    site() : root(dir.path() / "www") {
        dir.write("www/index.html", "<h1>dashboard</h1>");
        dir.write("www/app.js", "console.log(1)");
        dir.write("www/style.css", "body{}");
        dir.write("www/data/cities.json", "[450100]");
        dir.write("www/logo.svg", "<svg/>");
        dir.write("www/kiosk/index.html", "<h1>kiosk</h1>");
        dir.write("www/.env", "TOKEN=hidden-dotfile");
        dir.write("secret.txt", "TOP-SECRET");
        std::filesystem::create_symlink(dir.path() / "secret.txt", root / "escape.txt");

        eqm::http::router routes;
        routes.add(method::get, "/api/v1/cities",
                   [](const request&) { return response::json(200, "[]"); });
        routes.serve_directory("/", root);
        srv = eqm_test::start_server(std::move(routes));
    }
};

}  // namespace

TEST_CASE("files are served with their content type and / gives index.html", "[static]") {
    site s;
    auto [target, type, body] = GENERATE(table<std::string, std::string, std::string>({
        {"/", "text/html; charset=utf-8", "<h1>dashboard</h1>"},
        {"/index.html", "text/html; charset=utf-8", "<h1>dashboard</h1>"},
        {"/app.js", "text/javascript; charset=utf-8", "console.log(1)"},
        {"/style.css", "text/css; charset=utf-8", "body{}"},
        {"/data/cities.json", "application/json", "[450100]"},
        {"/logo.svg", "image/svg+xml", "<svg/>"},
        {"/kiosk/", "text/html; charset=utf-8", "<h1>kiosk</h1>"},
        {"/kiosk", "text/html; charset=utf-8", "<h1>kiosk</h1>"},
    }));
    auto r = eqm_test::http_once(s.srv->port(), "GET", target);
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == type);
    CHECK(r.body == body);
}

TEST_CASE("routes win over static files and HEAD gives headers only", "[static]") {
    site s;
    CHECK(eqm_test::http_once(s.srv->port(), "GET", "/api/v1/cities").body == "[]");
    auto head = eqm_test::http_once(s.srv->port(), "HEAD", "/app.js");
    CHECK(head.status == 200);
    CHECK(head.header("Content-Length") == "14");
    CHECK(head.body.empty());
    auto post = eqm_test::http_once(s.srv->port(), "POST", "/app.js", "x");
    CHECK(post.status == 405);
    CHECK(post.header("Allow") == "GET, HEAD");
    CHECK(eqm_test::http_once(s.srv->port(), "GET", "/missing.js").status == 404);
}

TEST_CASE("path traversal, dot-files and symlinks out of the root are refused", "[static]") {
    site s;
    auto target = GENERATE(as<std::string>{}, "/../secret.txt", "/%2e%2e/secret.txt",
                           "/data/../../secret.txt", "/data/%2E%2E/%2E%2E/secret.txt",
                           "/..%2fsecret.txt", "/data/..%2F..%2Fsecret.txt", "/%2e%2e%5csecret.txt",
                           "/escape.txt", "/.env", "/./index.html", "/index.html%00.js");
    auto r = eqm_test::http_once(s.srv->port(), "GET", target);
    CHECK(r.status == 404);
    CHECK(r.body.find("TOP-SECRET") == std::string::npos);
    CHECK(r.body.find("hidden-dotfile") == std::string::npos);
    CHECK(r.header("Content-Type") == "application/problem+json");
}
