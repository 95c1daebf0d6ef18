#pragma once
/// Users and access: argon2id password hashes (libsodium), random bearer tokens stored as
/// SHA-256, failed-login throttling per name and peer, and the role/city rule of every write.
#include <chrono>
#include <cstddef>
#include <list>
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
    /// further attempts for that name from that peer are refused (429) until the window ends.
    std::size_t max_failed_logins = 5;
    /// After this many failed logins from one peer within `failure_window`, whatever the
    /// names, every login from it is refused: trying many names does not escape the throttle.
    std::size_t max_failed_logins_per_peer = 50;
    std::chrono::milliseconds failure_window = std::chrono::minutes{5};
    /// At most this many (name, peer) and this many peers are tracked; past it the oldest
    /// windows are forgotten first, so strangers cannot grow the server's memory.
    std::size_t max_tracked_failures = 10000;
};

/// Failed attempts per key within a window of time, bounded: entries whose window has passed
/// are dropped as time goes on, and past `capacity` the oldest window goes first. Not
/// thread-safe (auth_service guards it).
class failure_table {
  public:
    failure_table(std::size_t limit, std::size_t capacity, std::chrono::milliseconds window)
        : limit_(limit), capacity_(capacity), window_(window) {}

    /// True when `key` has used up its attempts in its current window.
    bool exhausted(std::string_view key, clock_ms now);
    /// Counts one failure of `key` (a new window starts when the old one has passed).
    void record(std::string_view key, clock_ms now);
    /// Forgets `key` (after a successful login).
    void forget(std::string_view key);
    /// Keys tracked now.
    std::size_t size() const noexcept { return entries_.size(); }

  private:
    struct entry {
        std::size_t count = 0;
        clock_ms window_start{};
        std::list<std::string>::iterator order;
    };
    void prune(clock_ms now);

    std::size_t limit_;
    std::size_t capacity_;
    std::chrono::milliseconds window_;
    std::map<std::string, entry, std::less<>> entries_;
    std::list<std::string> order_;  ///< keys by window start, oldest first
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
    auth_service(region_store& store, auth_options options)
        : store_(store),
          options_(options),
          by_name_(options.max_failed_logins, options.max_tracked_failures, options.failure_window),
          by_peer_(options.max_failed_logins_per_peer, options.max_tracked_failures,
                   options.failure_window) {}

    /// True when `name` from `peer`, or `peer` as a whole, has used up its failed attempts.
    bool throttled(std::string_view name, std::string_view peer, clock_ms now);

    /// Checks the password and issues a token; errc::unauthorized (same message for an unknown
    /// name and a wrong password) counts as a failure for the throttle.
    result<login_grant> login(std::string_view name, std::string_view password,
                              std::string_view peer, clock_ms now);

    /// The user a bearer token belongs to; errc::unauthorized when missing, unknown or expired,
    /// errc::password_change_required while the user holds a one-time password.
    result<user_account> authenticate(std::string_view token, clock_ms now);

    /// authenticate() that lets a user with a one-time password through: only for the route
    /// that changes the password.
    result<user_account> authenticate_to_change_password(std::string_view token, clock_ms now);

    /// How many (name, peer) and peer entries the throttle holds now.
    std::size_t tracked_failures();

  private:
    region_store& store_;
    auth_options options_;
    std::mutex mutex_;
    failure_table by_name_;  ///< keyed on name and peer address
    failure_table by_peer_;  ///< keyed on the peer address
};

/// A new user from a checked person (people.hpp) and a password: an argon2id hash, and an id
/// that is the name itself when the name is an id, else `u-` and 12 random hex digits.
result<user_account> new_user(const person_record& person, std::string_view password);

/// A one-time password handed out by an admin (a new person without a password, a reset):
/// 16 characters from an alphabet without look-alikes, about 80 bits.
std::string one_time_password();

/// The kinds of write the REST API has, for the role/city rule.
enum class write_kind {
    registry,   ///< create, edit, import devices: admin
    custody,    ///< check-out, check-in: custodian of the device's city, admin
    alert_ack,  ///< acknowledge an alert: custodian of its city, dispatcher, admin
};

/// errc::forbidden (naming the role or the city) unless `user` may do `kind` in `city`.
result<void> authorize(const user_account& user, write_kind kind, std::string_view city);

}  // namespace eqm::server
