#pragma once
/// The optimiser of the regional allocation plan (libs/domain allocation.hpp states the model):
/// one min-cost flow per class, solved exactly by LEMON's NetworkSimplex on integer costs.
///
/// The network of one class (docs/allocation.md draws it):
///
///     stock_i --(spare_i, 0)--> export_i --(inf, travel_ij x cost_per_unit_minute)--> need_j
///     stock_j --(stock_j, 0)--> need_j                                   (own stock, no cost)
///     need_j  --(reserved_j, -penalty.reserved)--> sink      (and the same for quota, forecast)
///     stock_i --(stock_i, 0)--> sink                                     (units that stay idle)
///
/// Each city's stock is its supply and the sink takes it all. Serving a unit of demand earns its
/// penalty back, so the least-cost flow is the plan of least total_cost; an export node keeps
/// each source within its spare, and no arc leaves a need node except to the sink, so no unit
/// is relayed. Only cities with a spare unit export and only cities with demand receive, which
/// loses nothing: a move to a city without demand can only add cost.
#include "eqm/domain/allocation.hpp"
#include "eqm/domain/error.hpp"

namespace eqm::allocation {

/// The plan of least total_cost for `in` (validated first: the errors of eqm::validate and
/// eqm::make_exact_costs). Deterministic: the same input gives the same plan.
result<allocation_plan> solve(const allocation_input& in);

/// The optimiser's flows alone, before settle(): what tests and benchmarks time and compare.
result<std::vector<unit_flow>> solve_flows(const allocation_input& in, const exact_costs& costs);

}  // namespace eqm::allocation
