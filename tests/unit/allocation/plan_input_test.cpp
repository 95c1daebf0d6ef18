// The plan input reader: bad input is refused naming the field and the rule, good input is read
// with its defaults (travel from the cities' coordinates, the contract's penalties), and the
// input and the plan survive a JSON round trip.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "eqm/allocation/solver.hpp"
#include "eqm/domain/allocation.hpp"
#include "eqm/domain/region.hpp"

namespace {

using nlohmann::json;

json base_input() {
    return json::parse(R"({
        "cities": ["450100", "450300"],
        "classes": ["drone", "analyzer:cod"],
        "stock": {"450100": {"drone": 5, "analyzer:cod": 1}, "450300": {"drone": 1}},
        "demand": {"450300": {"drone": {"reserved": 2, "quota": 1}},
                   "450100": {"analyzer:cod": {"forecast": 1}}},
        "travel_minutes": [[0, 330], [330, 0]],
        "cost_per_unit_minute": 1.0,
        "penalty": {"reserved": 100000, "quota": 1000, "forecast": 10}
    })");
}

/// The base input with `edit` applied: "-/a/b" removes /a/b, "/a/b=<json>" sets it.
json edited(const std::string& edit) {
    json j = base_input();
    if (edit[0] == '-') {
        const json::json_pointer p(edit.substr(1));
        j[p.parent_pointer()].erase(p.back());
    } else {
        const auto eq = edit.find('=');
        j[json::json_pointer(edit.substr(0, eq))] = json::parse(edit.substr(eq + 1));
    }
    return j;
}

struct bad_case {
    std::string edit;
    std::string field;
    eqm::errc code = eqm::errc::bad_field;
};

}  // namespace

TEST_CASE("the example input is read with its figures", "[allocation][input]") {
    const auto in = eqm::parse_allocation_input(base_input(), eqm::plan_names::region);
    INFO((in ? std::string() : in.error().describe()));
    REQUIRE(in.has_value());
    CHECK(in->cities == std::vector<std::string>{"450100", "450300"});
    CHECK(in->stock_of(0, 0) == 5);
    CHECK(in->stock_of(1, 1) == 0);
    CHECK(in->demand_of(1, 0)[eqm::demand_kind::reserved] == 2);
    CHECK(in->demand_of(0, 1)[eqm::demand_kind::forecast] == 1);
    CHECK(in->travel_of(0, 1) == 330 * eqm::micros_per_unit);
    CHECK(in->spare(0, 0) == 5);
}

TEST_CASE("bad plan input is refused naming the field", "[allocation][input]") {
    const auto c = GENERATE(values<bad_case>({
        {"/stock/450100/drone=-1", "stock.450100.drone"},
        {"/stock/450100/drone=1.5", "stock.450100.drone"},
        {"/stock/450200={\"drone\": 1}", "stock.450200"},
        {"/stock/450100/dock=1", "stock.450100.dock"},
        {"/stock/450100=3", "stock.450100"},
        {"/cities=[\"450100\", \"999999\"]", "cities[1]"},
        {"/cities=[\"450100\", \"450100\"]", "cities[1]"},
        {"/cities=[\"450100\", \"4501\"]", "cities[1]"},
        {"/cities=[]", "cities"},
        {"-/cities", "cities"},
        {"/classes=[\"drone\", \"helicopter\"]", "classes[1]"},
        {"/classes=[\"drone\", \"analyzer:radon\"]", "classes[1]"},
        {"/demand/450300/drone/reserved=-2", "demand.450300.drone.reserved"},
        {"/demand/450300/drone/booked=1", "demand.450300.drone.booked", eqm::errc::unknown_field},
        {"/demand/450300/helicopter={\"quota\": 1}", "demand.450300.helicopter"},
        {"/demand/451400={}", "demand.451400"},
        {"-/demand", "demand"},
        {"/travel_minutes=[[0, 330]]", "travel_minutes"},
        {"/travel_minutes=[[0, 330], [330]]", "travel_minutes[1]"},
        {"/travel_minutes=[[0, 330, 5], [330, 0]]", "travel_minutes[0]"},
        {"/travel_minutes=[[0, -330], [330, 0]]", "travel_minutes[0][1]"},
        {"/travel_minutes=[[0, \"330\"], [330, 0]]", "travel_minutes[0][1]"},
        {"/travel_minutes=[[0, 330], [330, 5]]", "travel_minutes[1][1]"},
        {"/travel_minutes=[[0, 330.1234567], [330, 0]]", "travel_minutes[0][1]"},
        {"/travel_minutes=7", "travel_minutes"},
        {"/cost_per_unit_minute=-1", "cost_per_unit_minute"},
        {"/cost_per_unit_minute=0.0000001", "cost_per_unit_minute"},
        {"/cost_per_unit_minute=\"1\"", "cost_per_unit_minute"},
        {"/penalty/quota=200000", "penalty.quota"},
        {"/penalty/forecast=5000", "penalty.forecast"},
        {"/penalty/reserved=-1", "penalty.reserved"},
        {"/penalty/urgent=1", "penalty.urgent", eqm::errc::unknown_field},
        {"/horizon=7", "horizon", eqm::errc::unknown_field},
    }));
    CAPTURE(c.edit);
    const auto in = eqm::parse_allocation_input(edited(c.edit), eqm::plan_names::region);
    REQUIRE_FALSE(in.has_value());
    INFO(in.error().describe());
    CHECK(in.error().field == c.field);
    CHECK(in.error().code == c.code);
    CHECK_FALSE(in.error().message.empty());
}

TEST_CASE("messages say the rule", "[allocation][input]") {
    const auto negative =
        eqm::parse_allocation_input(edited("/stock/450100/drone=-1"), eqm::plan_names::region);
    REQUIRE_FALSE(negative.has_value());
    CHECK(negative.error().describe() == "stock.450100.drone: out of range: must be 0..1000000000");
    const auto city =
        eqm::parse_allocation_input(edited("/stock/450200={}"), eqm::plan_names::region);
    REQUIRE_FALSE(city.has_value());
    CHECK(city.error().describe() == "stock.450200: unknown city \"450200\": not in cities");
    const auto order =
        eqm::parse_allocation_input(edited("/penalty/quota=200000"), eqm::plan_names::region);
    REQUIRE_FALSE(order.has_value());
    CHECK(order.error().describe() ==
          "penalty.quota: must be at most penalty.reserved (100000): bookings come before quota "
          "gaps");
    const auto square =
        eqm::parse_allocation_input(edited("/travel_minutes=[[0, 330]]"), eqm::plan_names::region);
    REQUIRE_FALSE(square.has_value());
    CHECK(square.error().message.starts_with("not square"));
}

TEST_CASE("not JSON, or not an object, is refused", "[allocation][input]") {
    const auto text = eqm::parse_allocation_input_text("{\"cities\": [", eqm::plan_names::region);
    REQUIRE_FALSE(text.has_value());
    CHECK(text.error().code == eqm::errc::bad_json);
    const auto array = eqm::parse_allocation_input(json::array(), eqm::plan_names::region);
    REQUIRE_FALSE(array.has_value());
    CHECK(array.error().field.empty());
}

TEST_CASE("without travel_minutes the region's road-time estimates are used",
          "[allocation][input]") {
    auto j = base_input();
    j.erase("travel_minutes");
    j.erase("penalty");
    j.erase("cost_per_unit_minute");
    const auto in = eqm::parse_allocation_input(j, eqm::plan_names::region);
    REQUIRE(in.has_value());
    const auto expected =
        eqm::road_time(*eqm::find_city("450100"), *eqm::find_city("450300")).count();
    CHECK(in->travel_of(0, 1) == expected * eqm::micros_per_unit);
    CHECK(in->travel_of(1, 0) == expected * eqm::micros_per_unit);
    CHECK(in->travel_of(0, 0) == 0);
    CHECK(in->penalty == eqm::default_penalty);
    CHECK(in->cost_per_unit_minute == eqm::micros_per_unit);
}

TEST_CASE("null travel is no route, fractional minutes are exact", "[allocation][input]") {
    const auto in = eqm::parse_allocation_input(edited("/travel_minutes=[[0, null], [95.25, 0]]"),
                                                eqm::plan_names::region);
    REQUIRE(in.has_value());
    CHECK(in->travel_of(0, 1) == eqm::unreachable);
    CHECK(in->travel_of(1, 0) == 95'250'000);
}

TEST_CASE("any names are accepted on request, with a travel matrix", "[allocation][input]") {
    auto j = base_input();
    j["cities"] = {"north-1", "south.2"};
    j["classes"] = {"class00", "class01"};
    j["stock"] = {{"north-1", {{"class00", 3}}}};
    j["demand"] = {{"south.2", {{"class01", {{"quota", 1}}}}}};
    CHECK_FALSE(eqm::parse_allocation_input(j, eqm::plan_names::region).has_value());
    const auto in = eqm::parse_allocation_input(j, eqm::plan_names::any);
    INFO((in ? std::string() : in.error().describe()));
    REQUIRE(in.has_value());
    CHECK(in->stock_of(0, 0) == 3);

    j.erase("travel_minutes");
    const auto missing = eqm::parse_allocation_input(j, eqm::plan_names::any);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().field == "travel_minutes");
    j["cities"] = {"north 1", "south"};
    const auto spaced = eqm::parse_allocation_input(j, eqm::plan_names::any);
    REQUIRE_FALSE(spaced.has_value());
    CHECK(spaced.error().field == "cities[0]");
}

TEST_CASE("input and plan survive a JSON round trip", "[allocation][input]") {
    auto j = base_input();
    j["travel_minutes"] = json::parse("[[0, 95.5], [null, 0]]");
    j["cost_per_unit_minute"] = 0.1;
    j["penalty"]["forecast"] = 10.125;
    j["demand"]["450300"]["analyzer:cod"] = {{"reserved", 1}};
    const auto in = eqm::parse_allocation_input(j, eqm::plan_names::region);
    REQUIRE(in.has_value());
    const auto again = eqm::parse_allocation_input(eqm::to_json(*in), eqm::plan_names::region);
    INFO(eqm::to_json(*in).dump());
    INFO((again ? std::string() : again.error().describe()));
    REQUIRE(again.has_value());
    CHECK(*again == *in);
    CHECK(eqm::to_json(*in)["cost_per_unit_minute"].dump() == "0.1");

    auto plan = eqm::allocation::solve(*in);
    REQUIRE(plan.has_value());
    REQUIRE_FALSE(plan->moves.empty());
    REQUIRE_FALSE(plan->unmet.empty());
    plan->id = "plan-1";
    const auto read = eqm::parse_allocation_plan(eqm::to_json(*plan));
    INFO((read ? std::string() : read.error().describe()));
    REQUIRE(read.has_value());
    CHECK(*read == *plan);
    CHECK(eqm::check_plan(*in, *read).has_value());
}
