#pragma once
/// The regional allocation plan (ARCHITECTURE.md, "Bodies of the planning side";
/// docs/allocation.md): which ready units of each class to move between cities so that bookings,
/// quotas and forecast demand are met at the least total cost.
///
/// The plan minimises, class by class,
///
///     total_cost = sum over moves of count x travel_minutes[from][to] x cost_per_unit_minute
///                + sum over unmet demand of count x penalty[kind]
///
/// under these rules: a move goes straight from its source to its destination (no relay); a
/// city's own stock serves its own demand first, at no cost, highest priority first (reserved,
/// then quota, then forecast); and at most spare = max(0, stock - reserved - quota) units of a
/// class leave a city, so a plan never takes a city below its booked needs or its quota (its
/// forecast may be given up). Penalties are the priorities: penalty.reserved >= penalty.quota >=
/// penalty.forecast >= 0.
///
/// This header is the pure model: the input and the plan, their JSON, the exact cost arithmetic,
/// settle() which turns the solver's flows into a plan (what each move serves, what stays unmet
/// and why), and check_plan() which recomputes a plan's cost and proves it breaks no rule. The
/// optimisation itself is in libs/allocation (LEMON's network simplex).
///
/// Every time and cost figure is an exact decimal with at most 6 places, held in millionths
/// (`micros`), so the optimiser works on integers and its optimum is exact.
#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"

namespace eqm {

/// The kinds of demand, in priority order: bookings before quota gaps before forecast.
enum class demand_kind { reserved, quota, forecast };
inline constexpr std::array<demand_kind, 3> demand_kinds{demand_kind::reserved, demand_kind::quota,
                                                         demand_kind::forecast};

std::string_view to_string(demand_kind k) noexcept;
std::optional<demand_kind> parse_demand_kind(std::string_view s) noexcept;

/// Units of each demand kind (what a city needs, what a move serves).
struct kind_units {
    std::array<std::int64_t, 3> units{};

    std::int64_t& operator[](demand_kind k) noexcept { return units[static_cast<std::size_t>(k)]; }
    std::int64_t operator[](demand_kind k) const noexcept {
        return units[static_cast<std::size_t>(k)];
    }
    std::int64_t total() const noexcept { return units[0] + units[1] + units[2]; }
    bool operator==(const kind_units&) const = default;
};

/// Takes up to `units` from `open`, highest priority first (the order in which a city's own stock
/// and then incoming moves serve its demand); returns what was taken.
kind_units take_by_priority(kind_units& open, std::int64_t units) noexcept;

/// An exact non-negative decimal with at most 6 places, in millionths (95.5 minutes = 95500000).
using micros = std::int64_t;
inline constexpr micros micros_per_unit = 1'000'000;
inline constexpr int max_decimal_places = 6;
/// The travel entry of two cities with no route between them (JSON null in travel_minutes).
inline constexpr micros unreachable = -1;

// Limits of one plan input.
inline constexpr std::size_t max_plan_cities = 1000;
inline constexpr std::size_t max_plan_classes = 1000;
/// Per stock or demand entry.
inline constexpr std::int64_t max_plan_units = 1'000'000'000;
inline constexpr micros max_travel_minutes = 1'000'000 * micros_per_unit;
inline constexpr micros max_cost_per_unit_minute = 1'000'000 * micros_per_unit;
inline constexpr micros max_penalty = 1'000'000'000'000 * micros_per_unit;
/// The largest plan input text read (the CLI file; the HTTP body has its own, smaller limit).
inline constexpr std::size_t max_allocation_input_bytes = 64 * 1024 * 1024;

/// The contract's example penalties, used when the input gives none.
inline constexpr std::array<micros, 3> default_penalty{
    100'000 * micros_per_unit, 1'000 * micros_per_unit, 10 * micros_per_unit};

/// One plan input. Cities and classes are named; everything else is by index, row-major with
/// the city first: entry [city * classes.size() + cls] of stock and demand, entry
/// [from * cities.size() + to] of travel.
struct allocation_input {
    std::vector<std::string> cities;
    std::vector<std::string> classes;
    /// Ready units now (units in transit count at their destination).
    std::vector<std::int64_t> stock;
    /// Units needed in all, by kind.
    std::vector<kind_units> demand;
    /// Travel minutes in micros; unreachable where there is none; 0 on the diagonal.
    std::vector<micros> travel;
    micros cost_per_unit_minute = micros_per_unit;
    /// Per unit left unmet, by kind, in micros.
    std::array<micros, 3> penalty = default_penalty;

    std::size_t city_count() const noexcept { return cities.size(); }
    std::size_t class_count() const noexcept { return classes.size(); }
    std::int64_t stock_of(std::size_t city, std::size_t cls) const noexcept {
        return stock[city * classes.size() + cls];
    }
    const kind_units& demand_of(std::size_t city, std::size_t cls) const noexcept {
        return demand[city * classes.size() + cls];
    }
    micros travel_of(std::size_t from, std::size_t to) const noexcept {
        return travel[from * cities.size() + to];
    }
    micros penalty_of(demand_kind k) const noexcept { return penalty[static_cast<std::size_t>(k)]; }
    /// Units of `cls` that may leave `city`: max(0, stock - reserved - quota).
    std::int64_t spare(std::size_t city, std::size_t cls) const noexcept;

    /// An input of this shape with nothing in it: no stock, no demand, every route 0 minutes.
    static allocation_input empty(std::vector<std::string> cities,
                                  std::vector<std::string> classes);

    bool operator==(const allocation_input&) const = default;
};

/// Structural checks of an input built in code (the JSON reader checks the same and more):
/// sizes agree, names are non-empty and unique, counts are 0..max_plan_units, travel times are
/// 0..max_travel_minutes or unreachable with 0 on the diagonal, costs within their limits and
/// penalty.reserved >= penalty.quota >= penalty.forecast. Errors name the field as the JSON would
/// (`stock.450100.drone`, `travel_minutes[2][5]`, `penalty.quota`).
result<void> validate(const allocation_input& in);

/// The costs of one input as exact integers: every amount is a whole number of 10^-decimals.
struct exact_costs {
    int decimals = 0;
    /// Per unit moved [from * cities + to]; -1 where there is no route.
    std::vector<std::int64_t> move;
    /// Per unit left unmet, by demand_kind.
    std::array<std::int64_t, 3> unmet{};

    std::int64_t move_cost(std::size_t from, std::size_t to, std::size_t cities) const noexcept {
        return move[from * cities + to];
    }
    std::int64_t unmet_cost(demand_kind k) const noexcept {
        return unmet[static_cast<std::size_t>(k)];
    }
    /// A scaled amount as a number (correctly rounded).
    double value(std::int64_t scaled) const noexcept;
};

/// The input's costs in the fewest decimal places that hold them all exactly. Fails (bad_field
/// on cost_per_unit_minute or penalty) when a whole plan's cost could overflow 64-bit integers
/// in the optimiser: any sum of at most (units + nodes) costs stays below 2^61.
result<exact_costs> make_exact_costs(const allocation_input& in);

/// Units the optimiser moves from one city to another.
struct unit_flow {
    std::size_t from = 0;
    std::size_t to = 0;
    std::size_t cls = 0;
    std::int64_t count = 0;
};

/// Why demand stays unmet.
enum class unmet_reason {
    no_spare,      ///< no other city has a unit of the class beyond its bookings and quota
    spares_taken,  ///< there were spare units, all planned for other demand
    no_route,      ///< the cities with a unit to spare have no route to this one
    not_worth,     ///< bringing the nearest spare unit costs at least the penalty of leaving it
};
std::string_view to_string(unmet_reason r) noexcept;
std::optional<unmet_reason> parse_unmet_reason(std::string_view s) noexcept;

/// One move of the plan: `count` units of `cls` from `from` to `to`, and which of the
/// destination's demand they serve (serves.total() == count).
struct plan_move {
    std::string from;
    std::string to;
    std::string cls;
    std::int64_t count = 0;
    double eta_minutes = 0;
    double cost = 0;
    kind_units serves{};
    bool operator==(const plan_move&) const = default;
};

/// Demand of one kind left unmet in one city, and why.
struct unmet_demand {
    std::string city;
    std::string cls;
    demand_kind kind = demand_kind::reserved;
    std::int64_t count = 0;
    unmet_reason reason = unmet_reason::no_spare;
    std::string reason_text;
    bool operator==(const unmet_demand&) const = default;
};

/// The answer: moves ordered by class, source and destination (input order), unmet demand by
/// class, city and priority. The API adds the plan's `id`.
struct allocation_plan {
    std::optional<std::string> id{};
    std::vector<plan_move> moves;
    std::vector<unmet_demand> unmet;
    double total_cost = 0;
    bool operator==(const allocation_plan&) const = default;
};

/// The plan made by these flows (from an optimiser, or written by hand in tests). At each
/// destination the city's own remaining stock serves first, then the incoming moves, cheapest
/// first, each serving the highest-priority demand still open; a move (or the part of one) that
/// serves nothing is dropped, which can only happen to a move that costs nothing. What stays
/// unmet is then counted by kind, lowest priority first given up, with its reason. Flows outside
/// the input (indexes, a city to itself, no units) are ignored; flows must respect each source's
/// spare (check_plan() verifies).
allocation_plan settle(const allocation_input& in, const exact_costs& costs,
                       std::vector<unit_flow> flows);

/// A plan's exact cost, recomputed.
struct plan_check {
    int decimals = 0;
    std::int64_t scaled_total = 0;
    double total_cost = 0;
};

/// Verifies a plan against its input, independently of how it was made: names are the input's,
/// moves go between two different cities with a route, eta and cost are the input's, no source
/// loses more than its spare (errc::conflict, "moves take <city> below its bookings and quota"),
/// serves add up to each count and fill the destination's demand by priority after its own
/// stock, unmet is exactly what the moves leave open, total_cost is the recomputed cost, and no
/// unmet unit could be served by a leftover spare unit for less than its penalty.
result<plan_check> check_plan(const allocation_input& in, const allocation_plan& plan);

/// Whether city and class names must be the region's (the API and `eqm plan`) or may be any
/// (what-if studies and benchmarks: `eqm plan --any-names`).
enum class plan_names { region, any };

/// Class names of the region: the device classes and the analyzer subtypes, `analyzer:<analyte>`.
bool is_region_plan_class(std::string_view name) noexcept;

/// Reads a plan input (see docs/allocation.md). With plan_names::region the cities must be the
/// region's codes and travel_minutes may be left out (estimated from the cities' coordinates,
/// region.hpp); with plan_names::any, names match ^[A-Za-z0-9_:.-]{1,64}$ and travel_minutes is
/// required. cost_per_unit_minute defaults to 1 and each penalty to the contract's example.
/// Every refusal names its field.
result<allocation_input> parse_allocation_input(const nlohmann::json& j, plan_names names);
result<allocation_input> parse_allocation_input_text(std::string_view text, plan_names names);

/// The input as JSON, travel_minutes always written out (null where there is no route).
nlohmann::json to_json(const allocation_input& in);
/// The plan as JSON: `{id?, moves: [{from, to, class, count, eta_minutes, cost, serves}],
/// unmet: [{city, class, kind, count, reason, reason_code}], total_cost}`, where serves is an
/// object of the positive demand kinds, e.g. `{"reserved": 2, "quota": 1}`.
nlohmann::json to_json(const allocation_plan& plan);
/// Reads a plan written by to_json (shape only; check_plan() relates it to its input).
result<allocation_plan> parse_allocation_plan(const nlohmann::json& j);

}  // namespace eqm
