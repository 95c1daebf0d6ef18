// check_plan(): recomputes a plan from its input alone and refuses one that breaks a rule,
// misstates a figure, or leaves demand unmet that a leftover spare unit could serve for less.
#include <cmath>
#include <map>

#include "allocation_names.hpp"
#include "eqm/domain/allocation.hpp"
#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {

namespace {

using detail::index_of;
using detail::name_index;

bool same_number(double a, double b) noexcept {
    return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::max(std::fabs(a), std::fabs(b)));
}

/// What the moves of a plan add up to, per [city * classes + cls].
struct tallies {
    std::vector<std::int64_t> out, in;
    std::vector<kind_units> served_in;
    std::int64_t scaled = 0;
};

result<std::size_t> resolve(const name_index& names, const std::string& name,
                            const std::string& field, std::string_view what) {
    const auto it = names.find(name);
    if (it == names.end())
        return fail(errc::bad_field, field,
                    "unknown " + std::string(what) + " " + detail::dump(detail::json(name)));
    return it->second;
}

result<void> check_move(const allocation_input& in, const exact_costs& costs, const plan_move& m,
                        const std::string& at, const name_index& cities, const name_index& classes,
                        tallies& t) {
    EQM_TRY_LET(from, resolve(cities, m.from, at + ".from", "city"));
    EQM_TRY_LET(to, resolve(cities, m.to, at + ".to", "city"));
    EQM_TRY_LET(cls, resolve(classes, m.cls, at + ".class", "class"));
    const std::size_t n = in.city_count();
    if (from == to) return fail(errc::bad_field, at + ".to", "a move goes to another city");
    if (in.travel_of(from, to) == unreachable)
        return fail(errc::bad_field, at + ".to", "no route from " + m.from + " to " + m.to);
    if (m.count < 1) return fail(errc::bad_field, at + ".count", "out of range: must be >= 1");
    if (!same_number(m.eta_minutes, static_cast<double>(in.travel_of(from, to)) / micros_per_unit))
        return fail(errc::bad_field, at + ".eta_minutes", "is not the travel time of the input");
    std::int64_t scaled = 0;
    if (__builtin_mul_overflow(m.count, costs.move_cost(from, to, n), &scaled) ||
        !same_number(m.cost, costs.value(scaled)))
        return fail(errc::bad_field, at + ".cost", "is not count x travel x cost_per_unit_minute");
    for (const auto kind : demand_kinds)
        if (m.serves[kind] < 0)
            return fail(errc::bad_field, at + ".serves", "out of range: must be >= 0");
    if (m.serves.total() != m.count)
        return fail(errc::bad_field, at + ".serves", "must add up to count");
    const auto cell = [&](std::size_t city) { return city * in.class_count() + cls; };
    t.out[cell(from)] += m.count;
    t.in[cell(to)] += m.count;
    for (const auto kind : demand_kinds) t.served_in[cell(to)][kind] += m.serves[kind];
    t.scaled += scaled;
    return {};
}

std::string what(const allocation_input& in, std::size_t city, std::size_t cls) {
    return in.classes[cls] + " of " + in.cities[city];
}

/// Spare kept, serves by priority; returns the unmet demand the moves leave, per cell.
result<std::vector<kind_units>> check_cells(const allocation_input& in, const tallies& t) {
    std::vector<kind_units> unmet(in.stock.size());
    for (std::size_t c = 0; c < in.city_count(); ++c) {
        for (std::size_t k = 0; k < in.class_count(); ++k) {
            const std::size_t i = c * in.class_count() + k;
            if (t.out[i] > in.spare(c, k))
                return fail(errc::conflict, "moves",
                            "moves take " + in.cities[c] + " below its bookings and quota for " +
                                in.classes[k] + ": " + std::to_string(t.out[i]) +
                                " leave, it can spare " + std::to_string(in.spare(c, k)));
            auto open = in.demand[i];
            take_by_priority(open, in.stock[i] - t.out[i]);
            if (take_by_priority(open, t.in[i]) != t.served_in[i])
                return fail(errc::conflict, "moves",
                            "the serves of the moves of " + what(in, c, k) +
                                " do not fill its open demand by priority");
            unmet[i] = in.demand[i];
            take_by_priority(unmet[i], in.stock[i] - t.out[i] + t.in[i]);
        }
    }
    return unmet;
}

result<void> check_unmet(const allocation_input& in, const allocation_plan& plan,
                         const std::vector<kind_units>& expected, const name_index& cities,
                         const name_index& classes) {
    std::vector<kind_units> stated(expected.size());
    for (std::size_t u = 0; u < plan.unmet.size(); ++u) {
        const auto& item = plan.unmet[u];
        const auto at = detail::index_path("unmet", u);
        EQM_TRY_LET(c, resolve(cities, item.city, at + ".city", "city"));
        EQM_TRY_LET(k, resolve(classes, item.cls, at + ".class", "class"));
        stated[c * in.class_count() + k][item.kind] += item.count;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
        if (stated[i] == expected[i]) continue;
        const auto c = i / in.class_count(), k = i % in.class_count();
        return fail(
            errc::conflict, "unmet",
            "the unmet demand stated for " + what(in, c, k) + " is not what the moves leave open");
    }
    return {};
}

/// What bringing one more unit of class k to j from i costs: the move, plus the forecast penalty
/// when the unit was serving i's own forecast (nothing when i has an idle one); -1 when i has no
/// spare unit left or no route to j.
std::int64_t one_more_cost(const allocation_input& in, const exact_costs& costs, const tallies& t,
                           std::size_t i, std::size_t j, std::size_t k) {
    const std::size_t n = in.city_count(), nk = in.class_count(), cell = i * nk + k;
    const auto move = costs.move_cost(i, j, n);
    if (i == j || move < 0 || in.spare(i, k) - t.out[cell] <= 0) return -1;
    const bool idle = in.stock[cell] - t.out[cell] + t.in[cell] > in.demand[cell].total();
    return move + (idle ? 0 : costs.unmet_cost(demand_kind::forecast));
}

/// No unmet unit could be served by a spare unit left somewhere for less than its penalty: one
/// more unit at j serves its highest-priority open demand.
result<void> check_leftovers(const allocation_input& in, const exact_costs& costs, const tallies& t,
                             const std::vector<kind_units>& unmet) {
    const std::size_t n = in.city_count(), nk = in.class_count();
    for (std::size_t k = 0; k < nk; ++k) {
        for (std::size_t j = 0; j < n; ++j) {
            const auto& open = unmet[j * nk + k];
            if (open.total() == 0) continue;
            auto first = demand_kind::forecast;
            for (const auto kind : demand_kinds) {
                if (open[kind] > 0) {
                    first = kind;
                    break;
                }
            }
            for (std::size_t i = 0; i < n; ++i) {
                const auto c = one_more_cost(in, costs, t, i, j, k);
                if (c >= 0 && c < costs.unmet_cost(first))
                    return fail(errc::conflict, "unmet",
                                "not optimal: a spare " + in.classes[k] + " of " + in.cities[i] +
                                    " could serve the " + std::string(to_string(first)) +
                                    " demand of " + in.cities[j] + " for less than its penalty");
            }
        }
    }
    return {};
}

}  // namespace

result<plan_check> check_plan(const allocation_input& in, const allocation_plan& plan) {
    EQM_TRY_LET(costs, make_exact_costs(in));
    const auto cities = index_of(in.cities);
    const auto classes = index_of(in.classes);
    tallies t;
    t.out.assign(in.stock.size(), 0);
    t.in.assign(in.stock.size(), 0);
    t.served_in.assign(in.stock.size(), kind_units{});
    for (std::size_t m = 0; m < plan.moves.size(); ++m)
        EQM_TRY(check_move(in, costs, plan.moves[m], detail::index_path("moves", m), cities,
                           classes, t));
    EQM_TRY_LET(unmet, check_cells(in, t));
    EQM_TRY(check_unmet(in, plan, unmet, cities, classes));
    EQM_TRY(check_leftovers(in, costs, t, unmet));
    std::int64_t total = t.scaled;
    for (const auto& u : unmet)
        for (const auto kind : demand_kinds) total += u[kind] * costs.unmet_cost(kind);
    plan_check out{costs.decimals, total, costs.value(total)};
    if (!same_number(plan.total_cost, out.total_cost))
        return fail(errc::bad_field, "total_cost",
                    "is " + detail::dump(detail::number_json(plan.total_cost)) +
                        "; the moves and unmet demand cost " +
                        detail::dump(detail::number_json(out.total_cost)));
    return out;
}

}  // namespace eqm
