#pragma once
/// `eqm report utilization|quota-gap`: the planning reports of eqm-server (docs/allocation.md),
/// printed as the server's JSON or as CSV (`--format csv`).
#include <functional>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace eqm::cli {

/// GETs `target` from the API asking for `accept`; the body on 2xx, else nothing with `code`
/// set (the caller has printed the problem).
using report_fetch = std::function<std::optional<std::string>(
    const std::string& target, const std::string& accept, int& code)>;

/// Adds the `report` subcommand to `app`; its callbacks set `exit_code`.
void add_report_command(CLI::App& app, int& exit_code, report_fetch fetch);

}  // namespace eqm::cli
