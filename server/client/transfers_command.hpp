#pragma once
/// `eqm transfers list|show|create|approve|cancel`: moving equipment between cities through the
/// server's /api/v1/transfers (docs/transfers.md). Refusals print the problem's field and rule.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace eqm::cli {

/// How a command reaches the server (the CLI's saved login and --server): one call, and a whole
/// paged list. Both print a refusal and set the exit code.
struct api_access {
    std::function<std::optional<nlohmann::json>(std::string_view method, const std::string& target,
                                                const std::string& body, int& code)>
        call;
    std::function<std::optional<nlohmann::json>(const std::string& target, int& code)> fetch_all;
    const bool* json_output = nullptr;
};

/// Adds the `transfers` subcommand to `app`; its callbacks set `exit_code`.
void add_transfers_command(CLI::App& app, api_access access, int& exit_code);

}  // namespace eqm::cli
