// The plan against an independent reference: on hundreds of seeded random instances, the plan's
// cost equals the optimum glpsol (GLPK) finds for the same problem written as an LP in CPLEX LP
// format, and no plan takes a city below its bookings or its quota.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "eqm/allocation/lp_format.hpp"
#include "eqm/allocation/solver.hpp"
#include "eqm/test/temp_dir.hpp"
#include "plan_fixtures.hpp"

namespace {

constexpr std::uint64_t instance_count = 300;
constexpr std::uint64_t first_seed = 20240601;

/// Picks one of `options`.
template <class T>
T pick(std::mt19937_64& rng, std::initializer_list<T> options) {
    std::uniform_int_distribution<std::size_t> d(0, options.size() - 1);
    return *(options.begin() + static_cast<std::ptrdiff_t>(d(rng)));
}

std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

/// Travel between random points (a metric, like roads) or arbitrary figures (not a metric, so
/// a relay would sometimes be cheaper), some of them fractional, zero or missing.
void random_travel(std::mt19937_64& rng, eqm::allocation_input& in) {
    const std::size_t n = in.city_count();
    const bool metric = uniform(rng, 0, 1) == 0;
    std::vector<std::pair<double, double>> at(n);
    for (auto& p : at)
        p = {static_cast<double>(uniform(rng, 0, 300)), static_cast<double>(uniform(rng, 0, 300))};
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            if (i == j) continue;
            auto& t = in.travel[i * n + j];
            if (uniform(rng, 0, 9) == 0) {
                t = eqm::unreachable;
            } else if (metric) {
                const double d = std::hypot(at[i].first - at[j].first, at[i].second - at[j].second);
                t = static_cast<eqm::micros>(std::llround(d)) * eqm::micros_per_unit;
            } else {
                t = uniform(rng, 0, 4000) * eqm::micros_per_unit / 10;  // 0.0 .. 400.0 minutes
            }
        }
    }
}

/// A small instance with every feature of the model in play: bookings, quotas and forecast,
/// cities with spare units and cities short of them, ties and zeros in the costs.
eqm::allocation_input random_instance(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto n = static_cast<std::size_t>(uniform(rng, 2, 7));
    const auto classes = static_cast<std::size_t>(uniform(rng, 1, 3));
    std::vector<std::string> city_names(n, "c"), class_names(classes, "k");
    for (std::size_t i = 0; i < n; ++i) city_names[i] += std::to_string(i);
    for (std::size_t k = 0; k < classes; ++k) class_names[k] += std::to_string(k);
    auto in = eqm::allocation_input::empty(city_names, class_names);
    for (auto& s : in.stock) s = uniform(rng, 0, 3) == 0 ? 0 : uniform(rng, 0, 8);
    for (auto& d : in.demand)
        for (const auto kind : eqm::demand_kinds)
            d[kind] = uniform(rng, 0, 2) == 0 ? 0 : uniform(rng, 0, 4);
    random_travel(rng, in);
    using eqm::micros_per_unit;
    in.cost_per_unit_minute = pick<eqm::micros>(
        rng, {micros_per_unit, micros_per_unit / 2, micros_per_unit / 10, 2'250'000, 0, 1'000});
    const eqm::micros forecast = pick<eqm::micros>(rng, {0, 5, 10, 50, 200}) * micros_per_unit +
                                 pick<eqm::micros>(rng, {0, 0, 125'000});
    const eqm::micros quota = forecast + pick<eqm::micros>(rng, {0, 100, 1000}) * micros_per_unit;
    const eqm::micros reserved = quota + pick<eqm::micros>(rng, {0, 500, 100000}) * micros_per_unit;
    in.penalty = {reserved, quota, forecast};
    return in;
}

/// Units of each city and class after the moves never fall below min(stock, reserved + quota).
void require_bookings_and_quotas_kept(const eqm::allocation_input& in,
                                      const eqm::allocation_plan& plan) {
    std::vector<std::int64_t> after = in.stock;
    const auto index = [](const std::vector<std::string>& names, const std::string& name) {
        return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) -
                                        names.begin());
    };
    for (const auto& m : plan.moves) {
        const auto k = index(in.classes, m.cls);
        after[index(in.cities, m.from) * in.class_count() + k] -= m.count;
        after[index(in.cities, m.to) * in.class_count() + k] += m.count;
    }
    for (std::size_t i = 0; i < after.size(); ++i) {
        const auto& d = in.demand[i];
        const auto kept = d[eqm::demand_kind::reserved] + d[eqm::demand_kind::quota];
        REQUIRE(after[i] >= std::min(in.stock[i], kept));
    }
}

}  // namespace

TEST_CASE("plans cost what GLPK finds optimal on seeded random instances, keeping every quota",
          "[allocation][glpk]") {
    const auto glpsol = eqm::test::require_glpsol();
    eqm::test::temp_dir dir("eqm-plan-glpk");
    const auto lp_file = dir / "plan.lp";
    std::uint64_t with_moves = 0, with_unmet = 0;
    for (std::uint64_t seed = first_seed; seed < first_seed + instance_count; ++seed) {
        CAPTURE(seed);
        const auto in = random_instance(seed);
        INFO(eqm::to_json(in).dump());
        const auto plan = eqm::allocation::solve(in);
        REQUIRE(plan.has_value());
        const auto check = eqm::check_plan(in, *plan);
        INFO((check ? std::string() : check.error().describe()));
        REQUIRE(check.has_value());
        require_bookings_and_quotas_kept(in, *plan);

        // Half the instances as the model states it (every route), half with only the
        // optimiser's own arcs: the same optimum either way.
        const auto columns = seed % 2 == 0 ? eqm::allocation::lp_columns::all_routes
                                           : eqm::allocation::lp_columns::candidate_moves;
        {
            std::ofstream out(lp_file, std::ios::trunc);
            REQUIRE(eqm::allocation::write_cplex_lp(in, out, columns).has_value());
        }
        const double optimum = eqm::test::glpsol_optimum(glpsol, lp_file, dir.path());
        CHECK(plan->total_cost == Approx(optimum).epsilon(1e-6).margin(1e-9));
        with_moves += plan->moves.empty() ? 0 : 1;
        with_unmet += plan->unmet.empty() ? 0 : 1;
    }
    // The instances exercise both sides of the model.
    CHECK(with_moves > instance_count / 3);
    CHECK(with_unmet > instance_count / 3);
}
