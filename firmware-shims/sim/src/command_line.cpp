#include "command_line.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include "eqm/runtime/cli.hpp"
#include "eqm/runtime/log.hpp"
#include "eqm/runtime/secret_file.hpp"

namespace eqm::sim {
namespace {

/// Time acceleration at most: a simulated year in under six minutes.
constexpr double max_speed = 100000;
/// A run lasts at least one simulated minute (one step) and at most a year.
constexpr double min_days = 1.0 / (24 * 60);
constexpr double max_days = 366;
/// Load ids are `{city}-load-00000`: five digits.
constexpr int max_load_devices = 99999;
constexpr int max_load_connections = 256;
constexpr int max_load_events = 1'000'000;
constexpr double max_load_rate = 10'000'000;

/// `CODE=URI`, with CODE one of the region's city codes.
CLI::Validator broker_spec() {
    return CLI::Validator(
        [](std::string& spec) -> std::string {
            const auto eq = spec.find('=');
            if (eq == std::string::npos)
                return "'" + spec + "' is not CODE=URI (e.g. 450100=tcp://127.0.0.1:1883)";
            std::string code = spec.substr(0, eq);
            if (auto why = cli::city_code()(code); !why.empty()) return why;
            if (eq + 1 == spec.size()) return "'" + spec + "' has no broker URI after '='";
            return {};
        },
        "CODE=URI", "broker");
}

std::pair<std::string, std::string> split_broker(const std::string& spec) {
    const auto eq = spec.find('=');
    return {spec.substr(0, eq), spec.substr(eq + 1)};
}

/// `--mqtt-password-file FILE` into `out`, read by the one secret-file reader.
CLI::Option* add_password_file(CLI::App& app, std::string& out) {
    return app
        .add_option_function<std::string>(
            "--mqtt-password-file",
            [&out](const std::string& path) {
                auto secret = read_secret_file(path, "--mqtt-password-file");
                if (!secret)
                    throw CLI::ValidationError("--mqtt-password-file", secret.error().message);
                out = std::move(*secret);
            },
            "file whose first line is the broker password (trailing spaces and line end "
            "trimmed)")
        ->check(CLI::ExistingFile);
}

/// `--mqtt-credentials FILE`: "id,password" lines (scripts/gen-broker-auth's credentials.csv,
/// several cities' files may be concatenated) into `out`, read while the command line is read.
CLI::Option* add_credentials_file(CLI::App& app, std::map<std::string, std::string>& out) {
    return app
        .add_option_function<std::string>(
            "--mqtt-credentials",
            [&out](const std::string& path) {
                std::ifstream in(path);
                std::string line;
                int number = 0;
                while (std::getline(in, line)) {
                    ++number;
                    if (!line.empty() && line.back() == '\r') line.pop_back();
                    if (line.empty()) continue;
                    const auto comma = line.find(',');
                    if (comma == std::string::npos || comma == 0 || comma + 1 == line.size() ||
                        !is_valid_id(line.substr(0, comma)))
                        throw CLI::ValidationError(
                            "--mqtt-credentials",
                            path + " line " + std::to_string(number) + " is not id,password");
                    out[line.substr(0, comma)] = line.substr(comma + 1);
                }
            },
            "id,password per line (scripts/gen-broker-auth's credentials.csv, one per city "
            "broker or all in one file): each device listed logs in as its own id with its "
            "password, as deployed devices do; the others use --mqtt-user")
        ->check(CLI::ExistingFile);
}

/// `--fleet FILE`: the JSON fleet sizes, parsed while the command line is read.
void add_fleet_file(CLI::App& app, fleet_config& out) {
    app.add_option_function<std::string>(
           "--fleet",
           [&out](const std::string& path) {
               std::ifstream in(path);
               std::stringstream text;
               text << in.rdbuf();
               const auto j = nlohmann::json::parse(text.str(), nullptr, false);
               if (!in || j.is_discarded())
                   throw CLI::ValidationError("--fleet", path + " is not readable JSON");
               auto f = parse_fleet_config(j);
               if (!f) throw CLI::ValidationError("--fleet", path + ": " + f.error().describe());
               out = std::move(*f);
           },
           "JSON fleet sizes, every key optional: "
           "{\"defaults\":{\"body_cameras\":60,\"drones\":6,\"analyzers\":12,\"docks\":4,"
           "\"officers\":60},\"cities\":{\"450100\":{\"drones\":10}}}")
        ->check(CLI::ExistingFile);
}

/// `--start TS`: the simulated clock's first instant.
void add_start(CLI::App& app, fleet_run_options& run) {
    app.add_option_function<std::string>(
        "--start",
        [&run](const std::string& text) {
            auto t = parse_timestamp(text, "--start");
            if (!t) throw CLI::ValidationError("--start", t.error().message);
            run.start = *t;
        },
        "simulated start, RFC 3339 UTC with ms (default: now; dry runs: "
        "2026-03-01T23:00:00.000Z, 07:00 in Guangxi)");
}

/// The options that say which fleet plays, where and how fast.
void add_fleet_options(CLI::App& app, fleet_run_options& run,
                       std::vector<std::string>& broker_specs) {
    app.add_option("--broker", broker_specs,
                   "CODE=URI, one per city: runs that city's fleet against that broker (e.g. "
                   "450100=tcp://127.0.0.1:1883); repeatable")
        ->check(broker_spec());
    auto* dry = app.add_flag("--dry-run", run.dry_run,
                             "compute the run without brokers or waiting (needs --city or "
                             "--broker)");
    app.add_option("--city", run.cities,
                   "city code to simulate without a broker (dry runs only; repeatable)")
        ->check(cli::city_code())
        ->needs(dry);
    app.add_option("--seed", run.seed,
                   "seed of every random choice: the same seed gives the same event sequence")
        ->capture_default_str();
    app.add_option("--speed", run.speed,
                   "time acceleration: 60 runs a day in 24 minutes; 0 runs as fast as possible")
        ->check(CLI::Range(0.0, max_speed))
        ->capture_default_str();
    app.add_option("--days", run.days, "simulated days to run (fractions allowed, e.g. 0.5)")
        ->check(CLI::Range(min_days, max_days))
        ->capture_default_str();
    add_start(app, run);
    add_fleet_file(app, run.fleet);
    app.add_option("--events-out", run.events_out,
                   "write every event (device and dock) as JSON lines {topic, payload}");
    app.add_option("--capture", run.capture,
                   "write every payload sent (births, wills, telemetry, events) as JSON lines "
                   "{topic, payload}");
    app.add_option("--state-dir", run.state_dir,
                   "where devices keep bd_seq state and event outboxes")
        ->capture_default_str();
    auto* user = app.add_option("--mqtt-user", run.auth.user,
                                "broker user name for every device (default: anonymous)");
    auto* password = add_password_file(app, run.auth.password);
    auto* credentials = add_credentials_file(app, run.device_passwords);
    dry->excludes(user)->excludes(password)->excludes(credentials);
    app.add_flag("--quiet", run.quiet, "no status line");
}

/// `eqm-sim load ...`: QoS 0 telemetry as fast as asked, for benchmarks.
CLI::App* add_load_command(CLI::App& app, load_options& lo, std::string& broker) {
    auto* load = app.add_subcommand(
        "load",
        "publish QoS 0 telemetry as fast as asked, for benchmarks; prints a JSON report on stdout");
    load->add_option("--broker", broker, "CODE=URI of the broker to load")
        ->required()
        ->check(broker_spec());
    load->add_option("--devices", lo.devices, "number of device ids publishing")
        ->check(CLI::Range(1, max_load_devices))
        ->capture_default_str();
    load->add_option("--rate", lo.rate, "total messages per second; 0: as fast as possible")
        ->check(CLI::Range(0.0, max_load_rate))
        ->capture_default_str();
    auto* duration = cli::add_duration(*load, "--duration", lo.duration, "how long to publish");
    load->add_option("--count", lo.count,
                     "publish exactly this many messages instead of for a duration")
        ->check(CLI::PositiveNumber)
        ->excludes(duration);
    load->add_option("--connections", lo.connections, "MQTT connections sharing the devices")
        ->check(CLI::Range(1, max_load_connections))
        ->capture_default_str();
    load->add_option("--events", lo.events,
                     "also emit this many QoS 1 events through the SDK outbox and report their "
                     "acks")
        ->check(CLI::Range(0, max_load_events))
        ->capture_default_str();
    cli::add_duration(*load, "--ack-wait", lo.ack_wait, "how long to wait for those acks");
    load->add_option("--state-dir", lo.state_dir, "outbox directory of the event sender")
        ->capture_default_str();
    load->add_option("--mqtt-user", lo.auth.user, "broker user name");
    add_password_file(*load, lo.auth.password);
    return load;
}

}  // namespace

void describe_command_line(CLI::App& app, sim_command& out) {
    app.set_config("--config", "",
                   "read options from a TOML/INI file (key = value, keys named like the long "
                   "flags; the load subcommand's under [load]); flags override it");
    app.require_subcommand(0, 1);
    app.add_option_function<std::string>(
           "--log-level", [](const std::string& level) { set_log_level(*parse_log_level(level)); },
           "lowest level logged: debug, info, warn or error (default info)")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

    auto broker_specs = std::make_shared<std::vector<std::string>>();
    add_fleet_options(app, out.fleet, *broker_specs);
    auto load_broker = std::make_shared<std::string>();
    auto* load = add_load_command(app, out.load_run, *load_broker);

    // A load run takes none of the fleet run's options.
    for (const auto* name :
         {"--broker", "--dry-run", "--city", "--seed", "--speed", "--days", "--start", "--fleet",
          "--events-out", "--capture", "--state-dir", "--mqtt-user", "--mqtt-password-file",
          "--mqtt-credentials", "--quiet"})
        load->excludes(app.get_option(name));

    load->callback([&out, load_broker] {
        out.load = true;
        std::tie(out.load_run.city, out.load_run.broker_uri) = split_broker(*load_broker);
    });
    app.callback([&out, broker_specs, load] {
        if (load->parsed()) return;
        for (const auto& spec : *broker_specs) out.fleet.brokers.push_back(split_broker(spec));
        if (out.fleet.brokers.empty() && out.fleet.cities.empty())
            throw CLI::RequiredError("--broker CODE=URI (or --dry-run with --city CODE)");
    });
}

}  // namespace eqm::sim
