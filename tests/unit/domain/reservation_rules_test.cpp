// The reservation rules table: defaults, lookup by class and analyte, working hours in
// Asia/Shanghai, and the JSON an admin reads and writes.
#include "eqm/domain/reservation_rules.hpp"

#include <catch2/catch.hpp>
#include <string>

using eqm::device_class;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

eqm::clock_ms local(const char* text) {
    return eqm::parse_rfc3339(std::string(text) + "+08:00").value();
}

}  // namespace

TEST_CASE("the default rules are the contract's", "[rules]") {
    const auto rules = eqm::default_reservation_rules();
    for (const auto c : {device_class::body_camera, device_class::drone, device_class::analyzer}) {
        const auto r = rules.rule_for(c);
        CHECK(r.min_notice == 0min);
        CHECK(r.max_length == std::chrono::days{14});
        CHECK(r.buffer == 30min);
        CHECK_FALSE(r.hours.has_value());
        CHECK(r.approval_required == (c == device_class::drone));
        CHECK_FALSE(r.max_open.has_value());
    }
    CHECK(eqm::reservation_rules{}.rule_for(device_class::drone).approval_required);
    CHECK_FALSE(eqm::is_bookable(device_class::dock));
}

TEST_CASE("a rule for one analyte overrides the analyzer class rule", "[rules]") {
    eqm::reservation_rules rules;
    auto analyzers = eqm::default_rule(device_class::analyzer);
    analyzers.buffer = 60min;
    auto cod = eqm::default_rule(device_class::analyzer, eqm::analyte::cod);
    cod.buffer = 120min;
    rules.items = {analyzers, cod};
    CHECK(rules.rule_for(device_class::analyzer, eqm::analyte::cod).buffer == 120min);
    const auto voc = rules.rule_for(device_class::analyzer, eqm::analyte::voc);
    CHECK(voc.buffer == 60min);
    CHECK(voc.analyte == eqm::analyte::voc);
    CHECK(rules.rule_for(device_class::drone).buffer == 30min);
}

TEST_CASE("working hours are Asia/Shanghai time, UTC+8 on every day of the year", "[rules]") {
    const eqm::working_hours h{510min, 1050min, 0b001'1111};  // 08:30-17:30 Mon-Fri
    CHECK(eqm::within(h, local("2026-11-27T08:30:00")));      // Friday, opening
    CHECK(eqm::within(h, local("2026-11-27T17:30:00")));      // closing, inclusive
    CHECK_FALSE(eqm::within(h, local("2026-11-27T17:30:00") + 1ms));
    CHECK_FALSE(eqm::within(h, local("2026-11-27T08:29:59")));
    CHECK_FALSE(eqm::within(h, local("2026-11-28T10:00:00")));  // Saturday
    // 00:30 UTC is 08:30 in Nanning, in winter and in summer alike (no daylight saving).
    CHECK(eqm::within(h, eqm::parse_timestamp("2026-01-05T00:30:00.000Z").value()));
    CHECK(eqm::within(h, eqm::parse_timestamp("2026-07-06T00:30:00.000Z").value()));
    // Next and previous instants within the hours.
    CHECK(eqm::next_within(h, local("2026-11-27T18:00:00")) == local("2026-11-30T08:30:00"));
    CHECK(eqm::next_within(h, local("2026-11-27T07:00:00")) == local("2026-11-27T08:30:00"));
    CHECK(eqm::next_within(h, local("2026-11-27T12:00:00")) == local("2026-11-27T12:00:00"));
    CHECK(eqm::prev_within(h, local("2026-11-30T08:00:00")) == local("2026-11-27T17:30:00"));
    CHECK(eqm::prev_within(h, local("2026-11-27T20:00:00")) == local("2026-11-27T17:30:00"));
    const eqm::working_hours sundays_only{600min, 720min, 0b100'0000};
    CHECK(eqm::next_within(sundays_only, local("2026-11-29T12:00:01")) ==
          local("2026-12-06T10:00:00"));
    const eqm::working_hours never{600min, 720min, 0};
    CHECK_FALSE(eqm::next_within(never, local("2026-11-29T12:00:00")).has_value());
    CHECK(eqm::describe(h) == "08:30-17:30 on mon, tue, wed, thu, fri (Asia/Shanghai)");
}

TEST_CASE("the rules table round-trips through its JSON", "[rules][json]") {
    auto rules = eqm::default_reservation_rules();
    auto cod = eqm::default_rule(device_class::analyzer, eqm::analyte::cod);
    cod.min_notice = 120min;
    cod.hours = eqm::working_hours{480min, 1080min, 0b011'1111};
    cod.max_open = 2;
    rules.items.push_back(cod);
    const auto j = eqm::to_json(rules);
    REQUIRE(j.at("items").size() == 4);
    const auto& row = j.at("items")[3];  // sorted: body_camera, drone, analyzer, analyzer/cod
    CHECK(row == json::parse(R"({"class":"analyzer","analyte":"cod","min_notice_minutes":120,)"
                             R"("max_length_minutes":20160,"buffer_minutes":30,)"
                             R"("working_hours":{"open":"08:00","close":"18:00",)"
                             R"("days":["mon","tue","wed","thu","fri","sat"]},)"
                             R"("approval_required":false,"max_open_bookings":2})"));
    CHECK(j.at("items")[1].at("working_hours").is_null());
    CHECK(j.at("items")[1].at("max_open_bookings").is_null());
    const auto back = eqm::parse_reservation_rules(j);
    REQUIRE(back.has_value());
    CHECK(eqm::to_json(*back) == j);
    CHECK(back->rule_for(device_class::analyzer, eqm::analyte::cod) == cod);
}

TEST_CASE("a row names only what differs from its class default", "[rules][json]") {
    const auto r = eqm::parse_reservation_rules(json::parse(
        R"({"items":[{"class":"drone","buffer_minutes":45},{"class":"body_camera",)"
        R"("approval_required":true,"working_hours":{"open":"09:00","close":"17:00"}}]})"));
    REQUIRE(r.has_value());
    const auto drone = r->rule_for(device_class::drone);
    CHECK(drone.buffer == 45min);
    CHECK(drone.approval_required);
    const auto camera = r->rule_for(device_class::body_camera);
    CHECK(camera.approval_required);
    REQUIRE(camera.hours.has_value());
    CHECK(camera.hours->days == 0b001'1111);
}

TEST_CASE("a bad rules table is refused naming the field", "[rules][json]") {
    // clang-format off
    const auto [body, code, field] = GENERATE(table<std::string, eqm::errc, std::string>({
        {R"({})", eqm::errc::bad_field, "items"},
        {R"({"items":{}})", eqm::errc::bad_field, "items"},
        {R"({"items":[{}]})", eqm::errc::bad_field, "items[0].class"},
        {R"({"items":[{"class":"dock"}]})", eqm::errc::bad_field, "items[0].class"},
        {R"({"items":[{"class":"tank"}]})", eqm::errc::bad_field, "items[0].class"},
        {R"({"items":[{"class":"drone","analyte":"cod"}]})", eqm::errc::bad_field, "items[0].analyte"},
        {R"({"items":[{"class":"drone","buffer_minutes":-1}]})", eqm::errc::bad_field, "items[0].buffer_minutes"},
        {R"({"items":[{"class":"drone","buffer_minutes":1441}]})", eqm::errc::bad_field, "items[0].buffer_minutes"},
        {R"({"items":[{"class":"drone","buffer_minutes":2.5}]})", eqm::errc::bad_field, "items[0].buffer_minutes"},
        {R"({"items":[{"class":"drone","max_length_minutes":0}]})", eqm::errc::bad_field, "items[0].max_length_minutes"},
        {R"({"items":[{"class":"drone","min_notice_minutes":43201}]})", eqm::errc::bad_field, "items[0].min_notice_minutes"},
        {R"({"items":[{"class":"drone","max_open_bookings":0}]})", eqm::errc::bad_field, "items[0].max_open_bookings"},
        {R"({"items":[{"class":"drone","approval_required":"yes"}]})", eqm::errc::bad_field, "items[0].approval_required"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"9:00","close":"17:00"}}]})", eqm::errc::bad_field, "items[0].working_hours.open"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"09:00","close":"24:00"}}]})", eqm::errc::bad_field, "items[0].working_hours.close"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"17:00","close":"09:00"}}]})", eqm::errc::bad_field, "items[0].working_hours.close"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"09:00","close":"17:00","days":[]}}]})", eqm::errc::bad_field, "items[0].working_hours.days"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"09:00","close":"17:00","days":["mon","mon"]}}]})", eqm::errc::bad_field, "items[0].working_hours.days[1]"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"09:00","close":"17:00","days":["monday"]}}]})", eqm::errc::bad_field, "items[0].working_hours.days[0]"},
        {R"({"items":[{"class":"drone","working_hours":{"open":"09:00","close":"17:00","tz":"UTC"}}]})", eqm::errc::unknown_field, "items[0].working_hours.tz"},
        {R"({"items":[{"class":"drone","colour":"red"}]})", eqm::errc::unknown_field, "items[0].colour"},
        {R"({"items":[{"class":"drone"},{"class":"drone","buffer_minutes":10}]})", eqm::errc::bad_field, "items[1]"},
        {R"({"items":[],"extra":1})", eqm::errc::unknown_field, "extra"},
    }));
    // clang-format on
    INFO(body);
    const auto r = eqm::parse_reservation_rules(json::parse(body));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == code);
    CHECK(r.error().field == field);
    CHECK_FALSE(r.error().message.empty());
}
