#pragma once
/// The two modes of eqm-sim, wired from the command line in main.cpp.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eqm/domain/time.hpp"
#include "eqm/sim/model.hpp"

namespace eqm::sim {

/// Broker credentials shared by every device (anonymous when user is empty).
struct credentials {
    std::string user;
    std::string password;
};

/// Options of a fleet run (`eqm-sim --broker ...`).
struct fleet_run_options {
    std::vector<std::pair<std::string, std::string>> brokers;  ///< city code -> broker URI
    std::vector<std::string> cities;                           ///< used by dry runs without brokers
    std::uint64_t seed = 1;
    double speed = 1.0;
    double days = 1.0;
    std::optional<clock_ms> start;  ///< default: now (live), 2026-03-02 07:00 +08 (dry)
    fleet_config fleet;
    bool dry_run = false;
    std::filesystem::path events_out;  ///< JSON lines {topic, payload} of every event
    std::filesystem::path capture;     ///< JSON lines {topic, payload} of everything sent
    std::filesystem::path state_dir = "eqm-sim-state";
    credentials auth;
    /// Per-device logins (device id -> password, from a credentials.csv): a device listed here
    /// logs in as its own id, as deployed devices do; the others use `auth`.
    std::map<std::string, std::string> device_passwords;
    bool quiet = false;  ///< no status line
};

/// Runs the fleet; returns the process exit code.
int run_fleet(const fleet_run_options& options);

/// Options of `eqm-sim load`.
struct load_options {
    std::string broker_uri;
    std::string city = "450100";
    int devices = 100;
    double rate = 0;  ///< total msg/s; 0: as fast as possible
    std::chrono::milliseconds duration{std::chrono::seconds{10}};
    std::uint64_t count = 0;  ///< when > 0: stop after this many messages instead
    int connections = 4;
    int events = 0;  ///< QoS 1 events to emit through the SDK outbox
    std::chrono::milliseconds ack_wait{std::chrono::seconds{5}};  ///< for the acks of those events
    std::filesystem::path state_dir = "eqm-sim-load-state";
    credentials auth;
};

/// Runs a load test and prints its report; returns the process exit code.
int run_load(const load_options& options);

/// The telemetry payload the load mode sends for message `seq` (also used by the benchmark
/// to build mosquitto_pub's input of the same size).
std::string load_payload(std::uint64_t seq);

}  // namespace eqm::sim
