// The plan's rules on cases small enough to check by hand: priorities, quotas kept, own stock
// first, no relay, moves worth their cost, the nearest source, exact costs, what moves serve,
// and why demand stays unmet. Every plan is also verified by check_plan().
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "eqm/allocation/solver.hpp"
#include "plan_fixtures.hpp"

namespace {

using eqm::demand_kind;
using eqm::unmet_reason;
using eqm::test::plan_builder;

eqm::allocation_plan solve_checked(const eqm::allocation_input& in) {
    auto plan = eqm::allocation::solve(in);
    INFO((plan ? std::string() : plan.error().describe()));
    REQUIRE(plan.has_value());
    const auto check = eqm::check_plan(in, *plan);
    INFO((check ? std::string() : check.error().describe()));
    REQUIRE(check.has_value());
    CHECK(check->total_cost == plan->total_cost);
    return *plan;
}

eqm::kind_units units(std::int64_t reserved, std::int64_t quota, std::int64_t forecast) {
    eqm::kind_units k;
    k[demand_kind::reserved] = reserved;
    k[demand_kind::quota] = quota;
    k[demand_kind::forecast] = forecast;
    return k;
}

}  // namespace

TEST_CASE("a booking wins the one spare drone over a quota gap, even from further away",
          "[allocation][rules]") {
    plan_builder b({"S", "A", "B"}, {"drone"});
    b.stock("S", "drone", 1)
        .demand("A", "drone", 1, 0, 0)
        .demand("B", "drone", 0, 1, 0)
        .travel("S", "A", 120)
        .travel("S", "B", 60);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].from == "S");
    CHECK(plan.moves[0].to == "A");
    CHECK(plan.moves[0].count == 1);
    CHECK(plan.moves[0].eta_minutes == 120);
    CHECK(plan.moves[0].serves == units(1, 0, 0));
    REQUIRE(plan.unmet.size() == 1);
    CHECK(plan.unmet[0].city == "B");
    CHECK(plan.unmet[0].kind == demand_kind::quota);
    CHECK(plan.unmet[0].count == 1);
    CHECK(plan.unmet[0].reason == unmet_reason::spares_taken);
    CHECK(plan.total_cost == 120 + 1000);
}

TEST_CASE("a plan never takes a city below its bookings or its quota", "[allocation][rules]") {
    plan_builder b({"S", "A"}, {"drone"});
    // S holds exactly what its bookings and quota need: nothing may leave, however urgent A is.
    b.stock("S", "drone", 3).demand("S", "drone", 1, 2, 4).demand("A", "drone", 2, 0, 0);
    b.travel("S", "A", 30);
    const auto plan = solve_checked(b.input());
    CHECK(plan.moves.empty());
    REQUIRE(plan.unmet.size() == 2);
    CHECK(plan.unmet[0].city == "S");
    CHECK(plan.unmet[0].kind == demand_kind::forecast);
    CHECK(plan.unmet[1].city == "A");
    CHECK(plan.unmet[1].kind == demand_kind::reserved);
    CHECK(plan.unmet[1].count == 2);
    CHECK(plan.unmet[1].reason == unmet_reason::no_spare);
    CHECK(plan.unmet[1].reason_text.find("no city can spare a drone") == 0);
    CHECK(plan.total_cost == 4 * 10 + 2 * 100000);
}

TEST_CASE("a city's own stock serves its own demand first, highest priority first, at no cost",
          "[allocation][rules]") {
    plan_builder b({"A", "B"}, {"drone"});
    b.stock("A", "drone", 2).demand("A", "drone", 1, 1, 1);
    b.stock("B", "drone", 5).travel("A", "B", 11);
    const auto plan = solve_checked(b.input());
    // B could send one for 11, more than the forecast penalty of 10, so nothing moves, and A's
    // own two units cover its booking and its quota, not its forecast.
    CHECK(plan.moves.empty());
    REQUIRE(plan.unmet.size() == 1);
    CHECK(plan.unmet[0].kind == demand_kind::forecast);
    CHECK(plan.unmet[0].reason == unmet_reason::not_worth);
    CHECK(plan.total_cost == 10);
}

TEST_CASE("a city gives up its own forecast for a booking elsewhere", "[allocation][rules]") {
    plan_builder b({"A", "B"}, {"drone"});
    b.stock("A", "drone", 1).demand("A", "drone", 0, 0, 1).demand("B", "drone", 1, 0, 0);
    b.travel("A", "B", 200);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].from == "A");
    REQUIRE(plan.unmet.size() == 1);
    CHECK(plan.unmet[0].city == "A");
    CHECK(plan.unmet[0].kind == demand_kind::forecast);
    CHECK(plan.unmet[0].reason == unmet_reason::spares_taken);
    CHECK(plan.total_cost == 200 + 10);
}

TEST_CASE("units move straight from source to destination, never relayed", "[allocation][rules]") {
    SECTION("no direct route: the booking stays unmet even though A-B-C connects") {
        plan_builder b({"A", "B", "C"}, {"drone"});
        b.stock("A", "drone", 2).demand("C", "drone", 1, 0, 0);
        b.travel("A", "B", 10).travel("B", "C", 10).travel("A", "C", std::nullopt);
        const auto plan = solve_checked(b.input());
        CHECK(plan.moves.empty());
        REQUIRE(plan.unmet.size() == 1);
        CHECK(plan.unmet[0].reason == unmet_reason::no_route);
        CHECK(plan.unmet[0].reason_text == "no route to C from a city with a spare drone");
    }
    SECTION("a long direct route is taken, not the short way through B") {
        plan_builder b({"A", "B", "C"}, {"drone"});
        b.stock("A", "drone", 2).demand("C", "drone", 1, 0, 0);
        b.travel("A", "B", 10).travel("B", "C", 10).travel("A", "C", 1000);
        const auto plan = solve_checked(b.input());
        REQUIRE(plan.moves.size() == 1);
        CHECK(plan.moves[0].from == "A");
        CHECK(plan.moves[0].to == "C");
        CHECK(plan.moves[0].cost == 1000);
    }
}

TEST_CASE("forecast stays unmet when bringing a unit costs more than its penalty",
          "[allocation][rules]") {
    plan_builder b({"A", "B"}, {"drone"});
    b.stock("A", "drone", 3).demand("B", "drone", 0, 1, 2).travel("A", "B", 95);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].count == 1);
    CHECK(plan.moves[0].serves == units(0, 1, 0));
    REQUIRE(plan.unmet.size() == 1);
    CHECK(plan.unmet[0].count == 2);
    CHECK(plan.unmet[0].reason == unmet_reason::not_worth);
    CHECK(plan.unmet[0].reason_text ==
          "the nearest spare drone, from A (95 min), costs 95 to bring, not less than the forecast "
          "penalty of 10");
    CHECK(plan.total_cost == 95 + 2 * 10);
}

TEST_CASE("the nearest spare unit is moved", "[allocation][rules]") {
    plan_builder b({"far", "near", "A"}, {"drone"});
    b.stock("far", "drone", 1).stock("near", "drone", 1).demand("A", "drone", 1, 0, 0);
    b.travel("far", "A", 100).travel("near", "A", 50).travel("far", "near", 10);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].from == "near");
    CHECK(plan.total_cost == 50);
}

TEST_CASE("a move serves its destination's demand highest priority first", "[allocation][rules]") {
    plan_builder b({"S", "A"}, {"drone", "body_camera"});
    b.stock("S", "drone", 5).demand("A", "drone", 1, 1, 1).travel("S", "A", 5);
    b.stock("A", "body_camera", 4).demand("S", "body_camera", 2, 0, 0);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 2);
    // Moves are listed class by class in the input's order.
    CHECK(plan.moves[0].cls == "drone");
    CHECK(plan.moves[0].count == 3);
    CHECK(plan.moves[0].serves == units(1, 1, 1));
    CHECK(plan.moves[1].cls == "body_camera");
    CHECK(plan.moves[1].serves == units(2, 0, 0));
    const auto j = eqm::to_json(plan);
    CHECK(j["moves"][0]["serves"] ==
          nlohmann::json{{"reserved", 1}, {"quota", 1}, {"forecast", 1}});
    CHECK(j["moves"][1]["serves"] == nlohmann::json{{"reserved", 2}});
    CHECK(plan.unmet.empty());
    CHECK(plan.total_cost == 3 * 5 + 2 * 5);
}

TEST_CASE("fractional costs are exact", "[allocation][rules]") {
    plan_builder b({"S", "A"}, {"drone"});
    b.stock("S", "drone", 3).demand("A", "drone", 0, 3, 2).travel("S", "A", 2.5);
    b.cost_per_unit_minute(0.1).penalty(1000, 100.25, 0.2);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].count == 3);
    CHECK(plan.moves[0].cost == 0.75);  // 3 x 2.5 x 0.1, not 0.7500000000000001
    CHECK(plan.total_cost == 1.15);     // + 2 x 0.2
    CHECK(eqm::to_json(plan)["total_cost"].dump() == "1.15");
}

TEST_CASE("a move that costs nothing and serves nothing is not listed", "[allocation][rules]") {
    plan_builder b({"S", "A", "B"}, {"drone"});
    b.stock("S", "drone", 5).stock("A", "drone", 2).demand("A", "drone", 2, 0, 0);
    b.stock("B", "drone", 1).demand("B", "drone", 1, 1, 0).cost_per_unit_minute(0);
    const auto plan = solve_checked(b.input());
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].to == "B");
    CHECK(plan.moves[0].serves == units(0, 1, 0));
    CHECK(plan.total_cost == 0);
}

TEST_CASE("check_plan refuses a plan that breaks a rule or misstates its cost",
          "[allocation][check]") {
    plan_builder b({"S", "A"}, {"drone"});
    b.stock("S", "drone", 3).demand("S", "drone", 0, 2, 0).demand("A", "drone", 2, 0, 0);
    b.travel("S", "A", 10);
    const auto& in = b.input();
    const auto costs = eqm::make_exact_costs(in);
    REQUIRE(costs.has_value());

    SECTION("taking S below its quota") {
        const auto plan = eqm::settle(in, *costs, {{0, 1, 0, 2}});
        const auto check = eqm::check_plan(in, plan);
        REQUIRE_FALSE(check.has_value());
        CHECK(check.error().code == eqm::errc::conflict);
        CHECK(check.error().message.find("below its bookings and quota") != std::string::npos);
    }
    SECTION("leaving a booking unmet that a spare unit could serve") {
        const auto plan = eqm::settle(in, *costs, {});
        const auto check = eqm::check_plan(in, plan);
        REQUIRE_FALSE(check.has_value());
        CHECK(check.error().message.find("not optimal") == 0);
    }
    SECTION("a wrong total") {
        auto plan = eqm::settle(in, *costs, {{0, 1, 0, 1}});
        REQUIRE(eqm::check_plan(in, plan).has_value());
        plan.total_cost += 1;
        const auto check = eqm::check_plan(in, plan);
        REQUIRE_FALSE(check.has_value());
        CHECK(check.error().field == "total_cost");
    }
    SECTION("a move to a city that is not in the input") {
        auto plan = eqm::settle(in, *costs, {{0, 1, 0, 1}});
        std::string unknown(1, 'X');
        plan.moves[0].to.swap(unknown);
        const auto check = eqm::check_plan(in, plan);
        REQUIRE_FALSE(check.has_value());
        CHECK(check.error().field == "moves[0].to");
    }
}
