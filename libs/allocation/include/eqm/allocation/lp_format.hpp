#pragma once
/// The allocation plan as a linear program in CPLEX LP format, for an independent check with any
/// LP solver (GLPK: `glpsol --lp plan.lp -w plan.sol`; `eqm plan --lp FILE`), and the reader of
/// the objective in GLPK's plain-text solution file.
///
/// The program, per class k (names carry k and city indexes in the order of the input):
///
///     minimise  sum x_k_i_j * travel[i][j] * cost_per_unit_minute  +  sum u_k_j_kind *
///     penalty[kind] s_k_i:    sum_j x_k_i_j <= spare_i                                   (keeps
///     bookings and quota) n_k_j:    sum_i x_k_i_j - sum_l x_k_j_l + u_k_j_r + u_k_j_q + u_k_j_f >=
///     demand_j - stock_j 0 <= u_k_j_kind <= demand_j[kind],  x >= 0
///
/// where x are moves (i != j, with a route) and u unmet demand. Its optimum is the plan's
/// total_cost: at an optimum u is the demand the moves leave open, the cheapest kinds first.
/// Coefficients are written as exact decimals.
#include <iosfwd>
#include <string_view>

#include "eqm/domain/allocation.hpp"
#include "eqm/domain/error.hpp"

namespace eqm::allocation {

/// Which moves the program has a variable for.
enum class lp_columns {
    all_routes,       ///< every ordered pair of cities with a route: the model as stated
    candidate_moves,  ///< only from cities with a spare unit to cities with demand: the
                      ///< optimiser's own arcs (the same optimum)
};

/// Writes the program. Fails as eqm::make_exact_costs does.
result<void> write_cplex_lp(const allocation_input& in, std::ostream& out,
                            lp_columns columns = lp_columns::all_routes);

/// The objective value of an optimal solution in a GLPK plain-text solution file (`glpsol -w`):
/// the `s bas ROWS COLS f f OBJ` line. Fails when the file says the solution is not optimal.
result<double> read_glpk_objective(std::string_view solution_text);

}  // namespace eqm::allocation
