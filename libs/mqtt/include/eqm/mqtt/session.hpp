#pragma once
/// One MQTT connection that stays up: eqm::mqtt::session wraps Paho's mqtt::async_client,
/// reconnects with exponential backoff and jitter, restores subscriptions and publishes a
/// birth message on every (re)connect, and turns every Paho failure into an eqm::result.
///
/// THREADING. on_message, on_connection, make_will, make_birth, log and publish
/// completion callbacks run on Paho's callback thread or on the session's reconnect
/// thread, never on yours. Do nothing slow there: copy the data and hand it to your own
/// executor (eqm::mqtt::message_queue is made for that). Every exception a callback throws
/// is caught at this boundary, logged and counted (session_stats::callback_errors); none
/// reaches Paho.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"

namespace eqm::mqtt {

/// A message the session sends on the caller's behalf (Last Will, birth).
struct outgoing_message {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
};

/// TLS settings; empty paths are not used.
struct tls_options {
    /// CA certificate(s) (PEM) the broker's certificate must chain to.
    std::string ca_file;
    /// Client certificate and key (PEM) for mutual TLS.
    std::string cert_file;
    std::string key_file;
    /// Check that the broker's certificate names the host we connect to.
    bool verify_hostname = true;
};

/// A subscription kept across reconnects.
struct subscription {
    std::string filter;
    int qos = 1;
};

/// Default bounds of the reconnect backoff.
inline constexpr std::chrono::milliseconds default_reconnect_min{250};
inline constexpr std::chrono::milliseconds default_reconnect_max{30000};

/// Everything a session needs to know before it connects.
struct session_options {
    /// "tcp://host:1883" or "ssl://host:8883".
    std::string server_uri;
    /// Unique per broker; a persistent session (clean_session = false) needs a stable one.
    std::string client_id;
    std::optional<std::string> username;
    std::optional<std::string> password;
    std::optional<tls_options> tls;
    std::chrono::seconds keep_alive{30};
    /// How long one connect attempt may take.
    std::chrono::seconds connect_timeout{5};
    /// true: a fresh session on every connect. false: the broker keeps subscriptions and
    /// queued QoS 1 messages for this client_id while it is away.
    bool clean_session = true;
    /// Last Will, fixed for the whole life of the session...
    std::optional<outgoing_message> will;
    /// ...or computed before every connect attempt (it is sent in CONNECT, so a will that
    /// carries bd_seq must be made here). When set, it replaces `will`.
    std::function<std::optional<outgoing_message>()> make_will;
    /// Called after every successful (re)connect, once subscriptions are restored; the
    /// message it returns is published. This is where a caller bumps or reuses bd_seq.
    std::function<std::optional<outgoing_message>()> make_birth;
    /// Subscribed on every (re)connect.
    std::vector<subscription> subscriptions;
    /// Reconnect delay: starts at `reconnect_min`, doubles per failed attempt up to
    /// `reconnect_max`; each delay is randomised to 50..100 % so a fleet does not
    /// reconnect in lockstep after a broker restart.
    std::chrono::milliseconds reconnect_min = default_reconnect_min;
    std::chrono::milliseconds reconnect_max = default_reconnect_max;
    /// Where the session reports connects, losses and swallowed exceptions. Required, so every
    /// line goes through the program's one logger: pass `eqm::log_sink(level, component)` from
    /// eqm/runtime/log.hpp (a test may pass a lambda that drops the lines).
    std::function<void(std::string_view line)> log;
};

/// Counters for /metrics and for tests.
struct session_stats {
    std::uint64_t connects = 0;           ///< successful connects (first one included)
    std::uint64_t connection_losses = 0;  ///< connections lost after being up
    std::uint64_t failed_attempts = 0;    ///< connect attempts that failed
    std::uint64_t callback_errors = 0;    ///< exceptions caught from user callbacks
    std::uint64_t messages_received = 0;
    std::uint64_t publish_failures = 0;  ///< publish() calls refused or failed in Paho
};

/// Called once a QoS 1/2 publish is acknowledged by the broker (or fails). It may never be
/// called when the connection drops first: durability belongs to the caller's outbox.
using delivery_callback = std::function<void(result<void> outcome)>;
/// Called with each incoming message.
using message_callback = std::function<void(std::string topic, std::string payload)>;
/// Called with true when the session is up (after subscriptions and birth), false when lost.
using connection_callback = std::function<void(bool up)>;

/// A self-healing MQTT session. Construct, set callbacks, start(); the destructor
/// disconnects cleanly (so the broker does NOT send the Last Will) and joins its thread.
class session {
  public:
    /// Validates the options and creates the Paho client; does not connect yet.
    /// Fails with errc::bad_field (field "server_uri", "client_id", ...) on bad options.
    static result<std::unique_ptr<session>> create(session_options options);

    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Sets the incoming-message handler. Safe to call at any time.
    void on_message(message_callback handler);
    /// Sets the connection-state handler. Safe to call at any time.
    void on_connection(connection_callback handler);

    /// Starts connecting in the background (and keeps reconnecting until destruction).
    void start();

    /// Waits until the session is up (connected, subscribed, birth sent); false on timeout.
    bool wait_connected(std::chrono::milliseconds timeout) const;

    /// True while connected.
    bool connected() const noexcept;

    /// Publishes. Fails at once with errc::unavailable when not connected (nothing is
    /// buffered here: callers keep their own durable outbox), with errc::bad_field for a
    /// bad topic or QoS. `on_delivered` (QoS 1/2) runs when the broker acknowledges.
    result<void> publish(std::string_view topic, std::string_view payload, int qos = 1,
                         bool retain = false, delivery_callback on_delivered = {});

    /// Adds a subscription: remembered for reconnects, and sent now when connected.
    /// Fails with errc::unavailable when connected but the broker refuses it in time.
    result<void> subscribe(subscription sub);

    /// A snapshot of the counters.
    session_stats stats() const;

    /// The client id this session uses.
    const std::string& client_id() const noexcept;

    /// Implementation detail (shared with the Paho callback objects in session.cpp).
    struct state;

  private:
    explicit session(std::unique_ptr<state> s) noexcept;

    std::unique_ptr<state> state_;
};

}  // namespace eqm::mqtt
