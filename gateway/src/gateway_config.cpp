#include "gateway_config.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace eqm::gateway {
namespace {

constexpr std::array<std::string_view, 14> codes{"450100", "450200", "450300", "450400", "450500",
                                                 "450600", "450700", "450800", "450900", "451000",
                                                 "451100", "451200", "451300", "451400"};

/// One option: its key (file key; the flag is "--" + key with '-' for '_') and its help.
struct option_spec {
    std::string_view key;
    std::string_view help;
};

constexpr std::array<option_spec, 29> specs{{
    {"city",
     "City code this gateway serves, one of the 14 Guangxi codes (450100 Nanning ... "
     "451400 Chongzuo). Required."},
    {"local_mqtt",
     "URI of the city's Mosquitto (devices and docks), e.g. tcp://127.0.0.1:1883. "
     "Required."},
    {"central_mqtt",
     "URI of the central broker (the regional server), e.g. "
     "tcp://10.0.0.1:1883. Required."},
    {"db", "Path of the city ledger (SQLite, WAL); created when missing. Required."},
    {"listen", "HTTP address for /healthz, /metrics and /api/v1 (default 127.0.0.1:8081)."},
    {"gw_id", "Gateway id used as MQTT client id and in events (default gw-<city>)."},
    {"local_mqtt_user", "User name on the city broker (default: anonymous)."},
    {"local_mqtt_password_file", "File holding the city broker password (first line)."},
    {"local_mqtt_ca_file", "CA certificate (PEM) for an ssl:// city broker."},
    {"local_mqtt_cert_file", "Client certificate (PEM) for an ssl:// city broker."},
    {"local_mqtt_key_file", "Private key (PEM) of --local-mqtt-cert-file."},
    {"central_mqtt_user", "User name on the central broker (default: anonymous)."},
    {"central_mqtt_password_file", "File holding the central broker password (first line)."},
    {"central_mqtt_ca_file", "CA certificate (PEM) for an ssl:// central broker."},
    {"central_mqtt_cert_file",
     "Client certificate (PEM) for an ssl:// central broker; its CN is the gateway id "
     "(scripts/gen-region-pki writes gw-<city>.crt)."},
    {"central_mqtt_key_file", "Private key (PEM) of --central-mqtt-cert-file."},
    {"tls_cert_file",
     "Serve HTTPS (and WSS) with this certificate chain (PEM); plain HTTP without."},
    {"tls_key_file", "Private key (PEM) of --tls-cert-file."},
    {"telemetry_retention_days", "Days of one-minute telemetry aggregates to keep (default 30)."},
    {"outbox_max_bytes",
     "Outbox bound in bytes; above it telemetry summaries are dropped "
     "oldest-first (custody, alerts, device states and command results never "
     "are). Default 67108864."},
    {"outbox_max_age",
     "Telemetry summaries older than this are dropped from the outbox "
     "(e.g. 7d, 12h, 30m, 45s; default 7d)."},
    {"outbox_retransmit",
     "Resend unacknowledged events after this long without an ack "
     "(default 10s)."},
    {"db_busy_timeout",
     "How long a write waits for a database lock before the decision fails "
     "as unavailable (default 1s)."},
    {"min_battery_body_camera", "Check-out battery threshold for body cameras, percent (80)."},
    {"min_battery_drone", "Check-out battery threshold for drones, percent (90)."},
    {"min_battery_analyzer", "Check-out battery threshold for analyzers, percent (50)."},
    {"low_battery_alert_pct", "Battery percent below which a low_battery alert is raised (20)."},
    {"log_level", "debug, info, warn or error (default info)."},
    {"config", "JSON file with any of these options (keys as above with '_'); flags win."},
}};

std::string flag_of(std::string_view key) {
    std::string f = "--";
    for (char c : key) f += c == '_' ? '-' : c;
    return f;
}

result<std::int64_t> parse_integer(std::string_view key, const std::string& text, std::int64_t lo,
                                   std::int64_t hi) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi)
        return fail(errc::bad_field, flag_of(key),
                    "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                        ", got '" + text + "'");
    return v;
}

result<double> parse_percent(std::string_view key, const std::string& text) {
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < 0 || v > 100)
        return fail(errc::bad_field, flag_of(key),
                    "must be a number from 0 to 100, got '" + text + "'");
    return v;
}

/// "7d", "12h", "30m", "45s", "500ms" or a plain number of seconds.
result<std::chrono::milliseconds> parse_duration(std::string_view key, const std::string& text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    const std::string unit = text.substr(digits);
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, n);
    const bool number_ok = digits > 0 && ec == std::errc{} && end == text.data() + digits;
    std::int64_t scale = 0;
    if (unit == "ms")
        scale = 1;
    else if (unit.empty() || unit == "s")
        scale = 1000;
    else if (unit == "m")
        scale = 60'000;
    else if (unit == "h")
        scale = 3'600'000;
    else if (unit == "d")
        scale = 86'400'000;
    if (!number_ok || scale == 0 || n > 10'000'000)
        return fail(errc::bad_field, flag_of(key),
                    "must be a duration such as 500ms, 45s, 30m, 12h or 7d, got '" + text + "'");
    return std::chrono::milliseconds{n * scale};
}

result<std::string> read_password_file(std::string_view key, const std::string& path) {
    std::ifstream in(path);
    if (!in) return fail(errc::bad_field, flag_of(key), "cannot read the password file " + path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty())
        return fail(errc::bad_field, flag_of(key), "the password file " + path + " is empty");
    return line;
}

/// Loads the JSON config file into `values` for keys not already given on the command line.
result<void> merge_file(const std::string& path, std::map<std::string, std::string>& values,
                        const std::map<std::string, bool>& given) {
    std::ifstream in(path);
    if (!in) return fail(errc::bad_field, "--config", "cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return fail(errc::bad_json, "--config", path + " is not a JSON object");
    for (const auto& [k, v] : j.items()) {
        if (!values.contains(k) || k == "config")
            return fail(errc::unknown_field, "--config",
                        path + ": unknown key '" + k + "' (see --help for the keys)");
        if (given.at(k)) continue;  // the command line wins
        if (v.is_string())
            values[k] = v.get<std::string>();
        else if (v.is_number() || v.is_boolean())
            values[k] = v.dump();
        else
            return fail(errc::bad_field, "--config",
                        path + ": '" + k + "' must be a string or number");
    }
    return {};
}

result<gateway_config> build(std::map<std::string, std::string>& v) {
    gateway_config c;
    for (auto key : {"city", "local_mqtt", "central_mqtt", "db"})
        if (v[key].empty()) return fail(errc::bad_field, flag_of(key), "is required (see --help)");
    if (!is_city_code(v["city"])) {
        std::string list;
        for (auto code : codes) list += (list.empty() ? "" : ", ") + std::string(code);
        return fail(errc::bad_field, "--city",
                    "'" + v["city"] + "' is not one of the 14 city codes: " + list);
    }
    c.city = v["city"];
    c.gw_id = v["gw_id"].empty() ? "gw-" + c.city : v["gw_id"];
    if (!is_valid_id(c.gw_id))
        return fail(errc::bad_field, "--gw-id", "must match ^[A-Za-z0-9_-]{1,64}$");
    c.db_path = v["db"];
    if (!v["listen"].empty()) c.listen = v["listen"];
    auto broker = [&](std::string_view prefix, broker_config& b) -> result<void> {
        const std::string p(prefix);
        b.uri = v[p + "_mqtt"];
        if (b.uri.rfind("tcp://", 0) != 0 && b.uri.rfind("ssl://", 0) != 0 &&
            b.uri.rfind("mqtt://", 0) != 0 && b.uri.rfind("mqtts://", 0) != 0)
            return fail(errc::bad_field, flag_of(p + "_mqtt"),
                        "must be a tcp:// or ssl:// URI, got '" + b.uri + "'");
        if (!v[p + "_mqtt_user"].empty()) b.user = v[p + "_mqtt_user"];
        if (!v[p + "_mqtt_password_file"].empty()) {
            auto pw = read_password_file(p + "_mqtt_password_file", v[p + "_mqtt_password_file"]);
            if (!pw) return std::unexpected(pw.error());
            b.password = *pw;
        }
        if (!v[p + "_mqtt_ca_file"].empty()) b.ca_file = v[p + "_mqtt_ca_file"];
        if (!v[p + "_mqtt_cert_file"].empty()) b.cert_file = v[p + "_mqtt_cert_file"];
        if (!v[p + "_mqtt_key_file"].empty()) b.key_file = v[p + "_mqtt_key_file"];
        if (b.cert_file.has_value() != b.key_file.has_value())
            return fail(errc::bad_field, flag_of(p + "_mqtt_cert_file"),
                        "goes together with " + flag_of(p + "_mqtt_key_file"));
        return {};
    };
    if (auto r = broker("local", c.local); !r) return std::unexpected(r.error());
    if (auto r = broker("central", c.central); !r) return std::unexpected(r.error());
    if (v["tls_cert_file"].empty() != v["tls_key_file"].empty())
        return fail(errc::bad_field, "--tls-cert-file", "goes together with --tls-key-file");
    if (!v["tls_cert_file"].empty()) {
        c.tls_cert_file = v["tls_cert_file"];
        c.tls_key_file = v["tls_key_file"];
    }

    auto integer = [&](const char* key, std::int64_t lo, std::int64_t hi,
                       auto& out) -> result<void> {
        if (v[key].empty()) return {};
        auto n = parse_integer(key, v[key], lo, hi);
        if (!n) return std::unexpected(n.error());
        out = static_cast<std::remove_reference_t<decltype(out)>>(*n);
        return {};
    };
    if (auto r = integer("telemetry_retention_days", 1, 3650, c.telemetry_retention_days); !r)
        return std::unexpected(r.error());
    if (auto r = integer("outbox_max_bytes", 4096, std::int64_t{1} << 40, c.outbox_max_bytes); !r)
        return std::unexpected(r.error());
    auto duration = [&](const char* key, auto& out) -> result<void> {
        if (v[key].empty()) return {};
        auto d = parse_duration(key, v[key]);
        if (!d) return std::unexpected(d.error());
        out = std::chrono::duration_cast<std::remove_reference_t<decltype(out)>>(*d);
        return {};
    };
    if (auto r = duration("outbox_max_age", c.outbox_max_age); !r)
        return std::unexpected(r.error());
    if (auto r = duration("outbox_retransmit", c.outbox_retransmit); !r)
        return std::unexpected(r.error());
    if (auto r = duration("db_busy_timeout", c.db_busy_timeout); !r)
        return std::unexpected(r.error());
    auto percent = [&](const char* key, double& out) -> result<void> {
        if (v[key].empty()) return {};
        auto p = parse_percent(key, v[key]);
        if (!p) return std::unexpected(p.error());
        out = *p;
        return {};
    };
    if (auto r = percent("min_battery_body_camera", c.readiness.body_camera_min_battery_pct); !r)
        return std::unexpected(r.error());
    if (auto r = percent("min_battery_drone", c.readiness.drone_min_battery_pct); !r)
        return std::unexpected(r.error());
    if (auto r = percent("min_battery_analyzer", c.readiness.analyzer_min_battery_pct); !r)
        return std::unexpected(r.error());
    if (auto r = percent("low_battery_alert_pct", c.alerts.low_battery_pct); !r)
        return std::unexpected(r.error());
    if (!v["log_level"].empty()) {
        auto l = parse_log_level(v["log_level"]);
        if (!l) return fail(errc::bad_field, "--log-level", "must be debug, info, warn or error");
        c.level = *l;
    }
    return c;
}

}  // namespace

std::span<const std::string_view> city_codes() noexcept {
    return codes;
}

bool is_city_code(std::string_view code) noexcept {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
}

config_outcome parse_command_line(int argc, const char* const* argv) {
    config_outcome out;
    try {
        CLI::App app{
            "eqm-gateway: the city gateway. It keeps the city's custody ledger in SQLite, decides\n"
            "check-outs and check-ins from dock events and its HTTP API, acknowledges each "
            "decision\n"
            "only after it is committed, and forwards every change to the central server exactly\n"
            "once through a durable outbox.",
            "eqm-gateway"};
        app.get_formatter()->column_width(34);
        std::map<std::string, std::string> values;
        for (const auto& s : specs) values[std::string(s.key)] = "";
        std::map<std::string, CLI::Option*> options;
        for (const auto& s : specs) {
            const std::string key(s.key);
            options[key] = app.add_option(flag_of(s.key), values[key], std::string(s.help));
        }
        try {
            app.parse(argc, argv);
        } catch (const CLI::ParseError& e) {
            std::ostringstream o, err;
            out.exit_code = app.exit(e, o, err);
            out.output = o.str() + err.str();
            return out;
        }
        std::map<std::string, bool> given;
        for (const auto& [k, opt] : options) given[k] = opt->count() > 0;
        if (!values["config"].empty()) {
            if (auto r = merge_file(values["config"], values, given); !r) {
                out.exit_code = 2;
                out.output = "eqm-gateway: " + r.error().describe() + "\n";
                return out;
            }
        }
        auto c = build(values);
        if (!c) {
            out.exit_code = 2;
            out.output = "eqm-gateway: " + c.error().describe() + "\n";
            return out;
        }
        out.config = std::move(*c);
    } catch (const std::exception& e) {
        out.exit_code = 2;
        out.output = std::string("eqm-gateway: ") + e.what() + "\n";
    }
    return out;
}

}  // namespace eqm::gateway
