#pragma once
/// Serialized answers of read routes (GET /devices), so a dashboard polling a 2,000-device
/// region does not rebuild the same megabyte of JSON per request. An entry is served only
/// while the store's revision is the one it was built at (any write to devices, custody,
/// telemetry, alerts, gateways or users changes it) and for at most `ttl`, because readiness
/// (calibration due, overdue check-outs) depends on the clock, not only on the data.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "eqm/domain/time.hpp"

namespace eqm::server {

/// How long a cached answer may be served without a write.
inline constexpr std::chrono::milliseconds default_body_cache_ttl{1000};
/// Distinct keys kept (filters are a handful of enums, so this is never reached in practice;
/// past it the cache starts over instead of growing).
inline constexpr std::size_t body_cache_max_entries = 256;

/// Thread-safe: HTTP threads look up and store concurrently.
class body_cache {
  public:
    explicit body_cache(std::chrono::milliseconds ttl = default_body_cache_ttl) : ttl_(ttl) {}

    /// The body stored under `key` when it was built at `revision` no longer than ttl before
    /// `now` (and not after it: a clock that went back invalidates); null otherwise.
    std::shared_ptr<const std::string> find(std::string_view key, std::uint64_t revision,
                                            clock_ms now) const {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return nullptr;
        const auto& e = it->second;
        if (e.revision != revision || now < e.built_at || now - e.built_at >= ttl_) return nullptr;
        return e.body;
    }

    /// Stores a body built from data read at `revision` (taken before the query, so a write
    /// that raced with the query leaves an entry that never matches again).
    void store(std::string_view key, std::uint64_t revision, clock_ms built_at,
               std::shared_ptr<const std::string> body) {
        std::lock_guard lock(mutex_);
        if (entries_.size() >= body_cache_max_entries && !entries_.contains(key)) entries_.clear();
        entries_.insert_or_assign(std::string(key), entry{revision, built_at, std::move(body)});
    }

  private:
    struct entry {
        std::uint64_t revision = 0;
        clock_ms built_at{};
        std::shared_ptr<const std::string> body;
    };

    std::chrono::milliseconds ttl_;
    mutable std::mutex mutex_;
    std::map<std::string, entry, std::less<>> entries_;
};

}  // namespace eqm::server
