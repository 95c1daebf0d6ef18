// Password hashing, tokens, the login throttle and the write rule.
#include "auth.hpp"

#include <sodium.h>

#include <vector>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/try.hpp"

namespace eqm::server {

bool init_crypto() noexcept {
    return sodium_init() >= 0;
}

result<std::string> hash_password(std::string_view password) {
    std::string out(crypto_pwhash_argon2id_STRBYTES, '\0');
    if (crypto_pwhash_argon2id_str(out.data(), password.data(), password.size(),
                                   crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
                                   crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE) != 0)
        return fail(errc::internal, "password", "out of memory while hashing the password");
    out.resize(std::char_traits<char>::length(out.c_str()));
    return out;
}

bool verify_password(std::string_view hash, std::string_view password) noexcept {
    const std::string h(hash);  // libsodium wants a NUL-terminated string
    return crypto_pwhash_argon2id_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    randombytes_buf(raw.data(), raw.size());
    std::string hex(bytes * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
    hex.resize(bytes * 2);
    return hex;
}

namespace {
/// The peer's address: its port changes per connection, so only the address identifies it.
std::string_view peer_host(std::string_view peer) {
    const auto colon = peer.rfind(':');
    return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}
std::string throttle_key(std::string_view name, std::string_view peer) {
    std::string key(name);
    key += '\n';
    key += peer_host(peer);
    return key;
}
constexpr std::size_t token_bytes = 32;
constexpr std::size_t user_id_bytes = 6;
}  // namespace

void failure_table::prune(clock_ms now) {
    while (!order_.empty()) {
        auto it = entries_.find(order_.front());
        if (now - it->second.window_start < window_ && entries_.size() <= capacity_) break;
        entries_.erase(it);
        order_.pop_front();
    }
}

bool failure_table::exhausted(std::string_view key, clock_ms now) {
    prune(now);
    auto it = entries_.find(key);
    return it != entries_.end() && now - it->second.window_start < window_ &&
           it->second.count >= limit_;
}

void failure_table::record(std::string_view key, clock_ms now) {
    auto it = entries_.find(key);
    if (it != entries_.end() && now - it->second.window_start >= window_) {
        order_.erase(it->second.order);
        entries_.erase(it);
        it = entries_.end();
    }
    if (it == entries_.end()) {
        order_.emplace_back(key);
        it = entries_.emplace(std::string(key), entry{0, now, std::prev(order_.end())}).first;
    }
    ++it->second.count;
    prune(now);
}

void failure_table::forget(std::string_view key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    order_.erase(it->second.order);
    entries_.erase(it);
}

bool auth_service::throttled(std::string_view name, std::string_view peer, clock_ms now) {
    std::lock_guard lock(mutex_);
    return by_peer_.exhausted(peer_host(peer), now) ||
           by_name_.exhausted(throttle_key(name, peer), now);
}

std::size_t auth_service::tracked_failures() {
    std::lock_guard lock(mutex_);
    return by_name_.size() + by_peer_.size();
}

result<login_grant> auth_service::login(std::string_view name, std::string_view password,
                                        std::string_view peer, clock_ms now) {
    EQM_TRY_LET(user, store_.find_user_by_name(name));
    const bool ok = user && user->active && verify_password(user->password_hash, password);
    if (!ok) {
        std::lock_guard lock(mutex_);
        by_name_.record(throttle_key(name, peer), now);
        by_peer_.record(peer_host(peer), now);
        return fail(errc::unauthorized, "", "wrong name or password");
    }
    {
        std::lock_guard lock(mutex_);
        by_name_.forget(throttle_key(name, peer));
    }
    login_grant g;
    g.token = random_hex(token_bytes);
    g.expires_at = now + options_.token_ttl;
    g.user = std::move(*user);
    EQM_TRY(store_.insert_token(sha256_hex(g.token), g.user.id, g.expires_at));
    return g;
}

result<user_account> new_user(const person_record& person, std::string_view password) {
    EQM_TRY_LET(hash, hash_password(password));
    user_account u;
    u.id = is_valid_id(person.name) ? person.name : "u-" + random_hex(user_id_bytes);
    u.name = person.name;
    u.role = person.role;
    u.city = person.city;
    u.badge = person.badge;
    u.badge_cities = person.badge_cities.value_or(std::vector<std::string>{});
    u.password_hash = std::move(hash);
    return u;
}

std::string one_time_password() {
    // No 0/O, 1/l/I: read aloud or copied by hand from a screen.
    constexpr std::string_view alphabet =
        "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    constexpr std::size_t length = 16;
    std::string out;
    for (std::size_t i = 0; i < length; ++i)
        out += alphabet[randombytes_uniform(static_cast<std::uint32_t>(alphabet.size()))];
    return out;
}

result<user_account> auth_service::authenticate(std::string_view token, clock_ms now) {
    EQM_TRY_LET(user, authenticate_to_change_password(token, now));
    if (user.must_change_password)
        return fail(errc::password_change_required, "password",
                    "this login uses a one-time password: choose a new one with POST "
                    "/api/v1/auth/password {password, new_password} first");
    return user;
}

result<user_account> auth_service::authenticate_to_change_password(std::string_view token,
                                                                   clock_ms now) {
    if (token.empty())
        return fail(errc::unauthorized, "Authorization", "a bearer token is required");
    EQM_TRY_LET(user, store_.user_for_token(sha256_hex(token), now));
    if (!user) return fail(errc::unauthorized, "Authorization", "the token is unknown or expired");
    return std::move(*user);
}

result<void> authorize(const user_account& user, write_kind kind, std::string_view city) {
    const auto role = user.role;
    if (role == person_role::admin) return {};
    const bool own_city = user.city && *user.city == city;
    switch (kind) {
        case write_kind::registry:
            return fail(errc::forbidden, "role", "only an admin may change the registry");
        case write_kind::custody:
            if (role == person_role::custodian && own_city) return {};
            if (role == person_role::custodian)
                return fail(errc::forbidden, "city",
                            "a custodian acts only on devices of their own city");
            return fail(errc::forbidden, "role",
                        std::string("a ") + std::string(to_string(role)) +
                            " may not check devices in or out");
        case write_kind::alert_ack:
            if (role == person_role::dispatcher) return {};
            if (role == person_role::custodian && own_city) return {};
            if (role == person_role::custodian)
                return fail(errc::forbidden, "city",
                            "a custodian acknowledges only alerts of their own city");
            return fail(errc::forbidden, "role", "an officer may not acknowledge alerts");
    }
    return fail(errc::forbidden, "role", "not allowed");
}

}  // namespace eqm::server
