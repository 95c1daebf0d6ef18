#include "eqm/domain/readiness.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

using eqm::custody_state;
using eqm::device_class;
using eqm::errc;

namespace {

constexpr std::string_view nanning = "450100";

eqm::clock_ms now() {
    return eqm::parse_timestamp("2026-11-26T08:30:00.000Z").value();
}

eqm::person_record officer() {
    eqm::person_record p;
    p.id = "p-1";
    p.name = "Li Wei";
    p.role = eqm::person_role::officer;
    p.city = std::string(nanning);
    p.badge = "B-1";
    return p;
}

/// A device of `cls` that is ready in every respect.
eqm::device_snapshot ready_device(device_class cls) {
    eqm::device_snapshot d;
    d.id = "dev-1";
    d.cls = cls;
    d.battery_pct = 100;
    if (cls == device_class::analyzer) d.calibration_due = eqm::parse_date("2027-06-30").value();
    return d;
}

eqm::reservation approved_for(std::string person) {
    return eqm::reservation{"r-1",
                            "dev-1",
                            std::move(person),
                            now() - std::chrono::hours{1},
                            now() + std::chrono::hours{1},
                            eqm::reservation_status::approved};
}

/// Everything that can be wrong, one at a time, applied to a ready device and a good person.
struct scenario {
    eqm::device_snapshot device = ready_device(device_class::body_camera);
    std::optional<eqm::person_record> person = officer();
    std::vector<eqm::reservation> reservations;
};
using breakage = std::function<void(scenario&)>;

}  // namespace

TEST_CASE("a ready device and an allowed person may check out", "[readiness]") {
    const auto cls = GENERATE(device_class::body_camera, device_class::drone,
                              device_class::analyzer, device_class::dock);
    const scenario s{ready_device(cls), officer(), {approved_for("p-1")}};
    CHECK(
        eqm::check_checkout(s.device, &*s.person, nanning, s.reservations, {}, now()).has_value());
    CHECK(eqm::assess_readiness(s.device, {}, {}, now()).ready());
}

TEST_CASE("a badge allowed in this city opens its docks for a person of another city",
          "[readiness]") {
    scenario s;
    s.person->city = "450200";
    s.person->badge_cities = std::vector<std::string>{"450100"};
    CHECK(eqm::check_checkout(s.device, &*s.person, nanning, {}, {}, now()).has_value());
}

TEST_CASE("each refusal reason is reported with its code", "[readiness]") {
    auto [name, brk, code, phrase] = GENERATE(table<std::string, breakage, errc, std::string>({
        {"unregistered", [](scenario& s) { s.device.registered = false; }, errc::unregistered, "not registered"},
        {"unknown badge", [](scenario& s) { s.person.reset(); }, errc::badge_unknown, "badge"},
        {"inactive person", [](scenario& s) { s.person->active = false; }, errc::badge_not_allowed, "not active"},
        {"other city", [](scenario& s) { s.person->city = "450200"; }, errc::badge_not_allowed, "450200"},
        {"badge allowed elsewhere only", [](scenario& s) {
             s.person->city = "450200";
             s.person->badge_cities = std::vector<std::string>{"450300"};
         }, errc::badge_not_allowed, "not allowed in 450100"},
        {"locked", [](scenario& s) { s.device.custody.locked = true; }, errc::locked, "locked"},
        {"maintenance", [](scenario& s) { s.device.custody.state = custody_state::maintenance; }, errc::in_maintenance, "maintenance"},
        {"checked out", [](scenario& s) {
             s.device.custody.state = custody_state::checked_out;
             s.device.custody.holder = "p-9";
         }, errc::invalid_transition, "checked out to p-9"},
        {"in transit", [](scenario& s) { s.device.custody.state = custody_state::in_transit; }, errc::invalid_transition, "in transit"},
        {"lost", [](scenario& s) { s.device.custody.state = custody_state::lost; }, errc::invalid_transition, "lost"},
        {"retired", [](scenario& s) { s.device.custody.state = custody_state::retired; }, errc::invalid_transition, "retired"},
        {"reserved", [](scenario& s) { s.reservations.push_back(approved_for("p-2")); }, errc::reserved_for_other, "reserved for p-2"},
        {"battery", [](scenario& s) { s.device.battery_pct = 62; }, errc::battery_low,
         "battery 62% is below the body_camera threshold of 80%"},
        {"battery unknown", [](scenario& s) { s.device.battery_pct.reset(); }, errc::battery_low, "unknown"},
        {"calibration", [](scenario& s) {
             s.device = ready_device(device_class::analyzer);
             s.device.calibration_due = eqm::parse_date("2026-11-25").value();
         }, errc::calibration_expired, "2026-11-25"},
        {"calibration unknown", [](scenario& s) {
             s.device = ready_device(device_class::analyzer);
             s.device.calibration_due.reset();
         }, errc::calibration_expired, "unknown"},
        {"footage", [](scenario& s) {
             s.device.footage_pending_since = now() - std::chrono::hours{30};
         }, errc::footage_pending, "30 h"},
    }));
    INFO(name);
    scenario s;
    brk(s);
    const auto r = eqm::check_checkout(s.device, s.person ? &*s.person : nullptr, nanning,
                                       s.reservations, {}, now());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == code);
    CHECK_THAT(r.error().message, Catch::Contains(phrase));
}

TEST_CASE("thresholds and limits are at their edges", "[readiness]") {
    auto [name, brk, refused] = GENERATE(table<std::string, breakage, bool>({
        {"body camera at 80%", [](scenario& s) { s.device.battery_pct = 80; }, false},
        {"body camera at 79.99%", [](scenario& s) { s.device.battery_pct = 79.99; }, true},
        {"drone at 89%", [](scenario& s) { s.device = ready_device(device_class::drone); s.device.battery_pct = 89; }, true},
        {"drone at 90%", [](scenario& s) { s.device = ready_device(device_class::drone); s.device.battery_pct = 90; }, false},
        {"analyzer at 50%", [](scenario& s) { s.device = ready_device(device_class::analyzer); s.device.battery_pct = 50; }, false},
        {"analyzer at 49%", [](scenario& s) { s.device = ready_device(device_class::analyzer); s.device.battery_pct = 49; }, true},
        {"dock at 0%", [](scenario& s) { s.device = ready_device(device_class::dock); s.device.battery_pct = 0; }, false},
        {"dock battery unknown", [](scenario& s) { s.device = ready_device(device_class::dock); s.device.battery_pct.reset(); }, false},
        {"calibration due today", [](scenario& s) {
             s.device = ready_device(device_class::analyzer);
             s.device.calibration_due = eqm::parse_date("2026-11-26").value();
         }, false},
        {"drone without calibration date", [](scenario& s) { s.device = ready_device(device_class::drone); }, false},
        {"footage pending exactly 24 h", [](scenario& s) { s.device.footage_pending_since = now() - std::chrono::hours{24}; }, false},
        {"footage pending 24 h + 1 ms", [](scenario& s) {
             s.device.footage_pending_since = now() - std::chrono::hours{24} - std::chrono::milliseconds{1};
         }, true},
        {"footage only matters for body cameras", [](scenario& s) {
             s.device = ready_device(device_class::drone);
             s.device.footage_pending_since = now() - std::chrono::hours{48};
         }, false},
        {"reservation ended", [](scenario& s) {
             auto r = approved_for("p-2");
             r.end = now();
             s.reservations.push_back(r);
         }, false},
        {"reservation pending", [](scenario& s) {
             auto r = approved_for("p-2");
             r.status = eqm::reservation_status::pending;
             s.reservations.push_back(r);
         }, false},
        {"reservation of another device", [](scenario& s) {
             auto r = approved_for("p-2");
             r.device_id = "dev-2";
             s.reservations.push_back(r);
         }, false},
        {"dispatcher from another city", [](scenario& s) {
             s.person->city = "450200";
             s.person->role = eqm::person_role::dispatcher;
         }, false},
        {"admin from another city", [](scenario& s) {
             s.person->city = "450200";
             s.person->role = eqm::person_role::admin;
         }, false},
        {"custodian from another city", [](scenario& s) {
             s.person->city = "450200";
             s.person->role = eqm::person_role::custodian;
         }, true},
        {"person without a home city", [](scenario& s) { s.person->city.reset(); }, false},
        {"inactive admin", [](scenario& s) {
             s.person->role = eqm::person_role::admin;
             s.person->active = false;
         }, true},
    }));
    INFO(name);
    scenario s;
    brk(s);
    const auto r = eqm::check_checkout(s.device, s.person ? &*s.person : nullptr, nanning,
                                       s.reservations, {}, now());
    CHECK(r.has_value() == !refused);
}

TEST_CASE("the policy moves thresholds and the unknown-value rules", "[readiness]") {
    eqm::readiness_policy policy;
    auto d = ready_device(device_class::body_camera);
    d.battery_pct = 70;
    const auto p = officer();
    CHECK_FALSE(eqm::check_checkout(d, &p, nanning, {}, policy, now()).has_value());
    policy.body_camera_min_battery_pct = 60;
    CHECK(eqm::check_checkout(d, &p, nanning, {}, policy, now()).has_value());

    d.battery_pct.reset();
    CHECK_FALSE(eqm::check_checkout(d, &p, nanning, {}, policy, now()).has_value());
    policy.refuse_unknown_battery = false;
    CHECK(eqm::check_checkout(d, &p, nanning, {}, policy, now()).has_value());

    d.footage_pending_since = now() - std::chrono::hours{5};
    CHECK(eqm::check_checkout(d, &p, nanning, {}, policy, now()).has_value());
    policy.footage_offload_limit = std::chrono::hours{4};
    CHECK(eqm::check_checkout(d, &p, nanning, {}, policy, now()).error().code ==
          errc::footage_pending);

    auto a = ready_device(device_class::analyzer);
    a.calibration_due.reset();
    policy.refuse_unknown_calibration = false;
    CHECK(eqm::check_checkout(a, &p, nanning, {}, policy, now()).has_value());
}

TEST_CASE("refusals come in priority order and the first is the one returned", "[readiness]") {
    // Break everything at once; then mend one reason at a time, most fundamental first, and
    // the next reason in the documented order must surface.
    scenario s;
    s.device = ready_device(device_class::body_camera);
    s.device.registered = false;
    s.person->active = false;
    s.device.custody.locked = true;
    s.device.custody.state = custody_state::maintenance;
    s.reservations.push_back(approved_for("p-2"));
    s.device.battery_pct = 10;
    s.device.footage_pending_since = now() - std::chrono::hours{48};

    const std::vector<std::pair<errc, breakage>> order{
        {errc::unregistered, [](scenario& x) { x.device.registered = true; }},
        {errc::badge_not_allowed, [](scenario& x) { x.person->active = true; }},
        {errc::locked, [](scenario& x) { x.device.custody.locked = false; }},
        {errc::in_maintenance, [](scenario& x) { x.device.custody.state = custody_state::lost; }},
        {errc::invalid_transition,
         [](scenario& x) { x.device.custody.state = custody_state::available; }},
        {errc::reserved_for_other, [](scenario& x) { x.reservations.clear(); }},
        {errc::battery_low, [](scenario& x) { x.device.battery_pct = 95; }},
        {errc::footage_pending, [](scenario& x) { x.device.footage_pending_since.reset(); }},
    };
    std::vector<errc> all_codes;
    for (const auto& e :
         eqm::checkout_problems(s.device, &*s.person, nanning, s.reservations, {}, now()))
        all_codes.push_back(e.code);
    std::vector<errc> expected_codes;
    // in_maintenance and invalid_transition are two readings of one state: never both at once.
    for (const auto& [code, mend] : order)
        if (code != errc::invalid_transition) expected_codes.push_back(code);
    CHECK(all_codes == expected_codes);

    for (const auto& [code, mend] : order) {
        const auto r =
            eqm::check_checkout(s.device, &*s.person, nanning, s.reservations, {}, now());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == code);
        mend(s);
    }
    CHECK(
        eqm::check_checkout(s.device, &*s.person, nanning, s.reservations, {}, now()).has_value());

    // The badge comes before everything about the device except registration.
    s.device.custody.locked = true;
    CHECK(eqm::check_checkout(s.device, nullptr, nanning, {}, {}, now()).error().code ==
          errc::badge_unknown);
    // The calibration check sits between battery and footage.
    auto a = ready_device(device_class::analyzer);
    a.battery_pct = 10;
    a.calibration_due = eqm::parse_date("2020-01-01").value();
    CHECK(eqm::check_checkout(a, &*s.person, nanning, {}, {}, now()).error().code ==
          errc::battery_low);
}

TEST_CASE("the dashboard report lists every device problem, whoever asks", "[readiness]") {
    auto d = ready_device(device_class::analyzer);
    d.custody.locked = true;
    d.battery_pct = 30;
    d.calibration_due = eqm::parse_date("2026-01-01").value();
    const std::vector<eqm::reservation> rs{approved_for("p-1")};
    const auto report = eqm::assess_readiness(d, rs, {}, now());
    CHECK_FALSE(report.ready());
    std::vector<errc> codes;
    for (const auto& e : report.problems) codes.push_back(e.code);
    CHECK(codes == std::vector<errc>{errc::locked, errc::reserved_for_other, errc::battery_low,
                                     errc::calibration_expired});
    const auto j = report.to_json();
    CHECK(j.at("ready") == false);
    CHECK(j.at("problems").size() == 4);
    CHECK(j.at("problems")[2].at("code") == "battery_low");
    CHECK(j.at("problems")[2].at("message") ==
          "battery 30% is below the analyzer threshold of 50%");
}

TEST_CASE("check-out refuses the last free unit of a class an approved class booking needs",
          "[readiness][reservation]") {
    auto d = ready_device(device_class::drone);
    eqm::reservation by_class;
    by_class.id = "r-c";
    by_class.person_id = "p-2";
    by_class.start = now() + std::chrono::minutes{10};  // starts within the 30-minute lead
    by_class.end = now() + std::chrono::hours{3};
    by_class.status = eqm::reservation_status::approved;
    by_class.cls = device_class::drone;
    by_class.city = std::string(nanning);
    const std::vector<eqm::reservation> rs{by_class};
    const std::vector<eqm::ready_unit> only_this{{"dev-1", device_class::drone, std::nullopt}};
    const std::span<const eqm::ready_unit> ready(only_this);
    const auto person = officer();

    auto refused = eqm::check_checkout(d, &person, nanning, rs, {}, now(), ready);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == errc::reserved_for_other);
    CHECK(refused.error().message.find("reservation r-c") != std::string::npos);
    // Refusals keep their order: a low battery comes after the booking.
    d.battery_pct = 10;
    const auto all = eqm::checkout_problems(d, &person, nanning, rs, {}, now(), ready);
    REQUIRE(all.size() == 2);
    CHECK(all[0].code == errc::reserved_for_other);
    CHECK(all[1].code == errc::battery_low);
    d.battery_pct = 100;
    // The booker may take it; so may anyone once a second drone is ready.
    auto booker = officer();
    booker.id = "p-2";
    CHECK(eqm::check_checkout(d, &booker, nanning, rs, {}, now(), ready).has_value());
    const std::vector<eqm::ready_unit> two{{"dev-1", device_class::drone, std::nullopt},
                                           {"dev-2", device_class::drone, std::nullopt}};
    CHECK(eqm::check_checkout(d, &person, nanning, rs, {}, now(),
                              std::span<const eqm::ready_unit>(two))
              .has_value());
    // Without the ready units (the old call), class bookings are not enforced.
    CHECK(eqm::check_checkout(d, &person, nanning, rs, {}, now()).has_value());
}

TEST_CASE("a named booking holds its device from 30 minutes before its start",
          "[readiness][reservation]") {
    auto r = approved_for("p-2");
    r.start = now() + std::chrono::minutes{20};
    const std::vector<eqm::reservation> rs{r};
    const auto d = ready_device(device_class::body_camera);
    const auto p = officer();
    auto soon = eqm::check_checkout(d, &p, nanning, rs, {}, now());
    REQUIRE_FALSE(soon.has_value());
    CHECK(soon.error().message == "reserved for p-2 from " + eqm::format_timestamp(r.start) +
                                      " until " + eqm::format_timestamp(r.end) +
                                      " (reservation r-1)");
    eqm::readiness_policy no_lead;
    no_lead.booking_lead = std::chrono::milliseconds{0};
    CHECK(eqm::check_checkout(d, &p, nanning, rs, no_lead, now()).has_value());
}
