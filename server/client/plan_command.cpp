// `eqm plan FILE.json [--any-names] [--lp FILE.lp] [--compact]`: see plan_command.hpp.
#include "plan_command.hpp"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "eqm/allocation/lp_format.hpp"
#include "eqm/allocation/solver.hpp"
#include "eqm/domain/allocation.hpp"

namespace eqm::cli {

namespace {

constexpr int exit_failed = 1;     ///< the plan could not be made (an internal failure)
constexpr int exit_bad_input = 2;  ///< unreadable file or bad input

struct plan_options {
    std::string file;
    bool any_names = false;
    std::string lp_file;
    bool compact = false;
};

std::optional<std::string> read_all(const std::string& file) {
    std::ostringstream s;
    if (file == "-") {
        s << std::cin.rdbuf();
        return s.str();
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    s << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return s.str();
}

int complain(const plan_options& o, const error& e) {
    std::cerr << "eqm plan: " << o.file << ": " << e.describe() << '\n';
    return e.code == errc::internal ? exit_failed : exit_bad_input;
}

int run_plan(const plan_options& o) {
    const auto text = read_all(o.file);
    if (!text) {
        std::cerr << "eqm plan: cannot read " << o.file << '\n';
        return exit_bad_input;
    }
    const auto input = eqm::parse_allocation_input_text(
        *text, o.any_names ? eqm::plan_names::any : eqm::plan_names::region);
    if (!input) return complain(o, input.error());
    if (!o.lp_file.empty()) {
        std::ofstream lp(o.lp_file, std::ios::trunc);
        const auto written = eqm::allocation::write_cplex_lp(*input, lp);
        if (!lp || !written) {
            std::cerr << "eqm plan: cannot write " << o.lp_file << '\n';
            return exit_bad_input;
        }
    }
    const auto plan = eqm::allocation::solve(*input);
    if (!plan) return complain(o, plan.error());
    std::cout << eqm::to_json(*plan).dump(o.compact ? -1 : 2) << '\n';
    return 0;
}

}  // namespace

void add_plan_command(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<plan_options>();
    auto* plan = app.add_subcommand(
        "plan",
        "make the regional allocation plan of an input file, offline: which units to move "
        "between cities (from, to, class, count, eta_minutes, cost, serves), the demand left "
        "unmet and why, and the total cost; printed as JSON on stdout (docs/allocation.md)");
    plan->add_option("FILE", options->file,
                     "the plan input (JSON: cities, classes, stock, demand, travel_minutes, "
                     "cost_per_unit_minute, penalty); - reads stdin")
        ->required();
    plan->add_flag("--any-names", options->any_names,
                   "accept any city and class names (a what-if region or a benchmark); "
                   "travel_minutes is then required");
    plan->add_option("--lp", options->lp_file,
                     "also write the same problem as a linear program in CPLEX LP format to this "
                     "file, to check the plan with another solver (glpsol --lp FILE -w SOL)");
    plan->add_flag("--compact", options->compact, "print the plan on one line");
    plan->callback([options, &exit_code] { exit_code = run_plan(*options); });
}

}  // namespace eqm::cli
