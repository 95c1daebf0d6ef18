// Password hashing, tokens, the login throttle and the write rule.
#include "auth.hpp"

#include <sodium.h>

#include <vector>

#include "eqm/domain/canonical_json.hpp"

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
std::string throttle_key(std::string_view name, std::string_view peer) {
    // The peer's port changes per connection; only its address identifies it.
    const auto colon = peer.rfind(':');
    const auto host = colon == std::string_view::npos ? peer : peer.substr(0, colon);
    std::string key(name);
    key += '\n';
    key += host;
    return key;
}
constexpr std::size_t token_bytes = 32;
}  // namespace

bool auth_service::throttled(std::string_view name, std::string_view peer, clock_ms now) {
    std::lock_guard lock(mutex_);
    auto it = failures_.find(throttle_key(name, peer));
    if (it == failures_.end()) return false;
    if (now - it->second.window_start >= options_.failure_window) {
        failures_.erase(it);
        return false;
    }
    return it->second.count >= options_.max_failed_logins;
}

result<login_grant> auth_service::login(std::string_view name, std::string_view password,
                                        std::string_view peer, clock_ms now) {
    auto user = store_.find_user_by_name(name);
    if (!user) return std::unexpected(user.error());
    const bool ok = *user && (*user)->active && verify_password((*user)->password_hash, password);
    if (!ok) {
        std::lock_guard lock(mutex_);
        auto& f = failures_[throttle_key(name, peer)];
        if (f.count == 0 || now - f.window_start >= options_.failure_window) {
            f.count = 0;
            f.window_start = now;
        }
        ++f.count;
        return fail(errc::unauthorized, "", "wrong name or password");
    }
    {
        std::lock_guard lock(mutex_);
        failures_.erase(throttle_key(name, peer));
    }
    login_grant g;
    g.token = random_hex(token_bytes);
    g.expires_at = now + options_.token_ttl;
    g.user = **user;
    if (auto r = store_.insert_token(sha256_hex(g.token), g.user.id, g.expires_at); !r)
        return std::unexpected(r.error());
    return g;
}

result<user_account> auth_service::authenticate(std::string_view token, clock_ms now) {
    if (token.empty())
        return fail(errc::unauthorized, "Authorization", "a bearer token is required");
    auto user = store_.user_for_token(sha256_hex(token), now);
    if (!user) return std::unexpected(user.error());
    if (!*user) return fail(errc::unauthorized, "Authorization", "the token is unknown or expired");
    return **user;
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
