// eqm-sim: the fleet simulator.
//   eqm-sim --broker CODE=URI [...]    runs the fleets of the chosen cities against their brokers
//   eqm-sim --dry-run --city CODE ...  computes the same event sequence without any broker
//   eqm-sim load --broker CODE=URI ... drives benchmarks with QoS 0 telemetry
// main reads the command line (command_line.cpp) and hands over to run_fleet or run_load.
#include <CLI/CLI.hpp>

#include "command_line.hpp"

int main(int argc, char** argv) {
    CLI::App app{
        "eqm-sim: a simulated region of enforcement equipment (body cameras, drones, analyzers,\n"
        "docks) that speaks the eqm MQTT contract. Each device keeps its bd_seq and its unacked\n"
        "events under --state-dir, so a restarted simulator resends what the gateway has not\n"
        "acknowledged. Simulated days: morning check-outs at the docks (slot_remove with a\n"
        "badge), field use draining batteries and filling storage, end-of-day returns\n"
        "(slot_insert), some late, drop-outs, low batteries, a lost device now and then,\n"
        "analyzers near calibration expiry. Exit codes: 0 done, 1 a device or connection could\n"
        "not be set up, 2 bad command line."};
    eqm::sim::sim_command command;
    eqm::sim::describe_command_line(app, command);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;  // --help is not an error; every bad command line is 2
    }
    return command.load ? eqm::sim::run_load(command.load_run) : eqm::sim::run_fleet(command.fleet);
}
