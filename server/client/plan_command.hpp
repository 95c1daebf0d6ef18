#pragma once
/// `eqm plan FILE.json`: the regional allocation plan, offline (no server). Reads the plan input
/// of ARCHITECTURE.md / docs/allocation.md from FILE (`-` for stdin), solves it with
/// eqm_allocation and prints the plan as JSON on stdout. Bad input exits 2 with the field and
/// the rule on stderr.
namespace CLI {
class App;
}

namespace eqm::cli {

/// Adds the `plan` subcommand to `app`; its callback sets `exit_code`.
void add_plan_command(CLI::App& app, int& exit_code);

}  // namespace eqm::cli
