#pragma once
/// `eqm quotas derive --norms NORMS.csv --headcount HEADCOUNT.csv`: the standard-issue quota
/// table from per-head norms times each city's enforcement headcount, offline. It prints the
/// body of PUT /api/v1/quotas (JSON) or the file of POST /api/v1/quotas/import (`--format csv`).
namespace CLI {
class App;
}

namespace eqm::cli {

/// Adds the `quotas` subcommand to `app`; its callback sets `exit_code`.
void add_quotas_command(CLI::App& app, int& exit_code);

}  // namespace eqm::cli
