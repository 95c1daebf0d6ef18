// The one JSON body reader of every handler: JSON only, an object, known members only.
#include "eqm/http/json_body.hpp"

#include <catch2/catch.hpp>

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

TEST_CASE("json body: an object with known members is read; anything else is refused") {
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
