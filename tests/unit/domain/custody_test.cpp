#include "eqm/domain/custody.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <tuple>

#include "eqm/domain/ledger.hpp"

using eqm::custody_action;
using eqm::custody_state;
using eqm::errc;

namespace {

eqm::clock_ms at(std::string_view text) {
    return eqm::parse_timestamp(text).value();
}

/// A device in `state`, with a holder exactly when checked out (the invariant), and the
/// transfer under way when in transit.
eqm::device_custody device_in(custody_state state) {
    eqm::device_custody d;
    d.state = state;
    if (state == custody_state::checked_out) {
        d.holder = "p-1";
        d.due = at("2026-11-27T18:00:00.000Z");
    }
    if (state == custody_state::in_transit) d.transfer_id = "tr-1";
    return d;
}

/// A command with nothing but its action.
eqm::custody_command bare(custody_action action) {
    eqm::custody_command c;
    c.action = action;
    return c;
}

/// A command with every field its action needs, and nothing else.
eqm::custody_command command_for(custody_action action) {
    eqm::custody_command c;
    c.action = action;
    if (action == custody_action::checkout) {
        c.holder = "p-2";
        c.due = at("2026-11-28T18:00:00.000Z");
    }
    if (action == custody_action::transfer_out || action == custody_action::transfer_in)
        c.transfer_id = "tr-1";
    return c;
}

}  // namespace

// The table from custody.hpp, written out again by hand: every (state, action) pair, allowed or
// not. std::nullopt = refused with invalid_transition.
TEST_CASE("every state x action pair follows the transition table", "[custody]") {
    using S = custody_state;
    using A = custody_action;
    const std::optional<S> no;
    auto [from, action, expected] = GENERATE_COPY(table<S, A, std::optional<S>>({
        {S::available, A::checkout, S::checked_out},
        {S::available, A::checkin, no},
        {S::available, A::maintenance_in, S::maintenance},
        {S::available, A::maintenance_out, no},
        {S::available, A::transfer_out, S::in_transit},
        {S::available, A::transfer_in, no},
        {S::available, A::report_lost, S::lost},
        {S::available, A::found, no},
        {S::available, A::retire, S::retired},

        {S::checked_out, A::checkout, no},
        {S::checked_out, A::checkin, S::available},
        {S::checked_out, A::maintenance_in, no},
        {S::checked_out, A::maintenance_out, no},
        {S::checked_out, A::transfer_out, no},
        {S::checked_out, A::transfer_in, no},
        {S::checked_out, A::report_lost, S::lost},
        {S::checked_out, A::found, no},
        {S::checked_out, A::retire, no},

        {S::in_transit, A::checkout, no},
        {S::in_transit, A::checkin, no},
        {S::in_transit, A::maintenance_in, no},
        {S::in_transit, A::maintenance_out, no},
        {S::in_transit, A::transfer_out, no},
        {S::in_transit, A::transfer_in, S::available},
        {S::in_transit, A::report_lost, S::lost},
        {S::in_transit, A::found, no},
        {S::in_transit, A::retire, S::retired},

        {S::maintenance, A::checkout, no},
        {S::maintenance, A::checkin, no},
        {S::maintenance, A::maintenance_in, no},
        {S::maintenance, A::maintenance_out, S::available},
        {S::maintenance, A::transfer_out, no},
        {S::maintenance, A::transfer_in, no},
        {S::maintenance, A::report_lost, no},
        {S::maintenance, A::found, no},
        {S::maintenance, A::retire, S::retired},

        {S::lost, A::checkout, no},
        {S::lost, A::checkin, no},
        {S::lost, A::maintenance_in, no},
        {S::lost, A::maintenance_out, no},
        {S::lost, A::transfer_out, no},
        {S::lost, A::transfer_in, no},
        {S::lost, A::report_lost, no},
        {S::lost, A::found, S::available},
        {S::lost, A::retire, S::retired},

        {S::retired, A::checkout, no},
        {S::retired, A::checkin, no},
        {S::retired, A::maintenance_in, no},
        {S::retired, A::maintenance_out, no},
        {S::retired, A::transfer_out, no},
        {S::retired, A::transfer_in, no},
        {S::retired, A::report_lost, no},
        {S::retired, A::found, no},
        {S::retired, A::retire, no},
    }));
    INFO(eqm::to_string(from) << " + " << eqm::to_string(action));

    const auto t = eqm::apply(device_in(from), command_for(action));
    CHECK(eqm::is_allowed(from, action) == expected.has_value());
    if (expected) {
        REQUIRE(t.has_value());
        CHECK(t->from_state == from);
        CHECK(t->to_state == *expected);
        CHECK(t->after.state == *expected);
        // The holder is set exactly when the device ends up checked out.
        CHECK(t->after.holder.has_value() == (*expected == S::checked_out));
        CHECK(t->after.due.has_value() == (*expected == S::checked_out));
        CHECK(t->after.transfer_id.has_value() == (*expected == S::in_transit));
    } else {
        REQUIRE_FALSE(t.has_value());
        CHECK(t.error().code == errc::invalid_transition);
        // The message names both the action and the state the device is in.
        CHECK_THAT(t.error().message, Catch::Contains(std::string(eqm::to_string(action))));
        CHECK_THAT(t.error().message, Catch::Contains(std::string(eqm::to_string(from))));
    }
}

TEST_CASE("checkout records the holder and due, checkin clears them", "[custody]") {
    auto out =
        eqm::apply(device_in(custody_state::available), command_for(custody_action::checkout));
    REQUIRE(out.has_value());
    CHECK(out->after.holder == "p-2");
    CHECK(out->after.due == at("2026-11-28T18:00:00.000Z"));

    auto back = bare(custody_action::checkin);
    back.holder = "p-2";
    auto in = eqm::apply(out->after, back);
    REQUIRE(in.has_value());
    CHECK(in->to_state == custody_state::available);
    CHECK_FALSE(in->after.holder.has_value());
    CHECK_FALSE(in->after.due.has_value());
}

TEST_CASE("checkin and found route by condition", "[custody]") {
    using C = eqm::item_condition;
    auto [action, from, condition, expected] =
        GENERATE(table<custody_action, custody_state, std::optional<C>, custody_state>({
            {custody_action::checkin, custody_state::checked_out, std::nullopt,
             custody_state::available},
            {custody_action::checkin, custody_state::checked_out, C::good,
             custody_state::available},
            {custody_action::checkin, custody_state::checked_out, C::damaged,
             custody_state::maintenance},
            {custody_action::checkin, custody_state::checked_out, C::needs_service,
             custody_state::maintenance},
            {custody_action::found, custody_state::lost, std::nullopt, custody_state::available},
            {custody_action::found, custody_state::lost, C::good, custody_state::available},
            {custody_action::found, custody_state::lost, C::damaged, custody_state::maintenance},
            {custody_action::found, custody_state::lost, C::needs_service,
             custody_state::maintenance},
        }));
    auto c = bare(action);
    c.condition = condition;
    const auto t = eqm::apply(device_in(from), c);
    REQUIRE(t.has_value());
    CHECK(t->to_state == expected);
    CHECK_FALSE(t->after.holder.has_value());
}

TEST_CASE("a checkin by someone other than the holder is refused unless overridden", "[custody]") {
    auto c = bare(custody_action::checkin);
    c.holder = "p-9";
    const auto refused = eqm::apply(device_in(custody_state::checked_out), c);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == errc::not_holder);
    CHECK_THAT(refused.error().message, Catch::Contains("p-9") && Catch::Contains("p-1"));

    c.override_holder = true;
    const auto manual = eqm::apply(device_in(custody_state::checked_out), c);
    REQUIRE(manual.has_value());
    CHECK(manual->to_state == custody_state::available);

    // A dock check-in without a badge does not name anyone, so it is the holder's return.
    const auto anonymous =
        eqm::apply(device_in(custody_state::checked_out), bare(custody_action::checkin));
    CHECK(anonymous.has_value());
}

TEST_CASE("a locked device cannot leave, but can come back or be taken out of service",
          "[custody]") {
    auto [from, action, refused] = GENERATE(table<custody_state, custody_action, bool>({
        {custody_state::available, custody_action::checkout, true},
        {custody_state::available, custody_action::transfer_out, true},
        // lock outranks the state: the user hears "locked" first, as readiness reports it
        {custody_state::maintenance, custody_action::checkout, true},
        {custody_state::checked_out, custody_action::checkin, false},
        {custody_state::available, custody_action::maintenance_in, false},
        {custody_state::available, custody_action::report_lost, false},
        {custody_state::available, custody_action::retire, false},
        {custody_state::in_transit, custody_action::transfer_in, false},
    }));
    auto d = device_in(from);
    d.locked = true;
    const auto t = eqm::apply(d, command_for(action));
    if (refused) {
        REQUIRE_FALSE(t.has_value());
        CHECK(t.error().code == errc::locked);
    } else {
        REQUIRE(t.has_value());
        CHECK(t->after.locked);  // the lock stays with the device
    }
}

TEST_CASE("commands missing a required field are refused with the field", "[custody]") {
    auto [from, action, field] = GENERATE(table<custody_state, custody_action, std::string>({
        {custody_state::available, custody_action::checkout, "holder"},
        {custody_state::available, custody_action::transfer_out, "transfer_id"},
        {custody_state::in_transit, custody_action::transfer_in, "transfer_id"},
    }));
    const auto t = eqm::apply(device_in(from), bare(action));
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == errc::bad_field);
    CHECK(t.error().field == field);
}

TEST_CASE("transfer_in must name the transfer under way", "[custody]") {
    auto c = command_for(custody_action::transfer_in);
    c.transfer_id = "tr-other";
    const auto t = eqm::apply(device_in(custody_state::in_transit), c);
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == errc::conflict);
    CHECK_THAT(t.error().message, Catch::Contains("tr-1"));
}

TEST_CASE("retiring a checked-out device says to check it in first", "[custody]") {
    // Aggregate initialisation with just the action compiles warning-free for callers.
    const auto t = eqm::apply(device_in(custody_state::checked_out),
                              eqm::custody_command{custody_action::retire});
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == errc::invalid_transition);
    CHECK_THAT(t.error().message, Catch::Contains("check it in first"));
}

TEST_CASE("custody vocabularies round-trip through their wire names", "[custody]") {
    for (int i = 0; i <= static_cast<int>(custody_state::retired); ++i) {
        const auto v = static_cast<custody_state>(i);
        CHECK(eqm::parse_custody_state(eqm::to_string(v)) == v);
    }
    for (int i = 0; i <= static_cast<int>(custody_action::retire); ++i) {
        const auto v = static_cast<custody_action>(i);
        CHECK(eqm::parse_custody_action(eqm::to_string(v)) == v);
    }
    for (int i = 0; i <= static_cast<int>(eqm::custody_source::server); ++i) {
        const auto v = static_cast<eqm::custody_source>(i);
        CHECK(eqm::parse_custody_source(eqm::to_string(v)) == v);
    }
    for (int i = 0; i <= static_cast<int>(eqm::item_condition::needs_service); ++i) {
        const auto v = static_cast<eqm::item_condition>(i);
        CHECK(eqm::parse_item_condition(eqm::to_string(v)) == v);
    }
    CHECK_FALSE(eqm::parse_custody_state("Available").has_value());
    CHECK_FALSE(eqm::parse_custody_action("check_out").has_value());
}

namespace {

eqm::custody_record full_record() {
    eqm::custody_record r;
    r.device_id = "bc-0042";
    r.action = custody_action::checkout;
    r.from_state = custody_state::available;
    r.to_state = custody_state::checked_out;
    r.holder = "p-7";
    r.actor = "p-7";
    r.source = eqm::custody_source::dock;
    r.ts = at("2026-11-26T08:30:00.000Z");
    r.due = at("2026-11-26T18:00:00.000Z");
    r.dock_id = "dock-nn-1";
    r.slot = 3;
    r.request_id = "ev-123";
    r.condition = eqm::item_condition::good;
    r.note = "取出 for site inspection";
    r.transfer_id = "tr-9";
    return eqm::seal(r, eqm::genesis_prev_hash, 0);
}

}  // namespace

TEST_CASE("custody records round-trip through their wire form", "[custody][json]") {
    const auto full = full_record();
    auto minimal = full;
    minimal.holder.reset();
    minimal.due.reset();
    minimal.dock_id.reset();
    minimal.slot.reset();
    minimal.request_id.reset();
    minimal.condition.reset();
    minimal.note.reset();
    minimal.transfer_id.reset();
    const auto r = GENERATE_COPY(full, minimal);

    const auto j = eqm::to_json(r);
    auto back = eqm::parse_custody_record(j);
    REQUIRE(back.has_value());
    CHECK(*back == r);
    CHECK(j.at("hash") == r.hash);
    CHECK(j.at("holder").is_null() == !r.holder.has_value());
    CHECK(j.contains("note") == r.note.has_value());
    CHECK(j.at("ts") == "2026-11-26T08:30:00.000Z");
}

TEST_CASE("malformed custody records are rejected and name the field", "[custody][json]") {
    using nlohmann::json;
    auto [field, value, code] = GENERATE(table<std::string, json, errc>({
        {"index", json(-1), errc::bad_field},
        {"index", json(1.5), errc::bad_field},
        {"device_id", json("bad id!"), errc::bad_field},
        {"action", json("borrow"), errc::bad_field},
        {"from_state", json(3), errc::bad_field},
        {"to_state", json("gone"), errc::bad_field},
        {"holder", json(""), errc::bad_field},
        {"actor", json(""), errc::bad_field},
        {"actor", json(std::string(65, 'a')), errc::bad_field},
        {"source", json("mqtt"), errc::bad_field},
        {"ts", json("2026-11-26T08:30:00Z"), errc::bad_field},
        {"prev_hash", json(std::string(64, 'A')), errc::bad_field},
        {"hash", json("abc"), errc::bad_field},
        {"due", json(nullptr), errc::bad_field},
        {"slot", json("3"), errc::bad_field},
        {"condition", json("broken"), errc::bad_field},
        {"note", json(std::string(513, 'x')), errc::bad_field},
        {"transfer_id", json(""), errc::bad_field},
        {"colour", json("red"), errc::unknown_field},
    }));
    auto j = eqm::to_json(full_record());
    j[field] = value;
    const auto r = eqm::parse_custody_record(j, "events[2].body");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == code);
    CHECK(r.error().field == "events[2].body." + field);
}

TEST_CASE("a custody record missing a required field is rejected", "[custody][json]") {
    const auto field = GENERATE(as<std::string>{}, "index", "device_id", "action", "from_state",
                                "to_state", "holder", "actor", "source", "ts", "prev_hash", "hash");
    auto j = eqm::to_json(full_record());
    j.erase(field);
    const auto r = eqm::parse_custody_record(j);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::bad_field);
    CHECK(r.error().field == field);
    CHECK_THAT(r.error().message, Catch::Contains("required"));
}

TEST_CASE("the note limit counts characters, not bytes", "[custody][json]") {
    auto j = eqm::to_json(full_record());
    std::string note;
    for (int i = 0; i < 512; ++i) note += "设";  // 3 bytes each
    j["note"] = note;
    CHECK(eqm::parse_custody_record(j).has_value());
    j["note"] = note + "x";
    CHECK_FALSE(eqm::parse_custody_record(j).has_value());
}
