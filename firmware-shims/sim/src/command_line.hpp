#pragma once
/// eqm-sim's command line, on CLI11 (with eqm/runtime/cli.hpp):
///     eqm-sim --broker CODE=URI [--broker CODE=URI ...] [--seed N] [--speed X] [...]
///     eqm-sim --dry-run --city CODE [...]
///     eqm-sim load --broker CODE=URI --devices N --rate R --duration D [...]
/// plus `--config FILE` (TOML/INI `key = value`, keys named like the long flags; the load
/// subcommand's keys under `[load]`); flags given on the command line override the file.
#include <CLI/CLI.hpp>

#include "fleet_runner.hpp"

namespace eqm::sim {

/// What the command line asks for.
struct sim_command {
    bool load = false;  ///< the `load` subcommand
    fleet_run_options fleet;
    load_options load_run;
};

/// Declares every option of eqm-sim on `app`, bound to `out`. Parsing `app` fills `out`, reads
/// the files the options name (fleet sizes, password) and checks what spans options; every
/// problem is a CLI::ParseError naming the flag.
void describe_command_line(CLI::App& app, sim_command& out);

}  // namespace eqm::sim
