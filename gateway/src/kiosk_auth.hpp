#pragma once
/// Logins at the gateway, for the custodian kiosk and anyone else using its API.
///
/// The server sends each person's argon2id password hash (libsodium's crypto_pwhash_str) in
/// the registry, so a custodian can log in while the centre is away. `POST /api/v1/auth/login`
/// checks the password, then issues a random bearer token that the ledger stores only as its
/// SHA-256, with an expiry, exactly as eqm-server does (server/src/auth.*). Who may log in:
/// active custodians of this city, and active dispatchers and admins (region-wide roles).
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"

namespace eqm::http {
class prometheus_writer;
}

namespace eqm::gateway {

/// errc::forbidden naming "role" or "city" (with the reason) unless `p` may use the gateway of
/// `city`; errc::unauthorized when `p` is no longer active.
result<void> may_use_gateway(const person_record& p, std::string_view city);

/// The writes of the gateway's API, for the role rule (the server's rule, city-scoped here).
enum class kiosk_write {
    custody,    ///< check-out and check-in: custodians and admins
    alert_ack,  ///< acknowledge an alert: custodians, dispatchers and admins
};
/// errc::forbidden naming "role" unless `p` (already allowed at this gateway) may do `w`.
result<void> may_write(const person_record& p, kiosk_write w);

/// A new bearer token: 32 random bytes as lower-case hex.
std::string new_token();
/// What the ledger stores for a token (SHA-256, hex).
std::string token_hash(std::string_view token);

/// Failed logins per name and address. After `max_failures` within `window`, further attempts
/// are refused until the window has passed. At most `max_entries` are remembered: when full,
/// expired entries go first, then the oldest, so a flood of names cannot exhaust memory.
/// Thread-safe.
class login_throttle {
  public:
    static constexpr std::size_t max_failures = 5;
    static constexpr std::chrono::minutes window{5};
    static constexpr std::size_t max_entries = 4096;

    bool throttled(std::string_view name, std::string_view peer, clock_ms now);
    void failed(std::string_view name, std::string_view peer, clock_ms now);
    void succeeded(std::string_view name, std::string_view peer);

  private:
    struct failures {
        std::size_t count = 0;
        clock_ms window_start{};
    };
    void make_room(clock_ms now);

    std::mutex mutex_;
    std::map<std::string, failures, std::less<>> failures_;
};

/// Checks passwords against argon2id hashes on a thread of its own: a check at the server's
/// cost takes a noticeable fraction of a second and 64 MiB, which must stall neither the core
/// thread (dock decisions) nor the HTTP thread. One check at a time keeps the memory bounded;
/// at most `max_pending` wait.
class password_checker {
  public:
    static constexpr std::size_t max_pending = 8;
    /// Called on the checker's thread with the index in `hashes` of the one that matched.
    using callback = std::function<void(std::optional<std::size_t> matched)>;

    password_checker();
    ~password_checker();
    password_checker(const password_checker&) = delete;
    password_checker& operator=(const password_checker&) = delete;

    /// Queues a check; false when too many are waiting (the caller answers 503).
    bool check(std::vector<std::string> hashes, std::string password, callback done);

  private:
    struct job {
        std::vector<std::string> hashes;
        std::string password;
        callback done;
    };
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<job> jobs_;
    bool stopping_ = false;
    std::thread thread_;
};

/// What a login ended in, for /metrics.
enum class login_result { ok, unauthorized, forbidden, throttled, busy };
inline constexpr std::size_t login_result_count = 5;

/// The throttle, the checker and the login counters, shared by the HTTP handlers.
struct login_desk {
    login_throttle throttle;
    password_checker checker;
    std::array<std::atomic<std::uint64_t>, login_result_count> results{};

    void count(login_result r) noexcept { ++results[static_cast<std::size_t>(r)]; }
    /// `eqm_gateway_logins_total{result}`.
    void write_metrics(http::prometheus_writer& out) const;
};

}  // namespace eqm::gateway
