#include "gateway_config.hpp"

#include <CLI/CLI.hpp>
#include <sstream>

#include "eqm/domain/try.hpp"
#include "eqm/runtime/cli.hpp"
#include "eqm/runtime/secret_file.hpp"

namespace eqm::gateway {
namespace {

constexpr std::string_view program_description =
    "eqm-gateway: the city gateway. It keeps the city's custody ledger in SQLite, decides\n"
    "check-outs and check-ins from dock events, its HTTP API and server commands, acknowledges\n"
    "each decision only after it is committed, and forwards every change to the central server\n"
    "exactly once through a durable outbox.";

/// The bounds of the options that take numbers or durations.
constexpr int max_retention_days = 3650;
constexpr std::uint64_t min_outbox_bytes = 4096;
constexpr std::uint64_t max_outbox_bytes = std::uint64_t{1} << 40;
constexpr std::size_t min_queue_items = 16;
constexpr std::size_t max_queue_items = 1'000'000;
constexpr std::size_t min_queue_bytes = std::size_t{64} << 10;
constexpr std::size_t max_queue_bytes = std::size_t{1} << 30;
constexpr std::chrono::milliseconds min_retransmit{100};
constexpr std::chrono::milliseconds max_busy_timeout = std::chrono::minutes{1};
constexpr std::chrono::milliseconds min_token_ttl = std::chrono::minutes{1};
constexpr std::chrono::milliseconds max_token_ttl = std::chrono::days{30};
constexpr std::chrono::milliseconds max_clock_window = std::chrono::days{3650};

/// Values that need work after parsing (files to read, names to map).
struct pending_values {
    std::string local_password_file;
    std::string central_password_file;
    std::string https_cert_file;
    std::string https_key_file;
    std::string log_level = "info";
};

/// tcp://, ssl://, mqtt:// or mqtts:// (what Paho takes).
CLI::Validator broker_uri() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            for (const char* scheme : {"tcp://", "ssl://", "mqtt://", "mqtts://"})
                if (s.starts_with(scheme) && s.size() > std::string_view(scheme).size()) return {};
            return "must be a tcp:// or ssl:// URI, not '" + s + "'";
        },
        "URI", "broker URI");
}

void add_broker(CLI::App& app, const std::string& name, const std::string& what, broker_config& b,
                std::string& password_file) {
    const std::string group = "Brokers (city: devices and docks; central: the regional server)";
    const std::string flag = "--" + name + "-mqtt";
    app.add_option(flag, b.uri,
                   "URI of the " + what + ", e.g. tcp://127.0.0.1:1883 or ssl://HOST:8883")
        ->required()
        ->check(broker_uri())
        ->group(group);
    auto* user =
        app.add_option(flag + "-user", b.user, "user name on the " + what + " (default: anonymous)")
            ->group(group);
    app.add_option(flag + "-password-file", password_file,
                   "file whose first line is the password on the " + what)
        ->check(CLI::ExistingFile)
        ->needs(user)
        ->group(group);
    app.add_option(flag + "-ca-file", b.ca_file, "CA certificate (PEM) for TLS to the " + what)
        ->check(CLI::ExistingFile)
        ->group(group);
    auto* cert = app.add_option(flag + "-cert-file", b.cert_file,
                                "client certificate (PEM) for TLS to the " + what)
                     ->check(CLI::ExistingFile)
                     ->group(group);
    auto* key = app.add_option(flag + "-key-file", b.key_file,
                               "private key (PEM) of --" + name + "-mqtt-cert-file")
                    ->check(CLI::ExistingFile)
                    ->group(group);
    cert->needs(key);
    key->needs(cert);
}

void add_http(CLI::App& app, gateway_config& c, pending_values& p) {
    const std::string group = "HTTP";
    app.add_option("--listen", c.listen,
                   "HTTP address for /healthz, /metrics and /api/v1 (ADDR:PORT; port 0: any)")
        ->capture_default_str()
        ->group(group);
    auto* cert = app.add_option("--tls-cert-file", p.https_cert_file,
                                "serve HTTPS with this certificate chain (PEM)")
                     ->check(CLI::ExistingFile)
                     ->group(group);
    auto* key =
        app.add_option("--tls-key-file", p.https_key_file, "private key (PEM) of --tls-cert-file")
            ->check(CLI::ExistingFile)
            ->group(group);
    cert->needs(key);
    key->needs(cert);
    app.add_option("--static-dir", c.static_dir,
                   "serve the files of this directory (the dashboards build with the custodian "
                   "kiosk page) at / for paths no route matches")
        ->check(CLI::ExistingDirectory)
        ->group(group);
    app.add_option("--http-host", c.http_hosts,
                   "a host name the API answers to besides IP addresses and localhost, e.g. the "
                   "kiosk's LAN name (repeatable)")
        ->group(group);
    app.add_option("--http-origin", c.http_origins,
                   "a browser origin allowed to call the API besides its own, e.g. "
                   "https://eqm.example.gov.cn (repeatable)")
        ->group(group);
    cli::add_duration(app, "--token-ttl", c.token_ttl, "how long a login token lasts")
        ->default_str("12h")
        ->group(group);
}

void add_ledger(CLI::App& app, gateway_config& c) {
    const std::string group = "Ledger, outbox and queue";
    app.add_option("--db", c.db_path, "path of the city ledger (SQLite, WAL); created when missing")
        ->required()
        ->group(group);
    app.add_option("--telemetry-retention-days", c.telemetry_retention_days,
                   "days of one-minute telemetry aggregates to keep")
        ->check(CLI::Range(1, max_retention_days))
        ->capture_default_str()
        ->group(group);
    app.add_option("--outbox-max-bytes", c.outbox_max_bytes,
                   "outbox bound (bytes, or with a unit: 64MiB); above it telemetry summaries are "
                   "dropped oldest-first, custody, alerts, device states and command results never")
        ->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(min_outbox_bytes, max_outbox_bytes))
        ->default_str("64MiB")
        ->group(group);
    cli::add_duration(app, "--outbox-max-age", c.outbox_max_age,
                      "telemetry summaries older than this are dropped from the outbox")
        ->default_str("7d")
        ->group(group);
    cli::add_duration(app, "--outbox-retransmit", c.outbox_retransmit,
                      "resend unacknowledged events after this long without ack progress")
        ->default_str("10s")
        ->group(group);
    cli::add_duration(app, "--db-busy-timeout", c.db_busy_timeout,
                      "how long a write waits for a database lock before the decision fails as "
                      "unavailable")
        ->default_str("1s")
        ->group(group);
    app.add_option("--queue-max-items", c.queue.max_items,
                   "work items that may wait for the core thread; telemetry may hold half of them")
        ->check(CLI::Range(min_queue_items, max_queue_items))
        ->capture_default_str()
        ->group(group);
    app.add_option("--queue-max-bytes", c.queue.max_bytes,
                   "bytes of messages that may wait for the core thread (or with a unit: 32MiB); "
                   "telemetry may hold a quarter of them")
        ->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(min_queue_bytes, max_queue_bytes))
        ->default_str("32MiB")
        ->group(group);
}

void add_rules(CLI::App& app, gateway_config& c, pending_values& p) {
    const std::string group = "Readiness, alerts and telemetry";
    const auto percent = CLI::Range(0.0, 100.0);
    app.add_option("--min-battery-body-camera", c.readiness.body_camera_min_battery_pct,
                   "check-out battery threshold for body cameras (%)")
        ->check(percent)
        ->capture_default_str()
        ->group(group);
    app.add_option("--min-battery-drone", c.readiness.drone_min_battery_pct,
                   "check-out battery threshold for drones (%)")
        ->check(percent)
        ->capture_default_str()
        ->group(group);
    app.add_option("--min-battery-analyzer", c.readiness.analyzer_min_battery_pct,
                   "check-out battery threshold for analyzers (%)")
        ->check(percent)
        ->capture_default_str()
        ->group(group);
    app.add_option("--low-battery-alert-pct", c.alerts.low_battery_pct,
                   "battery percent below which a low_battery alert is raised")
        ->check(percent)
        ->capture_default_str()
        ->group(group);
    cli::add_duration(app, "--telemetry-max-ahead", c.telemetry_max_ahead,
                      "telemetry stamped further ahead of the gateway's clock is refused")
        ->default_str("5m")
        ->group(group);
    cli::add_duration(app, "--telemetry-max-behind", c.telemetry_max_behind,
                      "telemetry stamped further behind the gateway's clock is refused")
        ->default_str("24h")
        ->group(group);
    app.add_option("--log-level", p.log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
        ->capture_default_str();
}

/// errc::bad_field naming `flag` unless lo <= v <= hi.
result<void> within(std::string_view flag, std::chrono::milliseconds v,
                    std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
    if (v >= lo && v <= hi) return {};
    return fail(errc::bad_field, std::string(flag),
                "must be from " + std::to_string(lo.count()) + "ms to " +
                    std::to_string(hi.count()) + "ms, got " + std::to_string(v.count()) + "ms");
}

/// What CLI11 cannot check alone: secrets, the gateway id, duration ranges.
result<void> finish(gateway_config& c, const pending_values& p) {
    if (c.gw_id.empty()) c.gw_id = "gw-" + c.city;
    if (!p.local_password_file.empty()) {
        EQM_TRY_LET(pw, read_secret_file(p.local_password_file, "--local-mqtt-password-file"));
        c.local.password = std::move(pw);
    }
    if (!p.central_password_file.empty()) {
        EQM_TRY_LET(pw, read_secret_file(p.central_password_file, "--central-mqtt-password-file"));
        c.central.password = std::move(pw);
    }
    if (!p.https_cert_file.empty())
        c.https = certificate_files{p.https_cert_file, p.https_key_file};
    c.level = parse_log_level(p.log_level).value_or(log_level::info);
    using std::chrono::milliseconds;
    EQM_TRY(
        within("--outbox-max-age", c.outbox_max_age, std::chrono::minutes{1}, max_clock_window));
    EQM_TRY(
        within("--outbox-retransmit", c.outbox_retransmit, min_retransmit, std::chrono::hours{1}));
    EQM_TRY(within("--db-busy-timeout", c.db_busy_timeout, milliseconds{0}, max_busy_timeout));
    EQM_TRY(within("--token-ttl", c.token_ttl, min_token_ttl, max_token_ttl));
    EQM_TRY(within("--telemetry-max-ahead", c.telemetry_max_ahead, milliseconds{1000},
                   max_clock_window));
    EQM_TRY(within("--telemetry-max-behind", c.telemetry_max_behind, std::chrono::minutes{1},
                   max_clock_window));
    return {};
}

}  // namespace

bool broker_config::uses_tls() const noexcept {
    return uri.starts_with("ssl://") || uri.starts_with("mqtts://") || ca_file || cert_file;
}

config_outcome parse_command_line(int argc, const char* const* argv) {
    config_outcome out;
    try {
        CLI::App app{std::string(program_description), "eqm-gateway"};
        app.get_formatter()->column_width(40);
        app.set_config("--config", "",
                       "read options from this TOML or INI file (key = value with the long flag "
                       "names as keys, e.g. local-mqtt = \"tcp://127.0.0.1:1883\"); flags win");
        app.allow_config_extras(CLI::config_extras_mode::error);
        gateway_config c;
        pending_values p;
        app.add_option("--city", c.city, "the city this gateway serves (450100 ... 451400)")
            ->required()
            ->check(cli::city_code());
        app.add_option("--gw-id", c.gw_id,
                       "gateway id: MQTT client id and gw_id in events (default gw-<city>)")
            ->check(cli::id());
        add_broker(app, "local", "city broker", c.local, p.local_password_file);
        add_broker(app, "central", "central broker", c.central, p.central_password_file);
        add_http(app, c, p);
        add_ledger(app, c);
        add_rules(app, c, p);
        try {
            app.parse(argc, argv);
        } catch (const CLI::ConfigError& e) {
            out.exit_code = 2;
            out.output = "eqm-gateway: --config: " + std::string(e.what()) +
                         " (keys are the long flag names, e.g. local-mqtt; see --help)\n";
            return out;
        } catch (const CLI::ParseError& e) {
            std::ostringstream o, err;
            // --help is a success; every other parse failure is a usage error (exit 2).
            out.exit_code = app.exit(e, o, err) == 0 ? 0 : 2;
            out.output = o.str() + err.str();
            return out;
        }
        if (auto r = finish(c, p); !r) {
            out.exit_code = 2;
            out.output = "eqm-gateway: " + r.error().describe() + "\n";
            return out;
        }
        out.config = std::move(c);
    } catch (const std::exception& e) {
        out.exit_code = 2;
        out.output = std::string("eqm-gateway: ") + e.what() + "\n";
    }
    return out;
}

}  // namespace eqm::gateway
