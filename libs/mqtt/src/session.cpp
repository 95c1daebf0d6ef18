#include "eqm/mqtt/session.hpp"

#include <mqtt/async_client.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

namespace eqm::mqtt {
namespace {

/// Extra time we give Paho beyond its own connect timeout before giving up on a token.
constexpr std::chrono::seconds token_grace{2};
/// How long a clean disconnect may take at destruction.
constexpr std::chrono::milliseconds disconnect_timeout{1000};
/// The reconnect thread re-checks the link this often, in case a loss slipped past.
constexpr std::chrono::milliseconds link_check_interval{1000};
/// MQTT limits.
constexpr int max_qos = 2;
constexpr std::size_t max_client_id_length = 65535;

bool valid_uri(std::string_view uri) {
    for (std::string_view scheme : {"tcp://", "ssl://", "mqtt://", "mqtts://", "ws://", "wss://"}) {
        if (uri.starts_with(scheme) && uri.size() > scheme.size()) return true;
    }
    return false;
}

/// The broker's host and port as a URI names them ("tcp://host:1883", "ssl://[::1]:8883", a
/// scheme's default port when none is given); nullopt when the URI names no host.
std::optional<std::pair<std::string, std::string>> uri_endpoint(std::string_view uri) {
    const auto scheme_end = uri.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    const std::string_view scheme = uri.substr(0, scheme_end);
    std::string_view rest = uri.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find('/'));  // ws:// URIs carry a path
    std::string_view host = rest, port;
    if (rest.starts_with('[')) {  // [IPv6]:port
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = rest.substr(1, close - 1);
        if (rest.size() > close + 1 && rest[close + 1] == ':') port = rest.substr(close + 2);
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    if (port.empty()) {
        port = scheme == "ssl" || scheme == "mqtts" ? "8883"
               : scheme == "ws"                     ? "80"
               : scheme == "wss"                    ? "443"
                                                    : "1883";
    }
    return std::pair{std::string(host), std::string(port)};
}

bool same_endpoint(const sockaddr_storage& a, const sockaddr* b) {
    if (a.ss_family != b->sa_family) return false;
    if (a.ss_family == AF_INET) {
        sockaddr_in x{}, y{};
        std::memcpy(&x, &a, sizeof x);
        std::memcpy(&y, b, sizeof y);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    if (a.ss_family == AF_INET6) {
        sockaddr_in6 x{}, y{};
        std::memcpy(&x, &a, sizeof x);
        std::memcpy(&y, b, sizeof y);
        return x.sin6_port == y.sin6_port &&
               std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
    }
    return false;
}

/// Turns Nagle's algorithm off on this process's TCP connections to the broker of `uri`;
/// returns how many sockets it set.
///
/// Why: MQTT packets are small and each one is a step of a request/answer chain (a command,
/// its PUBACK, the gateway's result batch, the server's srv/ack). With Nagle on, a PUBLISH
/// written while an earlier small packet (typically the PUBACK just sent for the message being
/// answered) is still unacknowledged is held until the broker's TCP ACK comes, and the broker
/// delays that ACK (40 ms on Linux) because it has nothing to send back yet. That put ~20-40 ms
/// on every hop of a check-out through eqm-server. The broker side is covered by
/// `set_tcp_nodelay true` in its config; the client side must be set here, because Paho C 1.3
/// never sets TCP_NODELAY and gives no access to its socket (eclipse-paho/paho.mqtt.c#530).
/// So after each connect the session finds its connection among the process's sockets by the
/// peer address. Another of our connections to the same broker (a second session) gets the
/// same setting, which it wants anyway; a descriptor closed and reused meanwhile at worst gets
/// TCP_NODELAY too (or refuses it), which harms nothing.
int disable_nagle_towards(std::string_view uri) noexcept {
    try {
        const auto endpoint = uri_endpoint(uri);
        if (!endpoint) return 0;
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (::getaddrinfo(endpoint->first.c_str(), endpoint->second.c_str(), &hints, &found) != 0)
            return 0;
        std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
        int set = 0;
        std::error_code ec;
        for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
             it.increment(ec)) {
            const auto name = it->path().filename().string();
            int fd = -1;
            try {
                fd = std::stoi(name);
            } catch (const std::exception&) {
                continue;
            }
            int type = 0;
            socklen_t len = sizeof type;
            if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
                continue;
            sockaddr_storage peer{};
            len = sizeof peer;
            if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
            for (const addrinfo* a = addresses.get(); a; a = a->ai_next) {
                if (!same_endpoint(peer, a->ai_addr)) continue;
                const int on = 1;
                if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0) ++set;
                break;
            }
        }
        return set;
    } catch (...) {
        return 0;  // only latency is at stake: never fail a connect over it
    }
}

}  // namespace

/// The session's shared state. It is also Paho's callback object, so it must outlive the
/// client: `client` is declared last and therefore destroyed first.
struct session::state final : ::mqtt::callback {
    /// Keeps the user's completion callback alive until Paho reports the outcome.
    struct delivery_listener final : ::mqtt::iaction_listener {
        state* owner = nullptr;
        std::uint64_t id = 0;
        delivery_callback callback;

        void on_success(const ::mqtt::token&) override { finish({}); }
        void on_failure(const ::mqtt::token& tok) override {
            finish(fail(errc::unavailable, "",
                        "delivery failed (paho rc " + std::to_string(tok.get_return_code()) + ")"));
        }
        void finish(result<void> outcome) noexcept {
            state* s = owner;
            s->guarded("delivery callback", [&] { callback(std::move(outcome)); });
            // Erasing destroys *this; nothing may touch members afterwards.
            s->forget_delivery(id);
        }
    };

    explicit state(session_options opts)
        : options(std::move(opts)), subscriptions(options.subscriptions) {}

    ~state() override {
        {
            std::lock_guard lock(mutex);
            stopping = true;
        }
        wake.notify_all();
        if (worker.joinable()) worker.join();
        try {
            if (client && client->is_connected())
                client->disconnect(disconnect_timeout)->wait_for(disconnect_timeout + token_grace);
        } catch (const std::exception& e) {
            log(std::string("disconnect failed: ") + e.what());
        }
        up = false;
        client.reset();
    }

    // ---- Paho callbacks (Paho's thread) -------------------------------------------------

    void connection_lost(const std::string& cause) override {
        mark_down("connection lost" + (cause.empty() ? std::string() : ": " + cause));
    }

    void message_arrived(::mqtt::const_message_ptr msg) override {
        ++messages_received;
        guarded("on_message", [&] {
            message_callback handler;
            {
                std::lock_guard lock(mutex);
                handler = message_handler;
            }
            if (handler && msg) handler(msg->get_topic(), msg->to_string());
        });
    }

    // ---- helpers -------------------------------------------------------------------------

    void log(std::string_view line) noexcept {
        try {
            if (options.log) options.log(line);
        } catch (...) {
            ++callback_errors;
        }
    }

    /// Runs a user callback; nothing it throws gets past here.
    template <class F>
    void guarded(std::string_view what, F&& f) noexcept {
        try {
            f();
        } catch (const std::exception& e) {
            ++callback_errors;
            log(std::string(what) + " threw: " + e.what());
        } catch (...) {
            ++callback_errors;
            log(std::string(what) + " threw a non-standard exception");
        }
    }

    void notify_connection(bool is_up) noexcept {
        guarded("on_connection", [&] {
            connection_callback handler;
            {
                std::lock_guard lock(mutex);
                handler = connection_handler;
            }
            if (handler) handler(is_up);
        });
    }

    void mark_down(const std::string& why) noexcept {
        const bool was_up = up.exchange(false);
        {
            std::lock_guard lock(mutex);
            lost = true;
        }
        wake.notify_all();
        if (was_up) {
            ++connection_losses;
            log(why);
            notify_connection(false);
        }
    }

    void forget_delivery(std::uint64_t id) noexcept {
        std::unique_ptr<delivery_listener> doomed;
        {
            std::lock_guard lock(deliveries_mutex);
            auto it = deliveries.find(id);
            if (it == deliveries.end()) return;
            doomed = std::move(it->second);
            deliveries.erase(it);
        }
    }

    std::optional<outgoing_message> will_for_attempt() noexcept {
        if (!options.make_will) return options.will;
        std::optional<outgoing_message> will;
        guarded("make_will", [&] { will = options.make_will(); });
        return will;
    }

    ::mqtt::connect_options connect_options_for_attempt() {
        ::mqtt::connect_options opts;
        opts.set_mqtt_version(MQTTVERSION_3_1_1);
        opts.set_clean_session(options.clean_session);
        opts.set_keep_alive_interval(options.keep_alive);
        opts.set_connect_timeout(options.connect_timeout);
        opts.set_automatic_reconnect(false);  // we run our own loop, with jitter
        if (options.username) opts.set_user_name(*options.username);
        if (options.password) opts.set_password(*options.password);
        if (options.tls) {
            ::mqtt::ssl_options ssl;
            if (!options.tls->ca_file.empty()) ssl.set_trust_store(options.tls->ca_file);
            if (!options.tls->cert_file.empty()) ssl.set_key_store(options.tls->cert_file);
            if (!options.tls->key_file.empty()) ssl.set_private_key(options.tls->key_file);
            ssl.set_enable_server_cert_auth(true);
            ssl.set_verify(options.tls->verify_hostname);
            opts.set_ssl(std::move(ssl));
        }
        if (auto will = will_for_attempt()) {
            opts.set_will(::mqtt::will_options(will->topic, will->payload.data(),
                                               will->payload.size(), will->qos, will->retain));
        }
        return opts;
    }

    /// One connect attempt: CONNECT, restore subscriptions, publish the birth. Reconnect thread.
    bool try_connect() {
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(options.connect_timeout) +
            token_grace;
        try {
            auto opts = connect_options_for_attempt();
            {
                std::lock_guard lock(mutex);
                lost = false;
            }
            if (!client->connect(opts)->wait_for(wait)) {
                log("connect to " + options.server_uri + " timed out");
                return false;
            }
            if (disable_nagle_towards(options.server_uri) == 0)
                log("TCP_NODELAY not set: no socket to " + options.server_uri +
                    " found (messages may wait up to 40 ms for TCP acks)");
            std::vector<subscription> subs;
            {
                std::lock_guard lock(mutex);
                subs = subscriptions;
            }
            for (const auto& sub : subs) {
                if (!client->subscribe(sub.filter, sub.qos)->wait_for(wait)) {
                    throw std::runtime_error("subscribe " + sub.filter + " timed out");
                }
            }
            std::optional<outgoing_message> birth;
            if (options.make_birth) guarded("make_birth", [&] { birth = options.make_birth(); });
            if (birth) {
                auto msg = ::mqtt::make_message(birth->topic, birth->payload.data(),
                                                birth->payload.size(), birth->qos, birth->retain);
                if (!client->publish(msg)->wait_for(wait))
                    throw std::runtime_error("birth publish timed out");
            }
            std::vector<subscription> added_meanwhile;
            // Never call into Paho while holding `mutex`: Paho's receive thread holds Paho's own
            // lock when it calls message_arrived(), which takes `mutex` (a lock-order inversion
            // that hung a gateway whose registry sync arrived right after its birth).
            const bool still_connected = client->is_connected();
            {
                std::lock_guard lock(mutex);
                if (lost || !still_connected)
                    throw std::runtime_error("connection lost while setting up");
                up = true;
                // subscribe() calls that raced with this setup saw `up == false` and left
                // the sending to us.
                added_meanwhile.assign(
                    subscriptions.begin() + static_cast<std::ptrdiff_t>(subs.size()),
                    subscriptions.end());
            }
            for (const auto& sub : added_meanwhile) client->subscribe(sub.filter, sub.qos);
            ++connects;
            up_cv.notify_all();
            log("connected to " + options.server_uri);
            notify_connection(true);
            return true;
        } catch (const std::exception& e) {
            log("connect to " + options.server_uri + " failed: " + e.what());
        }
        try {
            if (client->is_connected())
                client->disconnect(disconnect_timeout)->wait_for(disconnect_timeout + token_grace);
        } catch (const std::exception&) {
            // Already gone: nothing to close.
        }
        return false;
    }

    std::chrono::milliseconds jittered(std::chrono::milliseconds delay) {
        std::uniform_real_distribution<double> factor(0.5, 1.0);
        return std::chrono::milliseconds(
            static_cast<std::int64_t>(static_cast<double>(delay.count()) * factor(rng)));
    }

    /// The reconnect thread: connect, then sleep until the link is lost or we stop.
    void run() noexcept {
        auto delay = options.reconnect_min;
        for (;;) {
            {
                std::lock_guard lock(mutex);
                if (stopping) return;
            }
            if (!up) {
                if (try_connect()) {
                    delay = options.reconnect_min;
                } else {
                    ++failed_attempts;
                    const auto pause = jittered(delay);
                    delay = std::min(delay * 2, options.reconnect_max);
                    std::unique_lock lock(mutex);
                    wake.wait_for(lock, pause, [this] { return stopping; });
                    continue;
                }
            }
            std::unique_lock lock(mutex);
            wake.wait_for(lock, link_check_interval, [this] { return stopping || lost; });
            if (stopping) return;
            lock.unlock();
            bool connected_now = false;
            try {
                connected_now = client->is_connected();
            } catch (...) {
                connected_now = false;
            }
            if (!connected_now) mark_down("connection lost (detected by link check)");
        }
    }

    session_options options;
    mutable std::mutex mutex;
    std::condition_variable wake;
    mutable std::condition_variable up_cv;
    message_callback message_handler;
    connection_callback connection_handler;
    std::vector<subscription> subscriptions;
    bool lost = false;
    bool stopping = false;
    bool started = false;
    std::atomic<bool> up{false};

    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> connection_losses{0};
    std::atomic<std::uint64_t> failed_attempts{0};
    std::atomic<std::uint64_t> callback_errors{0};
    std::atomic<std::uint64_t> messages_received{0};
    std::atomic<std::uint64_t> publish_failures{0};

    std::mutex deliveries_mutex;
    std::map<std::uint64_t, std::unique_ptr<delivery_listener>> deliveries;
    std::uint64_t next_delivery_id = 0;

    std::mt19937_64 rng{std::random_device{}()};
    std::thread worker;
    std::unique_ptr<::mqtt::async_client> client;
};

result<std::unique_ptr<session>> session::create(session_options options) {
    if (!valid_uri(options.server_uri)) {
        return fail(
            errc::bad_field, "server_uri",
            "expected tcp://host:port or ssl://host:port, got '" + options.server_uri + "'");
    }
    if (options.client_id.empty() || options.client_id.size() > max_client_id_length) {
        return fail(errc::bad_field, "client_id", "must be 1..65535 bytes");
    }
    if (!options.log) {
        return fail(errc::bad_field, "log",
                    "is required: pass eqm::log_sink(level, component) from eqm/runtime/log.hpp");
    }
    if (options.reconnect_min.count() <= 0 || options.reconnect_max < options.reconnect_min) {
        return fail(errc::bad_field, "reconnect_min", "need 0 < reconnect_min <= reconnect_max");
    }
    for (const auto& sub : options.subscriptions) {
        if (sub.filter.empty() || sub.qos < 0 || sub.qos > max_qos) {
            return fail(errc::bad_field, "subscriptions",
                        "bad filter or qos for '" + sub.filter + "'");
        }
    }
    auto s = std::make_unique<state>(std::move(options));
    try {
        // No Paho persistence: durability lives in the caller's SQLite outbox.
        s->client = std::make_unique<::mqtt::async_client>(s->options.server_uri,
                                                           s->options.client_id, nullptr);
        s->client->set_callback(*s);
    } catch (const std::exception& e) {
        return fail(errc::bad_field, "server_uri",
                    std::string("paho refused the client: ") + e.what());
    }
    return std::unique_ptr<session>(new session(std::move(s)));
}

namespace {
bool client_connected(const session::state& s) noexcept {
    try {
        return s.client && s.client->is_connected();
    } catch (...) {
        return false;
    }
}
}  // namespace

session::session(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

session::~session() = default;

void session::on_message(message_callback handler) {
    std::lock_guard lock(state_->mutex);
    state_->message_handler = std::move(handler);
}

void session::on_connection(connection_callback handler) {
    std::lock_guard lock(state_->mutex);
    state_->connection_handler = std::move(handler);
}

void session::start() {
    {
        std::lock_guard lock(state_->mutex);
        if (state_->started) return;
        state_->started = true;
    }
    state_->worker = std::thread([s = state_.get()] { s->run(); });
}

bool session::wait_connected(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(state_->mutex);
    return state_->up_cv.wait_for(lock, timeout, [this] { return state_->up.load(); });
}

bool session::connected() const noexcept {
    return state_->up.load();
}

result<void> session::publish(std::string_view topic, std::string_view payload, int qos,
                              bool retain, delivery_callback on_delivered) {
    if (topic.empty() || topic.find_first_of("+#") != std::string_view::npos) {
        ++state_->publish_failures;
        return fail(errc::bad_field, "topic",
                    "must be non-empty and without wildcards: '" + std::string(topic) + "'");
    }
    if (qos < 0 || qos > max_qos) {
        ++state_->publish_failures;
        return fail(errc::bad_field, "qos", "must be 0, 1 or 2");
    }
    // `up` turns true only once subscriptions and the birth are restored, but a message that the
    // broker delivers during that setup may be answered already (an ack, a command result).
    if (!state_->up && !client_connected(*state_)) {
        ++state_->publish_failures;
        return fail(errc::unavailable, "", "not connected to " + state_->options.server_uri);
    }
    std::uint64_t id = 0;
    try {
        auto msg =
            ::mqtt::make_message(std::string(topic), payload.data(), payload.size(), qos, retain);
        if (on_delivered) {
            state::delivery_listener* listener = nullptr;
            {
                std::lock_guard lock(state_->deliveries_mutex);
                id = ++state_->next_delivery_id;
                auto owned = std::make_unique<state::delivery_listener>();
                owned->owner = state_.get();
                owned->id = id;
                owned->callback = std::move(on_delivered);
                listener = owned.get();
                state_->deliveries.emplace(id, std::move(owned));
            }
            state_->client->publish(msg, nullptr, *listener);
        } else {
            state_->client->publish(msg);
        }
    } catch (const std::exception& e) {
        if (id != 0) state_->forget_delivery(id);
        ++state_->publish_failures;
        return fail(errc::unavailable, "",
                    std::string("publish to ") + std::string(topic) + " failed: " + e.what());
    }
    return {};
}

result<void> session::subscribe(subscription sub) {
    if (sub.filter.empty() || sub.qos < 0 || sub.qos > max_qos) {
        return fail(errc::bad_field, "subscription", "bad filter or qos for '" + sub.filter + "'");
    }
    {
        std::lock_guard lock(state_->mutex);
        state_->subscriptions.push_back(sub);
    }
    if (!state_->up) return {};  // sent on the next connect
    try {
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(state_->options.connect_timeout) +
            token_grace;
        if (!state_->client->subscribe(sub.filter, sub.qos)->wait_for(wait)) {
            return fail(errc::unavailable, "",
                        "subscribe " + sub.filter + " timed out (restored on reconnect)");
        }
    } catch (const std::exception& e) {
        return fail(errc::unavailable, "",
                    "subscribe " + sub.filter + " failed (restored on reconnect): " + e.what());
    }
    return {};
}

session_stats session::stats() const {
    return session_stats{
        .connects = state_->connects,
        .connection_losses = state_->connection_losses,
        .failed_attempts = state_->failed_attempts,
        .callback_errors = state_->callback_errors,
        .messages_received = state_->messages_received,
        .publish_failures = state_->publish_failures,
    };
}

const std::string& session::client_id() const noexcept {
    return state_->options.client_id;
}

}  // namespace eqm::mqtt
