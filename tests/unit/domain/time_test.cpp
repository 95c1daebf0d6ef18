#include "eqm/domain/time.hpp"

#include <catch2/catch.hpp>

#include "eqm/domain/error.hpp"
#include "eqm/domain/vocabulary.hpp"

TEST_CASE("timestamps round-trip in the contract's shape", "[time]") {
    const auto text = GENERATE(as<std::string>{}, "2026-11-26T08:30:00.000Z",
                               "2024-02-29T23:59:59.999Z", "1970-01-01T00:00:00.000Z");
    auto t = eqm::parse_timestamp(text);
    REQUIRE(t.has_value());
    CHECK(eqm::format_timestamp(*t) == text);
}

TEST_CASE("malformed timestamps are rejected and name the field", "[time]") {
    const auto text =
        GENERATE(as<std::string>{}, "", "2026-11-26T08:30:00Z", "2026-11-26 08:30:00.000Z",
                 "2026-02-30T08:30:00.000Z", "2026-11-26T24:00:00.000Z",
                 "2026-11-26T08:30:00.000+08:00", "2026-11-26T08:3a:00.000Z");
    auto t = eqm::parse_timestamp(text, "due");
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == eqm::errc::bad_field);
    CHECK(t.error().field == "due");
}

TEST_CASE("calendar dates round-trip and reject impossible days", "[time]") {
    auto d = eqm::parse_date("2027-01-31");
    REQUIRE(d.has_value());
    CHECK(eqm::format_date(*d) == "2027-01-31");
    CHECK_FALSE(eqm::parse_date("2027-02-29").has_value());
    CHECK_FALSE(eqm::parse_date("2027-1-31").has_value());
}

TEST_CASE("error codes and vocabularies have stable wire names", "[vocabulary]") {
    CHECK(eqm::to_string(eqm::errc::battery_low) == "battery_low");
    eqm::errc back{};
    REQUIRE(eqm::from_string("reserved_for_other", back));
    CHECK(back == eqm::errc::reserved_for_other);
    CHECK_FALSE(eqm::from_string("no_such_reason", back));
    CHECK(eqm::parse_device_class("drone") == eqm::device_class::drone);
    CHECK_FALSE(eqm::parse_device_class("Drone").has_value());
    CHECK(eqm::to_string(eqm::person_role::custodian) == "custodian");
}

TEST_CASE("REST times are read in any RFC 3339 form with an offset", "[time]") {
    const auto expected = eqm::parse_timestamp("2026-11-27T01:00:00.000Z").value();
    const auto [text, shift_ms] = GENERATE(table<std::string, int>({
        {"2026-11-27T01:00:00Z", 0},
        {"2026-11-27T01:00:00.000Z", 0},
        {"2026-11-27t01:00:00z", 0},
        {"2026-11-27T09:00:00+08:00", 0},
        {"2026-11-26T20:30:00-04:30", 0},
        {"2026-11-27T01:00:00.5Z", 500},
        {"2026-11-27T01:00:00.123456789Z", 123},
        {"2026-11-27T01:00:00.07+00:00", 70},
    }));
    INFO(text);
    const auto t = eqm::parse_rfc3339(text, "start");
    REQUIRE(t.has_value());
    CHECK(*t == expected + std::chrono::milliseconds{shift_ms});
}

TEST_CASE("malformed REST times name the field and say what was expected", "[time]") {
    const auto text =
        GENERATE(as<std::string>{}, "", "2026-11-27", "2026-11-27T01:00:00", "2026-11-27 01:00:00Z",
                 "2026-11-27T01:00:60Z", "2026-11-27T01:00:00.Z", "2026-11-27T01:00:00+8:00",
                 "2026-11-27T01:00:00+08:60", "2026-02-30T01:00:00Z", "2026-11-27T01:00:00Zjunk",
                 "2026-11-27T25:00:00Z");
    INFO(text);
    const auto t = eqm::parse_rfc3339(text, "end");
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == eqm::errc::bad_field);
    CHECK(t.error().field == "end");
    CHECK(t.error().message.find("RFC 3339") != std::string::npos);
}
