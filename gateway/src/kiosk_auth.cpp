#include "kiosk_auth.hpp"

#include <sodium.h>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/http/metrics.hpp"

namespace eqm::gateway {
namespace {

constexpr std::size_t token_bytes = 32;

std::string throttle_key(std::string_view name, std::string_view peer) {
    // The peer's port changes per connection; only its address identifies it.
    const auto colon = peer.rfind(':');
    const auto host = colon == std::string_view::npos ? peer : peer.substr(0, colon);
    std::string key(name);
    key += '\n';
    key += host;
    return key;
}

}  // namespace

result<void> may_use_gateway(const person_record& p, std::string_view city) {
    if (!p.is_active()) return fail(errc::unauthorized, "", "this login is no longer active");
    switch (p.role) {
        case person_role::admin:
        case person_role::dispatcher:
            return {};
        case person_role::custodian:
            if (p.city && *p.city == city) return {};
            return fail(errc::forbidden, "city",
                        "a custodian of " + p.city.value_or("no city") +
                            " may not log in at the gateway of " + std::string(city));
        case person_role::officer:
            break;
    }
    return fail(errc::forbidden, "role",
                "an officer may not log in at a city gateway: its custodians, dispatchers and "
                "admins may");
}

result<void> may_write(const person_record& p, kiosk_write w) {
    if (p.role == person_role::admin || p.role == person_role::custodian) return {};
    if (w == kiosk_write::alert_ack && p.role == person_role::dispatcher) return {};
    return fail(errc::forbidden, "role",
                "a " + std::string(to_string(p.role)) +
                    (w == kiosk_write::custody ? " may not check devices in or out"
                                               : " may not acknowledge alerts"));
}

std::string new_token() {
    if (sodium_init() < 0) return {};  // cannot happen once the checker started; refuses below
    unsigned char raw[token_bytes];
    randombytes_buf(raw, sizeof raw);
    char hex[token_bytes * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    return hex;
}

std::string token_hash(std::string_view token) {
    return sha256_hex(token);
}

// --- login_throttle ----------------------------------------------------------------------------

bool login_throttle::throttled(std::string_view name, std::string_view peer, clock_ms now) {
    std::lock_guard lock(mutex_);
    auto it = failures_.find(throttle_key(name, peer));
    if (it == failures_.end()) return false;
    if (now - it->second.window_start >= window) {
        failures_.erase(it);
        return false;
    }
    return it->second.count >= max_failures;
}

void login_throttle::failed(std::string_view name, std::string_view peer, clock_ms now) {
    std::lock_guard lock(mutex_);
    auto key = throttle_key(name, peer);
    if (!failures_.contains(key) && failures_.size() >= max_entries) make_room(now);
    auto& f = failures_[key];
    if (f.count == 0 || now - f.window_start >= window) {
        f.count = 0;
        f.window_start = now;
    }
    ++f.count;
}

void login_throttle::succeeded(std::string_view name, std::string_view peer) {
    std::lock_guard lock(mutex_);
    if (auto it = failures_.find(throttle_key(name, peer)); it != failures_.end())
        failures_.erase(it);
}

void login_throttle::make_room(clock_ms now) {
    std::erase_if(failures_, [&](const auto& e) { return now - e.second.window_start >= window; });
    if (failures_.size() < max_entries) return;
    auto oldest = failures_.begin();
    for (auto it = failures_.begin(); it != failures_.end(); ++it)
        if (it->second.window_start < oldest->second.window_start) oldest = it;
    failures_.erase(oldest);
}

// --- password_checker --------------------------------------------------------------------------

password_checker::password_checker() : thread_([this] { run(); }) {}

password_checker::~password_checker() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

bool password_checker::check(std::vector<std::string> hashes, std::string password, callback done) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || jobs_.size() >= max_pending) return false;
        jobs_.push_back(job{std::move(hashes), std::move(password), std::move(done)});
    }
    wake_.notify_one();
    return true;
}

void password_checker::run() {
    const bool sodium_ready = sodium_init() >= 0;
    while (true) {
        job j;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            j = std::move(jobs_.front());
            jobs_.pop_front();
        }
        std::optional<std::size_t> matched;
        for (std::size_t i = 0; sodium_ready && i < j.hashes.size() && !matched; ++i)
            if (crypto_pwhash_str_verify(j.hashes[i].c_str(), j.password.data(),
                                         j.password.size()) == 0)
                matched = i;
        sodium_memzero(j.password.data(), j.password.size());
        try {
            j.done(matched);
        } catch (...) {
            // The callback answers an HTTP request; nothing it throws may end this thread.
        }
    }
}

// --- login_desk --------------------------------------------------------------------------------

void login_desk::write_metrics(http::prometheus_writer& out) const {
    constexpr std::array<const char*, login_result_count> names{"ok", "unauthorized", "forbidden",
                                                                "throttled", "busy"};
    for (std::size_t i = 0; i < names.size(); ++i)
        out.counter("eqm_gateway_logins_total", "Login attempts at the gateway, by result",
                    static_cast<double>(results[i].load()), {{"result", names[i]}});
}

}  // namespace eqm::gateway
