#pragma once
/// `eqm reserve` and `eqm reservations list|approve|decline|cancel`: bookings through the REST
/// API (docs/reservations.md). The CLI's main passes how to call the server (with the saved
/// login, printing refusals and setting the exit code) and whether to print JSON.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace eqm::cli {

/// Calls the API: the body of a 2xx answer, or nothing (the refusal already printed).
using api_call = std::function<std::optional<nlohmann::json>(
    std::string_view method, const std::string& target, const std::string& body)>;

/// Adds `reserve` and `reservations` to `app`.
void add_reservation_commands(CLI::App& app, api_call call, const bool& json_output);

}  // namespace eqm::cli
