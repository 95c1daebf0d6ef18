#pragma once
/// The dispatcher's side of the central broker. It takes in every city's gw/state and
/// gw/events (on its own ingest thread, never on Paho's), applies batches through the
/// region_store, acks them after commit, asks for a resend on a seq gap, dead-letters what it
/// cannot read, keeps commands to gateways in the durable outbox until their command_result,
/// resends them after a gateway's birth, and pushes the registry to gateways.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "eqm/domain/payloads.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/ws_hub.hpp"
#include "eqm/mqtt/message_queue.hpp"
#include "eqm/mqtt/session.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// Where time comes from (tests and benches may pass their own).
using clock_fn = std::function<clock_ms()>;

/// The wall clock, in milliseconds.
clock_ms system_now();

/// How long a gateway has to answer a command an HTTP client waits for.
inline constexpr std::chrono::milliseconds default_gateway_timeout{3000};
/// Incoming messages waiting for the ingest thread; beyond either bound a new message is refused
/// (never waited for: see message_queue.hpp) and its gateway sends it again.
inline constexpr std::size_t ingest_queue_limit = 10'000;
inline constexpr std::size_t ingest_queue_bytes = std::size_t{256} << 20;
/// A resend request for the same seq is repeated at most this often.
inline constexpr std::chrono::milliseconds resend_request_interval{1000};

/// Counters for /metrics.
struct ingest_stats {
    std::uint64_t batches = 0;
    std::uint64_t events_applied = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t gaps = 0;
    std::uint64_t dead_letters = 0;
    std::uint64_t acks_sent = 0;
    std::uint64_t commands_sent = 0;
    std::uint64_t store_errors = 0;
};

/// The answer to a command somebody waits for: the gateway's result, or errc::unavailable.
using command_callback = std::function<void(result<command_result_body>)>;

class gateway_link {
  public:
    gateway_link(region_store& store, http::ws_hub& hub, clock_fn clock);
    ~gateway_link();
    gateway_link(const gateway_link&) = delete;
    gateway_link& operator=(const gateway_link&) = delete;

    /// Connects to the central broker (subscribing to every city's gw/state and gw/events)
    /// and starts the ingest thread.
    result<void> start(mqtt::session_options options);
    /// Stops the ingest thread and disconnects. Idempotent.
    void stop();

    /// Puts a command in the durable outbox and publishes it (again after the gateway's next
    /// birth, until its command_result arrives). Returns the cmd_id.
    result<std::string> send_command(std::string_view city, srv_cmd_body body);

    /// Sends a command somebody waits for: `done` gets the command_result, or errc::unavailable
    /// when the gateway goes offline or does not answer within `timeout` (then the command is
    /// taken out of the outbox, so it cannot run later by surprise). `done` runs on the ingest
    /// thread.
    void request(std::string_view city, srv_cmd_body body, std::chrono::milliseconds timeout,
                 command_callback done);

    /// Sends the registry of `city` to its gateway: every device and every person allowed there.
    result<void> sync_registry(std::string_view city);

    /// Applies one message as if it came from the broker (the ingest thread's work; public for
    /// benchmarks that feed batches without a broker).
    void handle_message(const std::string& topic, const std::string& payload);

    bool connected() const noexcept;
    ingest_stats stats() const;
    void write_metrics(http::prometheus_writer& out) const;

  private:
    struct waiter {
        std::string city;
        std::chrono::steady_clock::time_point deadline;
        command_callback done;
    };

    void run();
    /// Another process wrote to the store (`eqm-server user add`): the people allowed in each
    /// city may have changed, so every online gateway gets a full registry sync.
    void sync_after_external_change();
    /// After (re)connecting: publishes acks that could not be sent and every pending command of
    /// the gateways that are online (messages taken in before the session was up could not be
    /// answered then).
    void flush_after_connect();
    void on_gateway_state(const std::string& city, const std::string& payload);
    void on_gateway_events(const std::string& city, const std::string& payload);
    void dead_letter(std::string_view topic, std::string_view payload, std::string_view reason);
    bool publish(std::string_view topic, std::string_view payload);
    void publish_command(const outbox_entry& e);
    void resolve(const command_result_body& r);
    void expire_waiters();
    void fail_waiters_of(std::string_view city, std::string_view why);
    /// Sends each device of `ids` (read in one query) to the WebSocket feed.
    void broadcast_devices(const std::vector<std::string>& ids);
    void broadcast_alert(const alert_view& a);
    void broadcast_gateway(const std::string& city);
    result<outbox_entry> make_command(std::string_view city, srv_cmd_body body);
    void log(std::string_view line) const;

    region_store& store_;
    http::ws_hub& hub_;
    clock_fn clock_;
    std::unique_ptr<mqtt::session> session_;
    mqtt::message_queue queue_{mqtt::queue_limits{ingest_queue_limit, ingest_queue_bytes},
                               mqtt::overflow_policy::reject};
    std::thread thread_;
    std::atomic<bool> stopping_{false};

    mutable std::mutex mutex_;  // guards stats_, waiters_, resend_asked_
    ingest_stats stats_;
    std::map<std::string, waiter, std::less<>> waiters_;
    /// srv/ack payloads by topic that could not be published yet (ingest thread only).
    std::map<std::string, std::string, std::less<>> unsent_acks_;
    std::map<std::string, std::pair<std::uint64_t, std::chrono::steady_clock::time_point>,
             std::less<>>
        resend_asked_;
    std::optional<std::int64_t> external_version_;  ///< last PRAGMA data_version seen
    std::chrono::steady_clock::time_point next_external_check_{};
};

}  // namespace eqm::server
