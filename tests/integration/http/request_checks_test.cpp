// What every handler checks before it acts: a JSON body (JSON only, an object, known members
// only), and the Host and Origin a browser sends.
#include <catch2/catch.hpp>

#include "eqm/http/json_body.hpp"
#include "eqm/http/origin.hpp"
#include "eqm/http/problem.hpp"

namespace {

eqm::http::request with_body(std::string content_type, std::string body) {
    eqm::http::request r;
    r.method = eqm::http::method::post;
    if (!content_type.empty()) r.headers.emplace_back("Content-Type", std::move(content_type));
    r.body = std::move(body);
    return r;
}

}  // namespace

TEST_CASE("json body: JSON media types are recognised, parameters and case ignored") {
    using eqm::http::is_json_media_type;
    CHECK(is_json_media_type("application/json"));
    CHECK(is_json_media_type("Application/JSON; charset=utf-8"));
    CHECK(is_json_media_type("application/merge-patch+json"));
    CHECK_FALSE(is_json_media_type("text/plain"));
    CHECK_FALSE(is_json_media_type("application/x-www-form-urlencoded"));
    CHECK_FALSE(is_json_media_type(""));
    CHECK_FALSE(is_json_media_type("application/+json"));
}

TEST_CASE("json body: an object with known members is read and anything else is refused") {
    using eqm::http::read_json_object;
    auto ok = read_json_object(with_body("application/json", R"({"badge":"b-7"})"), {"badge"});
    REQUIRE(ok);
    CHECK((*ok)["badge"] == "b-7");

    auto empty = read_json_object(with_body("", ""), {"badge"});
    REQUIRE(empty);
    CHECK(empty->empty());

    // A form or a text/plain fetch from another page never reaches a handler.
    auto text = read_json_object(with_body("text/plain", R"({"badge":"b-7"})"), {"badge"});
    REQUIRE_FALSE(text);
    CHECK(text.error().code == eqm::errc::unsupported_media_type);
    CHECK(eqm::http::problem_response(text.error()).status == 415);
    auto none = read_json_object(with_body("", R"({"badge":"b-7"})"), {"badge"});
    REQUIRE_FALSE(none);
    CHECK(none.error().code == eqm::errc::unsupported_media_type);

    auto bad = read_json_object(with_body("application/json", "{"), {"badge"});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == eqm::errc::bad_json);
    auto array = read_json_object(with_body("application/json", "[]"), {"badge"});
    REQUIRE_FALSE(array);
    CHECK(array.error().field == "body");
    auto unknown = read_json_object(with_body("application/json", R"({"bdage":"b"})"), {"badge"});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == eqm::errc::unknown_field);
    CHECK(unknown.error().field == "bdage");
}

TEST_CASE("json body: a problem carries extra members but never overrides the standard ones") {
    auto r = eqm::http::problem_response(
        eqm::error{eqm::errc::conflict, "start", "the window is taken"},
        nlohmann::json{{"conflicts", nlohmann::json::array({{{"id", "r-1"}}})}, {"status", 200}});
    CHECK(r.status == 409);
    auto j = nlohmann::json::parse(r.body);
    CHECK(j["status"] == 409);
    CHECK(j["conflicts"][0]["id"] == "r-1");
    CHECK(j["field"] == "start");
}

TEST_CASE(
    "origin: IP literals, localhost and configured names pass but other hosts and origins do not") {
    using eqm::http::check_origin;
    eqm::http::origin_policy p;
    p.host_names = {"kiosk.nanning.lan"};
    p.origins = {"https://eqm.example.gov.cn"};
    auto req = [](std::string host, std::string origin) {
        eqm::http::request r;
        r.headers.emplace_back("Host", std::move(host));
        if (!origin.empty()) r.headers.emplace_back("Origin", std::move(origin));
        return r;
    };
    CHECK(check_origin(req("127.0.0.1:8443", ""), p));
    CHECK(check_origin(req("localhost:8443", "http://localhost:8443"), p));
    CHECK(check_origin(req("[::1]:8443", ""), p));
    CHECK(check_origin(req("192.168.1.20", "https://192.168.1.20"), p));
    CHECK(check_origin(req("KIOSK.nanning.lan:80", ""), p));
    CHECK(check_origin(req("127.0.0.1:8443", "https://eqm.example.gov.cn"), p));

    auto rebinding = check_origin(req("evil.example.com:8443", ""), p);
    REQUIRE_FALSE(rebinding);
    CHECK(rebinding.error().code == eqm::errc::forbidden);
    CHECK(rebinding.error().field == "Host");
    auto cross = check_origin(req("127.0.0.1:8443", "http://evil.example.com"), p);
    REQUIRE_FALSE(cross);
    CHECK(cross.error().field == "Origin");
    CHECK_FALSE(check_origin(req("127.0.0.1:8443", "http://127.0.0.1:9999"), p));
    CHECK_FALSE(check_origin(req("", ""), p));
    CHECK_FALSE(check_origin(req("999.1.1.1", ""), p));
}
