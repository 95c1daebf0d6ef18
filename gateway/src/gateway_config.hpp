#pragma once
/// The gateway's configuration, from the command line and an optional `--config FILE`, both
/// read by CLI11 (eqm/runtime/cli.hpp) as in every eqm program. The file is TOML or INI,
/// `key = value` with the long flag names as keys (`local-mqtt = "tcp://127.0.0.1:1883"`,
/// `outbox-max-age = "7d"`, `http-host = ["kiosk.lan"]`); a flag on the command line wins over
/// the same key in the file, and an unknown key is refused so a typo fails loudly.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eqm/domain/alerts.hpp"
#include "eqm/domain/readiness.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {

/// How to reach one broker.
struct broker_config {
    std::string uri;  ///< tcp://host:port or ssl://host:port
    std::optional<std::string> user;
    std::optional<std::string> password;   ///< read from the password file
    std::optional<std::string> ca_file;    ///< TLS: CA the broker's certificate must chain to
    std::optional<std::string> cert_file;  ///< TLS client certificate (PEM), with key_file
    std::optional<std::string> key_file;
    /// True when the connection uses TLS (an ssl:// URI or any TLS file given).
    bool uses_tls() const noexcept;
};

/// A certificate chain and its key (PEM files), for HTTPS.
struct certificate_files {
    std::string cert_file;
    std::string key_file;
};

/// How much work may wait for the core thread (see core_inbox.hpp). Telemetry gets the
/// smaller share, so a flood of it never crowds out dock and device events.
struct queue_config {
    std::size_t max_items = 16384;
    std::size_t max_bytes = std::size_t{32} << 20;
};

struct gateway_config {
    std::string city;
    std::string gw_id;
    broker_config local;
    broker_config central;
    std::string db_path;

    // --- HTTP ---
    std::string listen = "127.0.0.1:8081";
    std::optional<certificate_files> https;
    /// Files served at / (the dashboards build with the custodian kiosk page).
    std::optional<std::string> static_dir;
    /// Host names and browser origins the API accepts besides its own (eqm/http/origin.hpp).
    std::vector<std::string> http_hosts;
    std::vector<std::string> http_origins;
    /// How long a login token lasts.
    std::chrono::milliseconds token_ttl = std::chrono::hours{12};

    // --- ledger, outbox, queue ---
    int telemetry_retention_days = 30;
    std::uint64_t outbox_max_bytes = 64ull * 1024 * 1024;
    std::chrono::milliseconds outbox_max_age = std::chrono::days{7};
    /// Unacknowledged batches are sent again after this long without progress.
    std::chrono::milliseconds outbox_retransmit{10000};
    /// How long a write waits for a lock held by another process before failing.
    std::chrono::milliseconds db_busy_timeout{1000};
    queue_config queue;

    // --- telemetry clock checks ---
    /// A telemetry `ts` further ahead of the gateway's clock than this is refused.
    std::chrono::milliseconds telemetry_max_ahead = std::chrono::minutes{5};
    /// A telemetry `ts` further behind the gateway's clock than this is refused.
    std::chrono::milliseconds telemetry_max_behind = std::chrono::hours{24};

    readiness_policy readiness;
    alert_policy alerts;
    log_level level = log_level::info;
};

/// What parsing the command line decided.
struct config_outcome {
    std::optional<gateway_config> config;  ///< set when the program should run
    int exit_code = 0;                     ///< otherwise: exit with this (0 for --help)
    std::string output;                    ///< text to print (help or the error)
};

/// Parses argv (and the --config file it names). Never throws.
config_outcome parse_command_line(int argc, const char* const* argv);

}  // namespace eqm::gateway
