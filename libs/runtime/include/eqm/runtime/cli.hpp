#pragma once
/// Command-line pieces that eqm-server, eqm-gateway, eqm-sim and eqm share, on CLI11
/// (header-only): durations with units, the region's city codes, and ids.
///
///     std::chrono::milliseconds retention{std::chrono::days{7}};
///     eqm::cli::add_duration(app, "--telemetry-retention", retention,
///                            "how long minute aggregates are kept")->capture_default_str();
///     app.add_option("--city", city)->required()->check(eqm::cli::city_code());
///
/// Every program reads its `--config FILE` with CLI11 too (`app.set_config`): the same TOML/INI
/// `key = value` format everywhere, keys named like the long flags without the dashes.
#include <CLI/CLI.hpp>
#include <chrono>
#include <map>
#include <string>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/region.hpp"

namespace eqm::cli {

/// Units a duration may carry: ms, s, m (minutes), h, d. A bare number is in `default_unit`.
inline std::map<std::string, std::int64_t> duration_units() {
    return {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
}

/// Adds an option that takes a duration such as `30s`, `15m` or `7d` into `out`. A bare number
/// counts in `default_unit` ("ms", "s", "m", "h" or "d"). Negative durations are refused.
inline CLI::Option* add_duration(CLI::App& app, const std::string& name,
                                 std::chrono::milliseconds& out, const std::string& description,
                                 const std::string& default_unit = "s") {
    auto* opt = app.add_option_function<std::string>(
        name,
        [&out, default_unit, name](const std::string& text) {
            auto units = duration_units();
            std::size_t end = 0;
            while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) != 0))
                ++end;
            const std::string number = text.substr(0, end);
            std::string unit = text.substr(end);
            if (unit.empty()) unit = default_unit;
            auto it = units.find(unit);
            if (number.empty() || it == units.end() || number.size() > 12)
                throw CLI::ValidationError(
                    name,
                    "a duration is a whole number with a unit, e.g. 500ms, 30s, 15m, 12h or "
                    "7d, not '" +
                        text + "'");
            out = std::chrono::milliseconds{std::stoll(number) * it->second};
        },
        description + " (a duration such as 30s, 15m, 12h or 7d; a bare number is in " +
            default_unit + ")");
    opt->type_name("DURATION");
    opt->default_str(std::to_string(out.count()) + "ms");
    return opt;
}

/// A validator for the region's 6-digit city codes.
inline CLI::Validator city_code() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            if (find_city(s)) return {};
            return "'" + s + "' is not one of the region's 14 city codes (450100 ... 451400)";
        },
        "CITY", "city code");
}

/// A validator for ids (`^[A-Za-z0-9_-]{1,64}$`): device, dock, badge and gateway ids.
inline CLI::Validator id() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            if (is_valid_id(s)) return {};
            return "'" + s + "' is not an id (1..64 of A-Z a-z 0-9 _ -)";
        },
        "ID", "id");
}

}  // namespace eqm::cli
