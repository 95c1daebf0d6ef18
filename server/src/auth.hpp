#pragma once
/// Users and access: argon2id password hashes (libsodium), random bearer tokens stored as
/// SHA-256, failed-login throttling per name and peer, and the role/city rule of every write.
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/domain/time.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// Prepares libsodium; call once before anything else here. False when it cannot start.
bool init_crypto() noexcept;

/// argon2id hash string of `password` (crypto_pwhash_str, interactive limits).
result<std::string> hash_password(std::string_view password);

/// True when `password` matches `hash`.
bool verify_password(std::string_view hash, std::string_view password) noexcept;

/// `bytes` random bytes as lower-case hex (tokens, command ids).
std::string random_hex(std::size_t bytes);

/// Limits of the login throttle and token lifetime.
struct auth_options {
    std::chrono::milliseconds token_ttl = std::chrono::hours{12};
    /// After this many failed logins for one name from one peer within `failure_window`,
    /// further attempts are refused (429) until the window has passed.
    std::size_t max_failed_logins = 5;
    std::chrono::milliseconds failure_window = std::chrono::minutes{5};
};

/// A successful login.
struct login_grant {
    std::string token;
    clock_ms expires_at{};
    user_account user;
};

/// Checks credentials and tokens. Thread-safe.
class auth_service {
  public:
    auth_service(region_store& store, auth_options options) : store_(store), options_(options) {}

    /// True when `name` from `peer` has used up its failed attempts for now.
    bool throttled(std::string_view name, std::string_view peer, clock_ms now);

    /// Checks the password and issues a token; errc::unauthorized (same message for an unknown
    /// name and a wrong password) counts as a failure for the throttle.
    result<login_grant> login(std::string_view name, std::string_view password,
                              std::string_view peer, clock_ms now);

    /// The user a bearer token belongs to; errc::unauthorized when missing, unknown or expired.
    result<user_account> authenticate(std::string_view token, clock_ms now);

  private:
    struct failures {
        std::size_t count = 0;
        clock_ms window_start{};
    };

    region_store& store_;
    auth_options options_;
    std::mutex mutex_;
    std::map<std::string, failures, std::less<>> failures_;
};

/// The kinds of write the REST API has, for the role/city rule.
enum class write_kind {
    registry,   ///< create, edit, import devices: admin
    custody,    ///< check-out, check-in: custodian of the device's city, admin
    alert_ack,  ///< acknowledge an alert: custodian of its city, dispatcher, admin
};

/// errc::forbidden (naming the role or the city) unless `user` may do `kind` in `city`.
result<void> authorize(const user_account& user, write_kind kind, std::string_view city);

}  // namespace eqm::server
