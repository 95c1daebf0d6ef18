#pragma once
/// The gateway's configuration: a JSON file (--config) plus command-line flags; a flag given on
/// the command line overrides the same key in the file. File keys are the flag names without the
/// leading dashes and with '_' for '-' ("local_mqtt", "outbox_max_bytes", ...); unknown keys are
/// refused so a typo fails loudly.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "eqm/domain/alerts.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/readiness.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {

/// The 14 Guangxi city codes (ARCHITECTURE.md, region data).
std::span<const std::string_view> city_codes() noexcept;
bool is_city_code(std::string_view code) noexcept;

/// How to reach one broker.
struct broker_config {
    std::string uri;  ///< tcp://host:port or ssl://host:port
    std::optional<std::string> user;
    std::optional<std::string> password;   ///< read from the password file
    std::optional<std::string> ca_file;    ///< TLS: CA the broker's certificate must chain to
    std::optional<std::string> cert_file;  ///< TLS: our client certificate (CN = gateway id)
    std::optional<std::string> key_file;   ///< TLS: its private key
};

struct gateway_config {
    std::string city;
    std::string gw_id;
    broker_config local;
    broker_config central;
    std::string db_path;
    std::string listen = "127.0.0.1:8081";
    /// HTTPS (and WSS) with this certificate chain and key when set; plain HTTP otherwise.
    std::optional<std::string> tls_cert_file;
    std::optional<std::string> tls_key_file;
    int telemetry_retention_days = 30;
    std::uint64_t outbox_max_bytes = 64ull * 1024 * 1024;
    std::chrono::seconds outbox_max_age = std::chrono::hours{24 * 7};
    /// Unacknowledged batches are sent again after this long without progress.
    std::chrono::milliseconds outbox_retransmit{10000};
    /// How long a write waits for a lock held by another process before failing.
    std::chrono::milliseconds db_busy_timeout{1000};
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
