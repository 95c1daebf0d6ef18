// The allocation plan as one min-cost flow per class, solved by LEMON's NetworkSimplex.
#include "eqm/allocation/solver.hpp"

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>

#include "eqm/domain/try.hpp"

namespace eqm::allocation {

namespace {

using graph = lemon::SmartDigraph;
using simplex = lemon::NetworkSimplex<graph, std::int64_t, std::int64_t>;

/// One class's network, rebuilt for each class in the same graph object.
class class_network {
  public:
    class_network() : upper_(graph_), cost_(graph_), supply_(graph_) {}

    /// Builds the network of class `cls`; false when it has nothing to decide (no city can
    /// spare a unit, or none needs one).
    bool build(const allocation_input& in, const exact_costs& costs, std::size_t cls);

    /// Runs the simplex and appends the moves (export -> need arcs with flow) to `out`.
    result<void> solve(std::size_t cls, std::vector<unit_flow>& out);

  private:
    graph::Arc arc(graph::Node from, graph::Node to, std::int64_t upper, std::int64_t cost) {
        const auto a = graph_.addArc(from, to);
        upper_.set(a, upper);
        cost_.set(a, cost);
        return a;
    }

    struct move_arc {
        graph::Arc arc;
        std::size_t from;
        std::size_t to;
    };

    graph graph_;
    graph::ArcMap<std::int64_t> upper_;
    graph::ArcMap<std::int64_t> cost_;
    graph::NodeMap<std::int64_t> supply_;
    std::vector<move_arc> moves_;
};

bool class_network::build(const allocation_input& in, const exact_costs& costs, std::size_t cls) {
    const std::size_t n = in.city_count();
    std::vector<std::size_t> sources, sinks;
    std::int64_t total_stock = 0;
    for (std::size_t c = 0; c < n; ++c) {
        if (in.spare(c, cls) > 0) sources.push_back(c);
        if (in.demand_of(c, cls).total() > 0) sinks.push_back(c);
        total_stock += in.stock_of(c, cls);
    }
    if (sources.empty() || sinks.empty()) return false;

    graph_.clear();
    moves_.clear();
    graph_.reserveNode(static_cast<int>(2 * n + 1));
    graph_.reserveArc(static_cast<int>(sources.size() * sinks.size() + 6 * n));
    const auto sink = graph_.addNode();
    supply_.set(sink, -total_stock);
    std::vector<graph::Node> stock(n), exports(n), needs(n);
    for (std::size_t c = 0; c < n; ++c) {
        stock[c] = graph_.addNode();
        supply_.set(stock[c], in.stock_of(c, cls));
        arc(stock[c], sink, in.stock_of(c, cls), 0);
    }
    for (const auto i : sources) {
        exports[i] = graph_.addNode();
        supply_.set(exports[i], 0);
        arc(stock[i], exports[i], in.spare(i, cls), 0);
    }
    for (const auto j : sinks) {
        needs[j] = graph_.addNode();
        supply_.set(needs[j], 0);
        arc(stock[j], needs[j], in.stock_of(j, cls), 0);
        const auto& want = in.demand_of(j, cls);
        for (const auto kind : demand_kinds)
            if (want[kind] > 0) arc(needs[j], sink, want[kind], -costs.unmet_cost(kind));
    }
    for (const auto i : sources) {
        for (const auto j : sinks) {
            const auto c = costs.move_cost(i, j, n);
            if (i == j || c < 0) continue;
            moves_.push_back({arc(exports[i], needs[j], in.spare(i, cls), c), i, j});
        }
    }
    return true;
}

result<void> class_network::solve(std::size_t cls, std::vector<unit_flow>& out) {
    simplex ns(graph_);
    ns.upperMap(upper_).costMap(cost_).supplyMap(supply_);
    const auto status = ns.run();
    if (status != simplex::OPTIMAL)
        return fail(errc::internal, "",
                    "the network simplex found no optimal flow (status " +
                        std::to_string(static_cast<int>(status)) + ")");
    for (const auto& m : moves_)
        if (const auto f = ns.flow(m.arc); f > 0) out.push_back(unit_flow{m.from, m.to, cls, f});
    return {};
}

}  // namespace

result<std::vector<unit_flow>> solve_flows(const allocation_input& in, const exact_costs& costs) {
    std::vector<unit_flow> flows;
    class_network network;
    for (std::size_t k = 0; k < in.class_count(); ++k)
        if (network.build(in, costs, k)) EQM_TRY(network.solve(k, flows));
    return flows;
}

result<allocation_plan> solve(const allocation_input& in) {
    EQM_TRY_LET(costs, make_exact_costs(in));
    EQM_TRY_LET(flows, solve_flows(in, costs));
    return settle(in, costs, std::move(flows));
}

}  // namespace eqm::allocation
