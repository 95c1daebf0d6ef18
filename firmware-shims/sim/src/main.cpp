// eqm-sim: the fleet simulator.
//   eqm-sim --broker CODE=URI [...]    runs the fleets of the chosen cities against their brokers
//   eqm-sim --dry-run --city CODE ...  computes the same event sequence without any broker
//   eqm-sim load --broker CODE=URI ... drives benchmarks with QoS 0 telemetry
// main only parses the command line and hands over to run_fleet / run_load.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "fleet_runner.hpp"

namespace {

bool read_secret(const std::string& path, std::string& out) {
    std::ifstream in(path);
    if (!in) return false;
    std::getline(in, out);
    return true;
}

/// "id,password" lines (scripts/gen-broker-auth's credentials.csv) into `out`; false when the
/// file cannot be read or a line is not id,password.
bool read_credentials(const std::string& path, std::map<std::string, std::string>& out) {
    std::ifstream in(path);
    if (!in) return false;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto comma = line.find(',');
        if (comma == std::string::npos || comma == 0 || comma + 1 == line.size()) return false;
        out[line.substr(0, comma)] = line.substr(comma + 1);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace eqm;
    CLI::App app{
        "eqm-sim: a simulated region of enforcement equipment (body cameras, drones, analyzers, "
        "docks)\n"
        "that speaks the eqm MQTT contract. Each device keeps its bd_seq and its unacked events "
        "under\n"
        "--state-dir, so a restarted simulator resends what the gateway has not acknowledged.\n"
        "Simulated days: morning check-outs at the docks (slot_remove with a badge), field use "
        "draining\n"
        "batteries and filling storage, end-of-day returns (slot_insert), some late, drop-outs, "
        "low\n"
        "batteries, a lost device now and then, analyzers near calibration expiry."};
    app.require_subcommand(0, 1);

    std::vector<std::string> broker_specs, city_list;
    sim::fleet_run_options run;
    std::string fleet_file, start_text, password_file, credentials_file;
    app.add_option("--broker", broker_specs,
                   "CODE=URI, one per city: runs that city's fleet against that broker (e.g. "
                   "450100=tcp://127.0.0.1:1883)");
    app.add_option("--city", city_list,
                   "city code to simulate without a broker (dry runs only; repeatable)");
    app.add_option("--seed", run.seed,
                   "seed of every random choice: the same seed gives the same event sequence")
        ->capture_default_str();
    app.add_option("--speed", run.speed,
                   "time acceleration: 60 runs a day in 24 minutes; 0 runs as fast as possible")
        ->capture_default_str();
    app.add_option("--days", run.days, "simulated days to run (fractions allowed)")
        ->capture_default_str();
    app.add_option("--start", start_text,
                   "simulated start, RFC 3339 UTC with ms (default: now; dry runs: "
                   "2026-03-01T23:00:00.000Z, 07:00 in Guangxi)");
    app.add_option("--fleet", fleet_file,
                   "JSON fleet sizes: "
                   "{\"defaults\":{\"body_cameras\":60,\"drones\":6,\"analyzers\":12,\"docks\":4,"
                   "\"officers\":60},"
                   "\"cities\":{\"450100\":{...}}}");
    app.add_flag("--dry-run", run.dry_run,
                 "compute the run without brokers or waiting (needs --city or --broker)");
    app.add_option("--events-out", run.events_out,
                   "write every event (device and dock) as JSON lines {topic, payload}");
    app.add_option("--capture", run.capture,
                   "write every payload sent (births, wills, telemetry, events) as JSON lines "
                   "{topic, payload}");
    app.add_option("--state-dir", run.state_dir,
                   "where devices keep bd_seq state and event outboxes")
        ->capture_default_str();
    app.add_option("--mqtt-user", run.auth.user, "broker user name (default: anonymous)");
    app.add_option("--mqtt-password-file", password_file,
                   "file whose first line is the broker password");
    app.add_option("--mqtt-credentials", credentials_file,
                   "id,password per line (scripts/gen-broker-auth's credentials.csv, one per "
                   "city broker or all in one file): each device listed logs in as its own id "
                   "with its password, as deployed devices do; the others use --mqtt-user");
    app.add_flag("--quiet", run.quiet, "no status line");

    auto* load = app.add_subcommand(
        "load",
        "publish QoS 0 telemetry as fast as asked, for benchmarks; prints a JSON report on stdout");
    sim::load_options lo;
    std::vector<std::string> load_brokers;
    load->add_option("--broker", load_brokers,
                     "CODE=URI of the broker to load (the first one is used)")
        ->required();
    load->add_option("--devices", lo.devices, "number of device ids publishing")
        ->capture_default_str();
    load->add_option("--rate", lo.rate, "total messages per second; 0: as fast as possible")
        ->capture_default_str();
    load->add_option("--duration", lo.duration_s, "seconds to publish for")->capture_default_str();
    load->add_option("--count", lo.count,
                     "publish exactly this many messages instead of a duration");
    load->add_option("--connections", lo.connections, "MQTT connections sharing the devices")
        ->capture_default_str();
    load->add_option(
            "--events", lo.events,
            "also emit this many QoS 1 events through the SDK outbox and report their acks")
        ->capture_default_str();
    load->add_option("--ack-wait", lo.ack_wait_s, "seconds to wait for the acks of those events")
        ->capture_default_str();
    load->add_option("--state-dir", lo.state_dir, "outbox directory of the event sender")
        ->capture_default_str();
    load->add_option("--mqtt-user", lo.auth.user, "broker user name");
    load->add_option("--mqtt-password-file", password_file,
                     "file whose first line is the broker password");

    CLI11_PARSE(app, argc, argv);

    std::string password;
    if (!password_file.empty() && !read_secret(password_file, password)) {
        std::cerr << "eqm-sim: cannot read " << password_file << '\n';
        return 2;
    }
    if (!credentials_file.empty() && !read_credentials(credentials_file, run.device_passwords)) {
        std::cerr << "eqm-sim: --mqtt-credentials " << credentials_file
                  << " cannot be read or has a line that is not id,password\n";
        return 2;
    }

    auto split_broker = [](const std::string& spec, std::string& code, std::string& uri) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos) return false;
        code = spec.substr(0, eq);
        uri = spec.substr(eq + 1);
        return sim::find_city(code) != nullptr && !uri.empty();
    };

    if (*load) {
        std::string code, uri;
        if (!split_broker(load_brokers.front(), code, uri)) {
            std::cerr << "eqm-sim load: --broker wants CODE=URI with a Guangxi city code, got "
                      << load_brokers.front() << '\n';
            return 2;
        }
        lo.city = code;
        lo.broker_uri = uri;
        lo.auth.password = password;
        if (lo.devices < 1) {
            std::cerr << "eqm-sim load: --devices must be >= 1\n";
            return 2;
        }
        return sim::run_load(lo);
    }

    for (const auto& spec : broker_specs) {
        std::string code, uri;
        if (!split_broker(spec, code, uri)) {
            std::cerr << "eqm-sim: --broker wants CODE=URI with a Guangxi city code, got " << spec
                      << '\n';
            return 2;
        }
        run.brokers.emplace_back(code, uri);
    }
    for (const auto& code : city_list) {
        if (!sim::find_city(code)) {
            std::cerr << "eqm-sim: --city " << code << " is not a Guangxi city code\n";
            return 2;
        }
    }
    if (!run.dry_run && !city_list.empty()) {
        std::cerr << "eqm-sim: --city is for dry runs; give live cities with --broker CODE=URI\n";
        return 2;
    }
    run.cities = city_list;
    if (run.brokers.empty() && run.cities.empty()) {
        std::cerr << "eqm-sim: give at least one --broker CODE=URI (or --dry-run --city CODE)\n"
                  << app.help();
        return 2;
    }
    if (run.speed < 0 || run.days <= 0) {
        std::cerr << "eqm-sim: --speed must be >= 0 and --days > 0\n";
        return 2;
    }
    if (!start_text.empty()) {
        auto t = parse_timestamp(start_text, "--start");
        if (!t) {
            std::cerr << "eqm-sim: " << t.error().describe() << '\n';
            return 2;
        }
        run.start = *t;
    }
    if (!fleet_file.empty()) {
        std::ifstream in(fleet_file);
        std::stringstream ss;
        ss << in.rdbuf();
        const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
        if (!in || j.is_discarded()) {
            std::cerr << "eqm-sim: --fleet " << fleet_file << " is not readable JSON\n";
            return 2;
        }
        auto f = sim::parse_fleet_config(j);
        if (!f) {
            std::cerr << "eqm-sim: --fleet " << fleet_file << ": " << f.error().describe() << '\n';
            return 2;
        }
        run.fleet = *f;
    }
    run.auth.password = password;
    return sim::run_fleet(run);
}
