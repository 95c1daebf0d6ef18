// The REST custody request reader that the gateway and the server share: the same body gets
// the same answer at both, and a note is counted in characters, as on MQTT.
#include "eqm/domain/custody_request.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace {

using eqm::custody_action;
using eqm::errc;
using nlohmann::json;

std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

}  // namespace

TEST_CASE("a check-out body needs a badge and may carry a due time") {
    auto ok = eqm::parse_custody_request(
        json{{"badge", "b-7"}, {"due", "2026-11-26T18:00:00.000Z"}}, custody_action::checkout);
    REQUIRE(ok);
    CHECK(ok->badge == "b-7");
    REQUIRE(ok->due);
    CHECK(eqm::format_timestamp(*ok->due) == "2026-11-26T18:00:00.000Z");

    auto missing = eqm::parse_custody_request(json::object(), custody_action::checkout);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == errc::bad_field);
    CHECK(missing.error().field == "badge");

    auto bad_badge = eqm::parse_custody_request(json{{"badge", "b 7"}}, custody_action::checkout);
    REQUIRE_FALSE(bad_badge);
    CHECK(bad_badge.error().field == "badge");

    auto bad_due = eqm::parse_custody_request(json{{"badge", "b-7"}, {"due", "tomorrow"}},
                                              custody_action::checkout);
    REQUIRE_FALSE(bad_due);
    CHECK(bad_due.error().field == "due");

    auto extra =
        eqm::parse_custody_request(json{{"badge", "b-7"}, {"note", "x"}}, custody_action::checkout);
    REQUIRE_FALSE(extra);
    CHECK(extra.error().code == errc::unknown_field);
    CHECK(extra.error().field == "note");
}

TEST_CASE("a check-in body is optional, its note is counted in characters") {
    auto empty = eqm::parse_custody_request(json::object(), custody_action::checkin);
    REQUIRE(empty);
    CHECK(*empty == eqm::custody_request_body{});

    // 512 Chinese characters are 1,536 bytes: accepted, as on MQTT.
    const std::string chinese_512 = repeat("损", 512);
    auto long_note = eqm::parse_custody_request(
        json{{"condition", "damaged"}, {"note", chinese_512}}, custody_action::checkin);
    REQUIRE(long_note);
    CHECK(long_note->condition == eqm::item_condition::damaged);
    CHECK(long_note->note == chinese_512);

    auto too_long =
        eqm::parse_custody_request(json{{"note", chinese_512 + "坏"}}, custody_action::checkin);
    REQUIRE_FALSE(too_long);
    CHECK(too_long.error().field == "note");

    auto bad_condition =
        eqm::parse_custody_request(json{{"condition", "broken"}}, custody_action::checkin);
    REQUIRE_FALSE(bad_condition);
    CHECK(bad_condition.error().field == "condition");

    auto not_object = eqm::parse_custody_request(json::array(), custody_action::checkin);
    REQUIRE_FALSE(not_object);
    CHECK(not_object.error().field == "body");
}
