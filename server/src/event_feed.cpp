// The WebSocket feed: publishing, per-reader filters, and closing ended logins.
#include "event_feed.hpp"

#include <charconv>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"
#include "read_scope.hpp"
#include "views.hpp"

namespace eqm::server {

using nlohmann::json;

namespace {

std::string_view label(const http::ws_message& m, std::string_view name) {
    auto it = m.labels.find(name);
    return it == m.labels.end() ? std::string_view{} : std::string_view{it->second};
}

/// What `u` receives: `asked` is the city it asked for (none: every city it may read).
http::ws_filter reader_filter(const user_account& u, std::optional<std::string> asked) {
    const bool officer = u.role == person_role::officer;
    // A custodian's devices and alerts are their city's; gateways are everyone's to see.
    std::optional<std::string> scope;
    if (u.role == person_role::custodian) scope = u.city.value_or("");
    return [asked, scope, officer, me = u.id](const http::ws_message& m) {
        const auto kind = label(m, "kind");
        const auto city = label(m, "city");
        // A transfer concerns its destination city as well.
        const auto to_city = label(m, "to_city");
        const auto concerns = [&](std::string_view c) {
            return city == c || (!to_city.empty() && to_city == c);
        };
        if (asked && !concerns(*asked)) return false;
        if (kind == "gateway") return true;
        if (officer) {
            if (kind == "reservation") return label(m, "person") == me;
            if (kind != "device") return false;
            return label(m, "view") == (label(m, "holder") == me ? "full" : "public");
        }
        if (scope && !concerns(*scope)) return false;
        return kind != "device" || label(m, "view") == "full";
    };
}

std::string millis_text(clock_ms t) {
    return std::to_string(t.time_since_epoch().count());
}

std::optional<clock_ms> from_millis_text(std::string_view s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return clock_ms{std::chrono::milliseconds{v}};
}

}  // namespace

void publish_device(http::ws_hub& hub, const device_view& d, clock_ms now) {
    json resource = device_json(d, now);
    const std::string holder = d.holder.value_or("");
    json msg{{"type", "device"}, {"device", resource}};
    hub.broadcast(
        msg.dump(),
        {{"city", d.record.city}, {"kind", "device"}, {"holder", holder}, {"view", "full"}});
    if (d.holder) msg["device"]["holder"] = nullptr;
    hub.broadcast(
        msg.dump(),
        {{"city", d.record.city}, {"kind", "device"}, {"holder", holder}, {"view", "public"}});
}

void publish_alert(http::ws_hub& hub, const alert_view& a) {
    json msg{{"type", "alert"}, {"alert", alert_json(a)}};
    hub.broadcast(msg.dump(), {{"city", a.city}, {"kind", "alert"}});
}

void publish_transfer(http::ws_hub& hub, const transfer_view& t) {
    json msg{{"type", "transfer"}, {"transfer", to_json(t)}};
    hub.broadcast(msg.dump(),
                  {{"city", t.from_city}, {"to_city", t.to_city}, {"kind", "transfer"}});
}

http::ws_accept feed_admission(auth_service& auth, region_store& store, eqm::clock_fn clock) {
    return [&auth, &store, clock](const http::request& req) -> result<http::ws_admission> {
        std::string token(req.bearer_token());
        if (auto q = req.query_param("token")) token = std::string(*q);
        EQM_TRY_LET(u, auth.authenticate(token, clock()));
        const auto token_hash = sha256_hex(token);
        EQM_TRY_LET(expires_at, store.token_expiry(token_hash));
        std::optional<std::string> asked;
        if (auto c = req.query_param("city")) {
            if (!find_city(*c))
                return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
            asked = std::string(*c);
        }
        if (asked) {
            EQM_TRY(device_list_city(u, asked));
        }
        http::ws_labels labels{{"user", u.id},
                               {"token", token_hash},
                               {"expires_at", millis_text(expires_at.value_or(clock_ms{}))},
                               {"role", std::string(to_string(u.role))},
                               {"city", u.city.value_or("")}};
        return http::ws_admission{reader_filter(u, asked), std::move(labels)};
    };
}

feed_guard::feed_guard(http::ws_hub& hub, region_store& store, eqm::clock_fn clock,
                       std::chrono::milliseconds interval)
    : hub_(hub), store_(store), clock_(std::move(clock)), interval_(interval) {}

feed_guard::~feed_guard() {
    stop();
}

void feed_guard::start() {
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
            lock.unlock();
            check_once();
            lock.lock();
        }
    });
}

void feed_guard::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::size_t feed_guard::check_once() {
    const auto now = clock_();
    return hub_.close_where([&](const http::ws_labels& l) -> std::optional<std::string> {
        auto get = [&](std::string_view k) {
            auto it = l.find(k);
            return it == l.end() ? std::string() : it->second;
        };
        if (get("token").empty()) return std::nullopt;  // not a feed connection
        const auto expires = from_millis_text(get("expires_at"));
        if (!expires || now >= *expires) return "the login has expired; log in again";
        auto user = store_.user_for_token(get("token"), now);
        if (!user) return std::nullopt;  // the store is busy or broken: look again next time
        if (!*user) return "the user was deactivated or logged out";
        if (std::string(to_string((*user)->role)) != get("role") ||
            (*user)->city.value_or("") != get("city"))
            return "the user's role or city changed; reconnect";
        return std::nullopt;
    });
}

}  // namespace eqm::server
