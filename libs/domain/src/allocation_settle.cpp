// settle(): from the optimiser's flows to the plan a dispatcher reads: what each move serves,
// what stays unmet, why, and what it all costs.
#include <algorithm>

#include "eqm/domain/allocation.hpp"
#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {

namespace {

std::string number_text(double v) {
    return detail::dump(detail::number_json(v));
}

/// One class's flows while they are settled.
struct class_flows {
    std::size_t cls = 0;
    std::vector<unit_flow> flows;
    std::vector<kind_units> serves;
    std::vector<std::int64_t> out, in;

    void count_moves(std::size_t cities) {
        out.assign(cities, 0);
        in.assign(cities, 0);
        for (const auto& f : flows) {
            out[f.from] += f.count;
            in[f.to] += f.count;
        }
    }
};

/// Attributes each flow's units to its destination's open demand (own stock first, then the
/// cheapest flow first), trimming what serves nothing, until nothing changes: trimming a flow
/// leaves more stock at its source, which may in turn serve that city's own demand.
void attribute(const allocation_input& in, const exact_costs& costs, class_flows& cf) {
    const std::size_t n = in.city_count();
    std::vector<std::size_t> order(cf.flows.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const auto& x = cf.flows[a];
        const auto& y = cf.flows[b];
        const auto cx = costs.move_cost(x.from, x.to, n), cy = costs.move_cost(y.from, y.to, n);
        if (x.to != y.to) return x.to < y.to;
        if (cx != cy) return cx < cy;
        return x.from < y.from;
    });
    cf.serves.assign(cf.flows.size(), kind_units{});
    for (bool changed = true; changed;) {
        changed = false;
        cf.count_moves(n);
        std::size_t dest = n;
        kind_units open;
        for (const auto i : order) {
            auto& f = cf.flows[i];
            if (f.to != dest) {
                dest = f.to;
                open = in.demand_of(dest, cf.cls);
                take_by_priority(
                    open, std::max<std::int64_t>(0, in.stock_of(dest, cf.cls) - cf.out[dest]));
            }
            cf.serves[i] = take_by_priority(open, f.count);
            if (cf.serves[i].total() < f.count) {
                f.count = cf.serves[i].total();
                changed = true;
            }
        }
    }
    cf.count_moves(n);
}

struct reason_text {
    unmet_reason code;
    std::string text;
};

/// What bringing one more unit to `city` from `from` costs: the move, plus the forecast penalty
/// when that unit serves its own city's forecast; -1 when `from` has no spare unit left or no
/// route to `city`.
std::int64_t one_more_cost(const allocation_input& in, const exact_costs& costs,
                           const class_flows& cf, std::size_t from, std::size_t city) {
    const auto move = costs.move_cost(from, city, in.city_count());
    if (from == city || move < 0 || in.spare(from, cf.cls) - cf.out[from] <= 0) return -1;
    const auto units = in.stock_of(from, cf.cls) - cf.out[from] + cf.in[from];
    const bool idle = units > in.demand_of(from, cf.cls).total();
    return move + (idle ? 0 : costs.unmet_cost(demand_kind::forecast));
}

std::string not_worth_text(const allocation_input& in, const exact_costs& costs,
                           const class_flows& cf, std::size_t from, std::size_t city,
                           demand_kind kind) {
    const auto move = costs.move_cost(from, city, in.city_count());
    const auto extra = one_more_cost(in, costs, cf, from, city) - move;
    std::string text = "the nearest spare ";
    text += in.classes[cf.cls];
    text += ", from " + in.cities[from] + " (";
    text += number_text(static_cast<double>(in.travel_of(from, city)) / micros_per_unit);
    text += " min), costs " + number_text(costs.value(move)) + " to bring";
    if (extra > 0) text += " and its forecast there (" + number_text(costs.value(extra)) + ")";
    text += ", not less than the " + std::string(to_string(kind)) + " penalty of ";
    text += number_text(costs.value(costs.unmet_cost(kind)));
    return text;
}

/// Why `kind` demand of `city` stays unmet, given what the plan leaves spare in each city.
reason_text explain(const allocation_input& in, const exact_costs& costs, const class_flows& cf,
                    std::size_t city, demand_kind kind) {
    const auto& cls = in.classes[cf.cls];
    std::optional<std::size_t> nearest;
    std::int64_t nearest_cost = 0;
    bool leftover = false, any_spare = cf.out[city] > 0;
    for (std::size_t i = 0; i < in.city_count(); ++i) {
        if (i == city || in.spare(i, cf.cls) == 0) continue;
        any_spare = true;
        if (in.spare(i, cf.cls) - cf.out[i] <= 0) continue;
        leftover = true;
        const auto c = one_more_cost(in, costs, cf, i, city);
        if (c >= 0 && (!nearest || c < nearest_cost)) {
            nearest = i;
            nearest_cost = c;
        }
    }
    if (nearest)
        return {unmet_reason::not_worth, not_worth_text(in, costs, cf, *nearest, city, kind)};
    if (leftover)
        return {unmet_reason::no_route,
                "no route to " + in.cities[city] + " from a city with a spare " + cls};
    if (any_spare)
        return {
            unmet_reason::spares_taken,
            "every spare " + cls + " is planned for other demand (of higher priority or nearer)"};
    return {unmet_reason::no_spare, "no city can spare a " + cls +
                                        ": every unit is needed where it is, for bookings and "
                                        "quotas"};
}

/// Adds the moves, the unmet demand and their scaled cost of one settled class to the plan.
std::int64_t emit(const allocation_input& in, const exact_costs& costs, const class_flows& cf,
                  allocation_plan& plan) {
    const std::size_t n = in.city_count();
    std::int64_t total = 0;
    for (std::size_t i = 0; i < cf.flows.size(); ++i) {
        const auto& f = cf.flows[i];
        if (f.count == 0) continue;
        const auto scaled = f.count * costs.move_cost(f.from, f.to, n);
        total += scaled;
        plan.moves.push_back(
            plan_move{in.cities[f.from], in.cities[f.to], in.classes[cf.cls], f.count,
                      static_cast<double>(in.travel_of(f.from, f.to)) / micros_per_unit,
                      costs.value(scaled), cf.serves[i]});
    }
    for (std::size_t c = 0; c < n; ++c) {
        auto open = in.demand_of(c, cf.cls);
        take_by_priority(open, in.stock_of(c, cf.cls) - cf.out[c] + cf.in[c]);
        for (const auto kind : demand_kinds) {
            if (open[kind] == 0) continue;
            total += open[kind] * costs.unmet_cost(kind);
            auto why = explain(in, costs, cf, c, kind);
            plan.unmet.push_back(unmet_demand{in.cities[c], in.classes[cf.cls], kind, open[kind],
                                              why.code, std::move(why.text)});
        }
    }
    return total;
}

}  // namespace

allocation_plan settle(const allocation_input& in, const exact_costs& costs,
                       std::vector<unit_flow> flows) {
    std::erase_if(flows, [&](const unit_flow& f) {
        return f.count <= 0 || f.from == f.to || f.from >= in.city_count() ||
               f.to >= in.city_count() || f.cls >= in.class_count();
    });
    std::sort(flows.begin(), flows.end(), [](const unit_flow& a, const unit_flow& b) {
        return std::tie(a.cls, a.from, a.to) < std::tie(b.cls, b.from, b.to);
    });
    allocation_plan plan;
    std::int64_t total = 0;
    auto next = flows.begin();
    for (std::size_t k = 0; k < in.class_count(); ++k) {
        class_flows cf;
        cf.cls = k;
        for (; next != flows.end() && next->cls == k; ++next) {
            if (!cf.flows.empty() && cf.flows.back().from == next->from &&
                cf.flows.back().to == next->to)
                cf.flows.back().count += next->count;
            else
                cf.flows.push_back(*next);
        }
        attribute(in, costs, cf);
        total += emit(in, costs, cf, plan);
    }
    plan.total_cost = costs.value(total);
    return plan;
}

}  // namespace eqm
