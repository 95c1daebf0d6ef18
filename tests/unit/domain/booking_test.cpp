// Booking requests and the booking state machine: every refusal reason of a request, in one
// table, and every status x action pair.
#include "eqm/domain/booking.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "eqm/domain/booking_capacity.hpp"
#include "eqm/domain/booking_request.hpp"
#include "eqm/domain/reservation.hpp"

using eqm::booking_rule;
using eqm::custody_state;
using eqm::device_class;
using eqm::errc;
using eqm::reservation_status;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// Thursday 2026-11-26, 09:00 in Nanning.
const eqm::clock_ms now = eqm::parse_timestamp("2026-11-26T01:00:00.000Z").value();

std::string iso(eqm::clock_ms t) {
    return eqm::format_timestamp(t);
}

/// A booking already stored at Nanning.
eqm::booking stored(std::string id, std::optional<std::string> device, eqm::clock_ms start,
                    eqm::clock_ms end, reservation_status status = reservation_status::approved,
                    std::string person = "p-7") {
    eqm::booking b;
    b.id = std::move(id);
    b.person_id = std::move(person);
    b.city = "450100";
    b.device_id = std::move(device);
    b.cls = device_class::drone;
    b.start = start;
    b.end = end;
    b.purpose = "survey";
    b.status = status;
    return b;
}

/// Everything a request is decided on; each row of the table changes one thing.
struct scenario {
    json body = {{"device_id", "dr-01"},
                 {"city", "450100"},
                 {"start", iso(now + 2h)},
                 {"end", iso(now + 4h)},
                 {"purpose", "河道排污口巡查"}};
    eqm::booking_requester requester{"p-1", eqm::person_role::officer, "450100"};
    std::optional<eqm::device_facts> device = eqm::device_facts{
        "dr-01", device_class::drone, std::nullopt, "450100", custody_state::available};
    std::vector<eqm::booking> mine;
    eqm::reservation_rules rules = eqm::default_reservation_rules();
    std::vector<eqm::booking> city;
    std::vector<std::string> units{"dr-01", "dr-02"};

    void by_class(std::string cls) {
        body.erase("device_id");
        body["class"] = std::move(cls);
    }
    void rule(const std::function<void(eqm::reservation_rule&)>& change) {
        for (auto& r : rules.items)
            if (r.cls == device_class::drone) change(r);
    }
};

eqm::booking_result<eqm::booking> decide(const scenario& s, std::string id = "r-new") {
    auto q = eqm::parse_booking_request(s.body);
    if (!q) return std::unexpected(q.error());
    const eqm::booking_facts facts{s.requester, q->device_id ? s.device : std::nullopt, s.mine};
    return eqm::admit_booking(std::move(id), *q, facts, s.rules, s.city, s.units, now);
}

using change = std::function<void(scenario&)>;

eqm::working_hours office_hours() {
    return eqm::working_hours{510min, 1050min, 0b001'1111};  // 08:30-17:30 Mon-Fri
}

}  // namespace

TEST_CASE("every refusal of a booking request names its field and its rule", "[booking]") {
    // clang-format off
    const auto [name, edit, code, field, rule] = GENERATE(table<std::string, change, errc, std::string, booking_rule>({
        {"purpose missing", [](scenario& s) { s.body.erase("purpose"); }, errc::bad_field, "purpose", booking_rule::body},
        {"purpose empty", [](scenario& s) { s.body["purpose"] = ""; }, errc::bad_field, "purpose", booking_rule::body},
        {"purpose too long", [](scenario& s) { s.body["purpose"] = std::string(513, 'x'); }, errc::bad_field, "purpose", booking_rule::body},
        {"case number with a line break", [](scenario& s) { s.body["case_no"] = "A\nB"; }, errc::bad_field, "case_no", booking_rule::body},
        {"start not a time", [](scenario& s) { s.body["start"] = "tomorrow"; }, errc::bad_field, "start", booking_rule::body},
        {"end without offset", [](scenario& s) { s.body["end"] = "2026-11-26T05:00:00"; }, errc::bad_field, "end", booking_rule::body},
        {"city not six digits", [](scenario& s) { s.body["city"] = "4501"; }, errc::bad_field, "city", booking_rule::body},
        {"unknown member", [](scenario& s) { s.body["colour"] = "red"; }, errc::unknown_field, "colour", booking_rule::body},
        {"body not an object", [](scenario& s) { s.body = json::array(); }, errc::bad_field, "", booking_rule::body},
        {"device and class", [](scenario& s) { s.body["class"] = "drone"; }, errc::bad_field, "class", booking_rule::target},
        {"neither device nor class", [](scenario& s) { s.body.erase("device_id"); }, errc::bad_field, "device_id", booking_rule::target},
        {"unknown class", [](scenario& s) { s.by_class("tank"); }, errc::bad_field, "class", booking_rule::body},
        {"analyte with a device", [](scenario& s) { s.body["analyte"] = "cod"; }, errc::bad_field, "analyte", booking_rule::analyte},
        {"analyte on drones", [](scenario& s) { s.by_class("drone"); s.body["analyte"] = "cod"; }, errc::bad_field, "analyte", booking_rule::analyte},
        {"analyzer without analyte", [](scenario& s) { s.by_class("analyzer"); }, errc::bad_field, "analyte", booking_rule::analyte},
        {"docks by class", [](scenario& s) { s.by_class("dock"); }, errc::bad_field, "class", booking_rule::class_not_bookable},
        {"a dock by id", [](scenario& s) { s.device->cls = device_class::dock; }, errc::bad_field, "device_id", booking_rule::class_not_bookable},
        {"unknown city", [](scenario& s) { s.body["city"] = "450000"; }, errc::bad_field, "city", booking_rule::city_unknown},
        {"officer of another city", [](scenario& s) { s.requester.city = "450200"; }, errc::bad_field, "city", booking_rule::officer_city},
        {"custodian of another city", [](scenario& s) { s.requester = {"p-1", eqm::person_role::custodian, "450200"}; }, errc::bad_field, "city", booking_rule::officer_city},
        {"unknown device", [](scenario& s) { s.device.reset(); }, errc::bad_field, "device_id", booking_rule::device_unknown},
        {"device of another city", [](scenario& s) { s.device->city = "450200"; }, errc::bad_field, "city", booking_rule::device_city},
        {"device in transit", [](scenario& s) { s.device->state = custody_state::in_transit; }, errc::conflict, "device_id", booking_rule::device_in_transit},
        {"device lost", [](scenario& s) { s.device->state = custody_state::lost; }, errc::conflict, "device_id", booking_rule::device_unavailable},
        {"device retired", [](scenario& s) { s.device->state = custody_state::retired; }, errc::conflict, "device_id", booking_rule::device_unavailable},
        {"end before start", [](scenario& s) { s.body["end"] = iso(now + 1h); }, errc::bad_field, "end", booking_rule::window_order},
        {"end equal to start", [](scenario& s) { s.body["end"] = iso(now + 2h); }, errc::bad_field, "end", booking_rule::window_order},
        {"window in the past", [](scenario& s) { s.body["start"] = iso(now - 1h); s.body["end"] = iso(now + 1h); }, errc::bad_field, "start", booking_rule::past},
        {"six minutes ago", [](scenario& s) { s.body["start"] = iso(now - 6min); }, errc::bad_field, "start", booking_rule::past},
        {"sooner than the notice", [](scenario& s) { s.rule([](auto& r) { r.min_notice = 24h; }); }, errc::bad_field, "start", booking_rule::min_notice},
        {"over 14 days", [](scenario& s) { s.body["end"] = iso(now + 2h + std::chrono::days{14} + 1ms); }, errc::bad_field, "end", booking_rule::max_length},
        {"over the class's length", [](scenario& s) { s.rule([](auto& r) { r.max_length = 90min; }); }, errc::bad_field, "end", booking_rule::max_length},
        {"start before opening", [](scenario& s) { s.rule([](auto& r) { r.hours = office_hours(); }); s.body["start"] = iso(now + 23h); s.body["end"] = iso(now + 26h); }, errc::bad_field, "start", booking_rule::working_hours},
        {"end after closing", [](scenario& s) { s.rule([](auto& r) { r.hours = office_hours(); }); s.body["end"] = iso(now + 9h); }, errc::bad_field, "end", booking_rule::working_hours},
        {"start on a Saturday", [](scenario& s) { s.rule([](auto& r) { r.hours = office_hours(); }); s.body["start"] = iso(now + 50h); s.body["end"] = iso(now + 51h); }, errc::bad_field, "start", booking_rule::working_hours},
        {"too many open bookings", [](scenario& s) { s.rule([](auto& r) { r.max_open = 1; }); s.mine = {stored("r-1", "dr-02", now + 24h, now + 25h, reservation_status::requested, "p-1")}; }, errc::conflict, "device_id", booking_rule::max_open},
        {"device booked", [](scenario& s) { s.city = {stored("r-1", "dr-01", now + 3h, now + 5h)}; }, errc::conflict, "device_id", booking_rule::device_conflict},
        {"device in its buffer", [](scenario& s) { s.city = {stored("r-1", "dr-01", now, now + 2h - 29min)}; }, errc::conflict, "device_id", booking_rule::device_conflict},
        {"device bound to a class booking", [](scenario& s) { auto b = stored("r-1", std::nullopt, now, now + 3h, reservation_status::active); b.unit_id = "dr-01"; s.city = {b}; }, errc::conflict, "device_id", booking_rule::device_conflict},
        {"class fully promised", [](scenario& s) { s.by_class("drone"); s.city = {stored("r-1", std::nullopt, now + 3h, now + 5h), stored("r-2", "dr-02", now + 1h, now + 3h)}; }, errc::conflict, "class", booking_rule::class_capacity},
        {"no unit at all", [](scenario& s) { s.by_class("drone"); s.units.clear(); }, errc::conflict, "class", booking_rule::class_capacity},
        {"named booking of a promised unit", [](scenario& s) { s.city = {stored("r-1", std::nullopt, now + 3h, now + 5h), stored("r-2", std::nullopt, now + 1h, now + 3h)}; }, errc::conflict, "device_id", booking_rule::class_capacity},
    }));
    // clang-format on
    INFO(name);
    scenario s;
    edit(s);
    const auto before = s.city;
    const auto out = decide(s);
    REQUIRE_FALSE(out.has_value());
    INFO(out.error().err.describe());
    CHECK(out.error().err.code == code);
    CHECK(out.error().err.field == field);
    CHECK(out.error().rule == rule);
    CHECK_FALSE(out.error().err.message.empty());
    CHECK(out.error().problem_extra().at("rule") == eqm::to_string(rule));
    CHECK(s.city == before);
}

TEST_CASE("requests within every rule are admitted", "[booking]") {
    // clang-format off
    const auto [name, edit, status] = GENERATE(table<std::string, change, reservation_status>({
        {"a drone waits for approval", [](scenario&) {}, reservation_status::requested},
        {"a body camera is approved at once", [](scenario& s) { s.device->cls = device_class::body_camera; }, reservation_status::approved},
        {"by class, with a case number", [](scenario& s) { s.by_class("drone"); s.body["case_no"] = "桂环罚〔2026〕12号"; }, reservation_status::requested},
        {"an analyzer by class and analyte", [](scenario& s) { s.by_class("analyzer"); s.body["analyte"] = "cod"; s.units = {"an-1"}; }, reservation_status::approved},
        {"from four minutes ago", [](scenario& s) { s.body["start"] = iso(now - 4min); }, reservation_status::requested},
        {"times with an offset", [](scenario& s) { s.body["start"] = "2026-11-26T11:00:00+08:00"; s.body["end"] = "2026-11-26T13:00:00+08:00"; }, reservation_status::requested},
        {"exactly 14 days", [](scenario& s) { s.body["end"] = iso(now + 2h + std::chrono::days{14}); }, reservation_status::requested},
        {"a dispatcher in another city", [](scenario& s) { s.requester = {"p-1", eqm::person_role::dispatcher, "450200"}; }, reservation_status::requested},
        {"an officer without a home city", [](scenario& s) { s.requester.city.reset(); }, reservation_status::requested},
        {"after the other booking's buffer", [](scenario& s) { s.city = {stored("r-1", "dr-01", now, now + 90min)}; }, reservation_status::requested},
        {"before the other booking, with its own buffer", [](scenario& s) { s.city = {stored("r-1", "dr-01", now + 4h + 30min, now + 6h)}; }, reservation_status::requested},
        {"a cancelled or finished booking holds nothing", [](scenario& s) { s.city = {stored("r-1", "dr-01", now + 3h, now + 5h, reservation_status::cancelled), stored("r-2", "dr-01", now + 3h, now + 5h, reservation_status::no_show)}; }, reservation_status::requested},
        {"the other unit is free", [](scenario& s) { s.by_class("drone"); s.city = {stored("r-1", std::nullopt, now + 3h, now + 5h)}; }, reservation_status::requested},
        {"inside working hours", [](scenario& s) { s.rule([](auto& r) { r.hours = office_hours(); }); s.body["end"] = iso(now + 8h + 30min); }, reservation_status::requested},
        {"below the open limit", [](scenario& s) { s.rule([](auto& r) { r.max_open = 2; }); s.mine = {stored("r-1", "dr-02", now + 24h, now + 25h, reservation_status::approved, "p-1"), stored("r-2", "dr-02", now + 26h, now + 27h, reservation_status::completed, "p-1")}; }, reservation_status::requested},
    }));
    // clang-format on
    INFO(name);
    scenario s;
    edit(s);
    const auto out = decide(s);
    INFO((out ? std::string() : out.error().err.describe()));
    REQUIRE(out.has_value());
    CHECK(out->status == status);
    CHECK(out->id == "r-new");
    CHECK(out->person_id == "p-1");
    CHECK(out->created_at == now);
    CHECK(eqm::to_json(*out).at("status") == eqm::to_string(status));
}

TEST_CASE("a clash answers with what it clashes with and three free windows of the same length",
          "[booking][capacity]") {
    scenario s;
    s.city = {stored("r-1", "dr-01", now + 3h, now + 5h)};
    const auto out = decide(s);
    REQUIRE_FALSE(out.has_value());
    const auto extra = out.error().problem_extra();
    CHECK(extra.at("rule") == "device_conflict");
    REQUIRE(extra.at("conflicts").size() == 1);
    CHECK(extra.at("conflicts")[0] ==
          json({{"id", "r-1"}, {"start", iso(now + 3h)}, {"end", iso(now + 5h)}}));
    // Asked: [now+2h, now+4h); r-1 holds [now+3h, now+5h) plus its 30-minute buffer. Before:
    // [now+30min, now+2h30) ends, with our own buffer, exactly when r-1 starts, and no earlier
    // window fits after now. After: from r-1's end plus its buffer, then back to back.
    const auto& alt = extra.at("alternatives");
    REQUIRE(alt.size() == 3);
    CHECK(alt[0] == json({{"start", iso(now + 30min)},
                          {"end", iso(now + 2h + 30min)},
                          {"device_id", "dr-01"}}));
    CHECK(alt[1].at("start") == iso(now + 5h + 30min));
    CHECK(alt[2].at("start") == iso(now + 7h + 30min));
}

TEST_CASE(
    "a booking of the last unit changes nothing when refused, and the loser is offered "
    "the nearest windows on both sides",
    "[booking][capacity]") {
    // Two officers race for the one drone of the city: the server decides one after the other.
    scenario first;
    first.by_class("drone");
    first.units = {"dr-01"};
    first.body["start"] = iso(now + 26h);
    first.body["end"] = iso(now + 28h);
    const auto won = decide(first);
    REQUIRE(won.has_value());

    scenario second = first;
    second.requester.person_id = "p-2";
    second.city = {*won};
    const auto lost = decide(second, "r-late");
    REQUIRE_FALSE(lost.has_value());
    CHECK(lost.error().err.code == errc::conflict);
    CHECK(lost.error().rule == booking_rule::class_capacity);
    REQUIRE(lost.error().conflicts.size() == 1);
    CHECK(lost.error().conflicts[0].id == "r-new");
    const auto& alt = lost.error().alternatives;
    REQUIRE(alt.size() == 3);
    // Nearest first: right after the winner's buffer, right before it (leaving our buffer), then
    // the next one after.
    CHECK(alt[0].start == now + 28h + 30min);
    CHECK(alt[1].start == now + 26h - 2h - 30min);
    CHECK(alt[2].start == now + 30h + 30min);
    for (const auto& w : alt) {
        CHECK(w.end - w.start == 2h);
        CHECK_FALSE(w.device_id.has_value());
        CHECK(w.start >= now);
    }
    CHECK(second.city.size() == 1);
}

TEST_CASE("alternatives keep to the working hours and the minimum notice", "[booking][capacity]") {
    scenario s;
    s.rule([](auto& r) {
        r.hours = office_hours();
        r.min_notice = 60min;
    });
    // Friday 2026-11-27 14:00-17:00 local is taken; ask for 15:00-17:00 local.
    const auto friday_1400 = eqm::parse_rfc3339("2026-11-27T14:00:00+08:00").value();
    s.city = {stored("r-1", "dr-01", friday_1400, friday_1400 + 3h)};
    s.body["start"] = iso(friday_1400 + 1h);
    s.body["end"] = iso(friday_1400 + 3h);
    const auto out = decide(s);
    REQUIRE_FALSE(out.has_value());
    const auto& alt = out.error().alternatives;
    REQUIRE(alt.size() == 3);
    const auto hours = office_hours();
    for (const auto& w : alt) {
        INFO(iso(w.start));
        CHECK(eqm::within(hours, w.start));
        CHECK(eqm::within(hours, w.end));
        CHECK(w.end - w.start == 2h);
        CHECK(w.start >= now + 60min);
        CHECK(w.device_id == "dr-01");
        CHECK_FALSE(
            eqm::windows_overlap(w.start, w.end + 30min, friday_1400, friday_1400 + 3h + 30min));
    }
    // Before: Friday 11:30-13:30 local (ends 30 min before r-1). After: Monday 08:30 (Saturday
    // and Sunday are closed, and Friday after 17:30 is closed).
    CHECK(alt[0].start == eqm::parse_rfc3339("2026-11-27T11:30:00+08:00").value());
    CHECK(alt[1].start == eqm::parse_rfc3339("2026-11-27T09:30:00+08:00").value());
    CHECK(alt[2].start == eqm::parse_rfc3339("2026-11-30T08:30:00+08:00").value());
}

TEST_CASE("every status x action pair follows the booking table", "[booking][states]") {
    using enum reservation_status;
    using a = eqm::booking_action;
    const eqm::booking_actor dispatcher{"d-1", eqm::person_role::dispatcher, std::nullopt};
    // clang-format off
    const auto [from, action, to] = GENERATE(table<reservation_status, a, std::optional<reservation_status>>({
        {requested, a::approve, approved}, {requested, a::decline, declined}, {requested, a::cancel, cancelled},
        {requested, a::check_out, std::nullopt}, {requested, a::check_in, std::nullopt},
        {requested, a::no_show, std::nullopt}, {requested, a::lapse, declined}, {requested, a::overdue, std::nullopt},
        {approved, a::approve, std::nullopt}, {approved, a::decline, std::nullopt}, {approved, a::cancel, cancelled},
        {approved, a::check_out, active}, {approved, a::check_in, std::nullopt},
        {approved, a::no_show, no_show}, {approved, a::lapse, std::nullopt}, {approved, a::overdue, std::nullopt},
        {active, a::approve, std::nullopt}, {active, a::decline, std::nullopt}, {active, a::cancel, std::nullopt},
        {active, a::check_out, std::nullopt}, {active, a::check_in, completed},
        {active, a::no_show, std::nullopt}, {active, a::lapse, std::nullopt}, {active, a::overdue, overdue},
        {overdue, a::approve, std::nullopt}, {overdue, a::cancel, std::nullopt}, {overdue, a::check_out, std::nullopt},
        {overdue, a::check_in, completed}, {overdue, a::overdue, std::nullopt},
        {declined, a::approve, std::nullopt}, {declined, a::cancel, std::nullopt}, {declined, a::check_out, std::nullopt},
        {cancelled, a::approve, std::nullopt}, {cancelled, a::cancel, std::nullopt}, {cancelled, a::check_out, std::nullopt},
        {completed, a::check_in, std::nullopt}, {completed, a::cancel, std::nullopt},
        {no_show, a::cancel, std::nullopt}, {no_show, a::approve, std::nullopt},
    }));
    // clang-format on
    auto b = stored("r-1", "dr-01", now, now + 2h, from);
    // Late enough for every timer: 3 hours after the start, the end passed.
    const auto at = now + 3h;
    eqm::booking_command cmd{action, dispatcher, "the drone is needed for a flood", "dr-01",
                             now + 20min};
    if (action == a::check_out || action == a::no_show || action == a::lapse ||
        action == a::overdue || action == a::check_in)
        cmd.actor.reset();
    INFO(eqm::to_string(from) << " x " << eqm::to_string(action));
    // Approving and checking out need the window not over: decide those at the start.
    const auto when = (action == a::approve || action == a::check_out) ? now + 10min : at;
    const auto out = eqm::apply(b, cmd, when);
    if (to) {
        INFO((out ? std::string() : out.error().err.describe()));
        REQUIRE(out.has_value());
        CHECK(out->status == *to);
        CHECK(out->updated_at == when);
    } else {
        REQUIRE_FALSE(out.has_value());
        CHECK(out.error().err.code == errc::invalid_transition);
        CHECK(out.error().rule == booking_rule::transition);
    }
}

TEST_CASE("who may decide or cancel a booking", "[booking][states]") {
    using a = eqm::booking_action;
    using eqm::person_role;
    // clang-format off
    const auto [name, action, actor, ok] = GENERATE(table<std::string, a, eqm::booking_actor, bool>({
        {"dispatcher approves", a::approve, {"d-1", person_role::dispatcher, "450200"}, true},
        {"admin approves", a::approve, {"a-1", person_role::admin, std::nullopt}, true},
        {"the city's custodian approves", a::approve, {"c-1", person_role::custodian, "450100"}, true},
        {"another city's custodian", a::approve, {"c-2", person_role::custodian, "450200"}, false},
        {"the officer approves own", a::approve, {"p-7", person_role::officer, "450100"}, false},
        {"another officer declines", a::decline, {"p-8", person_role::officer, "450100"}, false},
        {"the officer cancels own", a::cancel, {"p-7", person_role::officer, "450100"}, true},
        {"another officer cancels", a::cancel, {"p-8", person_role::officer, "450100"}, false},
        {"the custodian cancels", a::cancel, {"c-1", person_role::custodian, "450100"}, true},
    }));
    // clang-format on
    INFO(name);
    const auto b = stored("r-1", "dr-01", now + 1h, now + 2h, reservation_status::requested);
    const auto out = eqm::apply(b, {action, actor, "no drone pilot that day", {}, {}}, now);
    CHECK(out.has_value() == ok);
    if (!ok) {
        CHECK(out.error().err.code == errc::forbidden);
        CHECK(out.error().rule == booking_rule::role);
    } else if (action != a::cancel) {
        CHECK(out->decided_by == actor.person_id);
    }
}

TEST_CASE("decisions and timers refuse with their rule", "[booking][states]") {
    using a = eqm::booking_action;
    const eqm::booking_actor dispatcher{"d-1", eqm::person_role::dispatcher, std::nullopt};
    auto requested = stored("r-1", "dr-01", now + 1h, now + 2h, reservation_status::requested);
    auto approved = stored("r-2", "dr-01", now + 1h, now + 2h);

    SECTION("a decline needs a reason, of at most 256 characters") {
        auto r = eqm::apply(requested, {a::decline, dispatcher, {}, {}, {}}, now);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().rule == booking_rule::reason);
        CHECK(r.error().err.field == "reason");
        r = eqm::apply(requested, {a::decline, dispatcher, std::string(257, 'x'), {}, {}}, now);
        CHECK(r.error().rule == booking_rule::reason);
        r = eqm::apply(requested, {a::decline, dispatcher, "no pilot", {}, {}}, now);
        REQUIRE(r.has_value());
        CHECK(r->reason == "no pilot");
        CHECK(eqm::to_json(*r).at("reason") == "no pilot");
    }
    SECTION("approve, decline and cancel need a person") {
        const auto r = eqm::apply(requested, {a::approve, std::nullopt, {}, {}, {}}, now);
        CHECK(r.error().err.code == errc::forbidden);
    }
    SECTION("a window that is over is not approved") {
        const auto r = eqm::apply(requested, {a::approve, dispatcher, {}, {}, {}}, now + 2h);
        CHECK(r.error().rule == booking_rule::timing);
    }
    SECTION("no_show only 30 minutes after the start, then the hold is released") {
        auto r = eqm::apply(approved, {a::no_show, {}, {}, {}, {}}, now + 1h + 29min);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().rule == booking_rule::timing);
        CHECK(r.error().err.message.find(iso(now + 1h + 30min)) != std::string::npos);
        CHECK(eqm::due_action(approved, now + 1h + 29min) == std::nullopt);
        CHECK(eqm::due_action(approved, now + 1h + 30min) == a::no_show);
        CHECK(eqm::next_due_time(approved) == now + 1h + 30min);
        r = eqm::apply(approved, {a::no_show, {}, {}, {}, {}}, now + 1h + 30min);
        REQUIRE(r.has_value());
        CHECK(r->status == reservation_status::no_show);
    }
    SECTION("an undecided request lapses 30 minutes after its start") {
        CHECK(eqm::due_action(requested, now + 1h + 30min) == a::lapse);
        const auto r = eqm::apply(requested, {a::lapse, {}, {}, {}, {}}, now + 1h + 30min);
        REQUIRE(r.has_value());
        CHECK(r->status == reservation_status::declined);
        CHECK(r->reason.has_value());
    }
    SECTION("overdue at the end while the unit is out") {
        auto out = eqm::apply(approved, {a::check_out, {}, {}, "dr-01", now + 1h}, now + 1h);
        REQUIRE(out.has_value());
        CHECK(out->unit_id == "dr-01");
        CHECK(out->picked_up_at == now + 1h);
        CHECK(eqm::due_action(*out, now + 2h - 1ms) == std::nullopt);
        CHECK(eqm::due_action(*out, now + 2h) == a::overdue);
        auto late = eqm::apply(*out, {a::overdue, {}, {}, {}, {}}, now + 2h);
        REQUIRE(late.has_value());
        auto back = eqm::apply(*late, {a::check_in, {}, {}, {}, now + 3h}, now + 3h);
        REQUIRE(back.has_value());
        CHECK(back->status == reservation_status::completed);
        CHECK(back->returned_at == now + 3h);
    }
    SECTION("a named booking is fulfilled by its device only") {
        const auto r = eqm::apply(approved, {a::check_out, {}, {}, "dr-02", {}}, now + 1h);
        CHECK(r.error().rule == booking_rule::unit);
        CHECK(eqm::apply(approved, {a::check_out, {}, {}, {}, {}}, now + 1h).error().rule ==
              booking_rule::unit);
    }
    SECTION("a pick-up an offline gateway reports late still counts") {
        auto missed = approved;
        missed.status = reservation_status::no_show;
        auto r = eqm::apply(missed, {a::check_out, {}, {}, "dr-01", now + 1h + 10min}, now + 3h);
        REQUIRE(r.has_value());
        CHECK(r->status == reservation_status::active);
        r = eqm::apply(missed, {a::check_out, {}, {}, "dr-01", now + 1h + 40min}, now + 3h);
        CHECK(r.error().rule == booking_rule::transition);
    }
}

TEST_CASE("a booking goes to its gateway as a wire record", "[booking]") {
    auto named = stored("r-1", "dr-01", now + 1h, now + 2h);
    auto rec = eqm::to_record(named);
    CHECK(rec.device_id == "dr-01");
    CHECK_FALSE(rec.by_class());
    CHECK(eqm::validate(rec).has_value());

    auto by_class = stored("r-2", std::nullopt, now + 1h, now + 2h);
    by_class.cls = device_class::analyzer;
    by_class.analyte = eqm::analyte::cod;
    rec = eqm::to_record(by_class);
    CHECK_FALSE(rec.device_id.has_value());
    CHECK(rec.cls == device_class::analyzer);
    CHECK(rec.analyte == eqm::analyte::cod);
    CHECK(rec.city == "450100");
    CHECK(eqm::validate(rec).has_value());
    by_class.unit_id = "an-3";
    by_class.status = reservation_status::active;
    CHECK(eqm::to_record(by_class).device_id == "an-3");
    const auto j = eqm::to_json(by_class);
    CHECK(j.at("class") == "analyzer");
    CHECK(j.at("unit_id") == "an-3");
    CHECK_FALSE(j.contains("device_id"));
}

TEST_CASE("every rule has its own wire name, and only window clashes carry lists", "[booking]") {
    std::vector<std::string> names;
    for (int i = 0; i <= static_cast<int>(booking_rule::unit); ++i)
        names.emplace_back(eqm::to_string(static_cast<booking_rule>(i)));
    CHECK(names.front() == "body");
    CHECK(names.back() == "unit");
    CHECK(eqm::to_string(booking_rule::class_capacity) == "class_capacity");
    CHECK(std::ranges::count(names, "unknown") == 0);
    std::ranges::sort(names);
    CHECK(std::ranges::adjacent_find(names) == names.end());

    const auto plain = eqm::refuse(errc::bad_field, "end", booking_rule::max_length, "too long");
    CHECK(plain.error().problem_extra() == json({{"rule", "max_length"}}));
    auto clash = eqm::refuse(errc::conflict, "class", booking_rule::class_capacity, "full");
    CHECK(clash.error().problem_extra() == json({{"rule", "class_capacity"},
                                                 {"conflicts", json::array()},
                                                 {"alternatives", json::array()}}));
}
