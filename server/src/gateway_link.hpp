#pragma once
/// The dispatcher's side of the central broker. It takes in every city's gw/state and
/// gw/events (on its own ingest thread, never on Paho's), applies the batches waiting in its
/// queue as one round (one transaction) through the region_store and acks them after the commit,
/// asks for a resend on a seq gap, quarantines (and acks) a batch it cannot read, refuses what a
/// gateway may not say (another city's gw_id, devices, commands or alerts), keeps commands to
/// gateways in the durable outbox until their command_result, resends them after a gateway's
/// birth and periodically while it is online, and pushes the registry to gateways in parts.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "eqm/domain/payloads.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/ws_hub.hpp"
#include "eqm/mqtt/message_queue.hpp"
#include "eqm/mqtt/session.hpp"
#include "eqm/runtime/clock.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// How long a gateway has to answer a command an HTTP client waits for.
inline constexpr std::chrono::milliseconds default_gateway_timeout{3000};
/// Incoming messages waiting for the ingest thread; beyond either bound a new message is refused
/// (never waited for: see message_queue.hpp), counted, and its gateway sends it again.
inline constexpr std::size_t ingest_queue_limit = 10'000;
inline constexpr std::size_t ingest_queue_bytes = std::size_t{256} << 20;
/// gw/state messages waiting (births and wills: a few per gateway, never sent again).
inline constexpr std::size_t state_queue_limit = 10'000;
inline constexpr std::size_t state_queue_bytes = std::size_t{16} << 20;
/// One round takes at most this many messages, or this many payload bytes, from the queue; its
/// batches are committed together (a round keeps the store's lock, so it stays short).
inline constexpr std::size_t max_round_messages = 1000;
inline constexpr std::size_t max_round_bytes = std::size_t{8} << 20;
/// A resend request for the same seq is repeated at most this often.
inline constexpr std::chrono::milliseconds resend_request_interval{1000};
/// One part of a full registry sync stays under this size (the contract allows 256 KiB).
inline constexpr std::size_t registry_part_bytes = 128 * 1024;
/// Commands waiting for their result are published again this often while their gateway is up.
inline constexpr std::chrono::milliseconds default_command_resend_interval{30'000};
/// Dead letters are deleted once they were last seen this long ago, or beyond this many rows.
inline constexpr std::chrono::milliseconds default_dead_letter_retention{std::chrono::days{30}};
inline constexpr std::uint64_t default_dead_letter_max_rows = 10'000;

/// What a gateway_link is configured with.
struct gateway_link_options {
    mqtt::queue_limits queue{ingest_queue_limit, ingest_queue_bytes};
    std::chrono::milliseconds command_resend_interval = default_command_resend_interval;
    std::chrono::milliseconds dead_letter_retention = default_dead_letter_retention;
    std::uint64_t dead_letter_max_rows = default_dead_letter_max_rows;
    /// This server's version ("0.1.0"; empty: the version it was built as). A batch from a
    /// gateway of the same major version may carry members this version does not know: they are
    /// ignored (and logged once per gateway and member) instead of refusing the batch.
    std::string version;
};

/// Counters for /metrics.
struct ingest_stats {
    std::uint64_t batches = 0;  ///< gw/events batches applied
    std::uint64_t events_applied = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t gaps = 0;
    std::uint64_t resend_requests = 0;  ///< srv/acks with resend_from (gaps and refusals)
    std::uint64_t rounds = 0;           ///< transactions, each applying one or more batches
    std::uint64_t dead_letters = 0;     ///< every message written to (or counted in) dead letters
    std::uint64_t malformed = 0;        ///< not readable, not acked
    std::uint64_t quarantined = 0;      ///< unreadable batches kept and acked
    std::uint64_t refused_batches = 0;  ///< batches whose gw_id is not their city's gateway
    std::uint64_t refused_events = 0;   ///< events about another city's devices, commands, ...
    std::uint64_t refused_births = 0;   ///< births claiming another city's gw_id
    std::uint64_t lenient_batches = 0;  ///< batches read with members of a newer minor version
    std::uint64_t acks_sent = 0;
    std::uint64_t commands_sent = 0;
    std::uint64_t commands_resent = 0;  ///< by the periodic resend
    std::uint64_t custody_requests_abandoned = 0;
    std::uint64_t dead_letters_pruned = 0;
    std::uint64_t store_errors = 0;
};

/// The answer to a command somebody waits for: the gateway's result, or errc::unavailable.
using command_callback = std::function<void(result<command_result_body>)>;

class gateway_link {
  public:
    gateway_link(region_store& store, http::ws_hub& hub, clock_fn clock,
                 gateway_link_options options = {});
    ~gateway_link();
    gateway_link(const gateway_link&) = delete;
    gateway_link& operator=(const gateway_link&) = delete;

    /// Abandons custody requests a previous run left in the outbox (nobody waits for them any
    /// more), connects to the central broker (subscribing to every city's gw/state and
    /// gw/events) and starts the ingest thread.
    result<void> start(mqtt::session_options options);
    /// Stops the ingest thread and disconnects; the requests still waited for are answered
    /// errc::unavailable and taken out of the outbox. Idempotent.
    void stop();

    /// Puts a command in the durable outbox and publishes it (again after the gateway's next
    /// birth and periodically, until its command_result arrives). Returns the cmd_id.
    result<std::string> send_command(std::string_view city, srv_cmd_body body);

    /// Sends a command somebody waits for: `done` gets the command_result, or errc::unavailable
    /// when the gateway goes offline or does not answer within `timeout` (then the command is
    /// taken out of the outbox, so it cannot run later by surprise; a custody request also
    /// carries `expires_at`, after which the gateway refuses it). `done` runs on the ingest
    /// thread.
    void request(std::string_view city, srv_cmd_body body, std::chrono::milliseconds timeout,
                 command_callback done);

    /// Sends the registry of `city` to its gateway: every device and every person allowed there,
    /// in parts of one sync when it is too large for one message; it supersedes the pending
    /// parts of an older full sync.
    result<void> sync_registry(std::string_view city);

    /// Applies one message as if it came from the broker (public for benchmarks that feed
    /// batches without a broker).
    void handle_message(const std::string& topic, const std::string& payload);
    /// Applies messages as one round, as the ingest thread does with what waits in its queue:
    /// the batches in one transaction, in order, then one srv/ack per city.
    void handle_messages(std::vector<mqtt::inbound_message> messages);

    /// Called on the ingest thread after each committed batch, after the link's own broadcasts
    /// and command results. Add observers before start().
    void on_commit(std::function<void(const batch_outcome&)> observer);
    /// Called on the ingest thread between rounds. Add observers before start().
    void on_housekeeping(std::function<void()> observer);

    bool connected() const noexcept;
    ingest_stats stats() const;
    void write_metrics(http::prometheus_writer& out) const;

  private:
    struct waiter {
        std::string city;
        std::chrono::steady_clock::time_point deadline;
        command_callback done;
    };
    /// The gateway a city's birth named (its batches must carry this gw_id) and its version.
    struct city_gateway {
        std::string gw_id;
        std::string version;
    };
    /// Why a gw/events message did not join the round.
    struct unread_batch {
        dead_letter_kind kind = dead_letter_kind::malformed;
        std::string reason;
    };

    void run();
    /// What the ingest thread does between rounds: answers timed-out requests, resends
    /// commands, prunes dead letters, notices registry changes made by another process.
    void housekeeping();
    /// Another process wrote to the store (`eqm-server user add`): the people allowed in each
    /// city may have changed, so every online gateway gets a full registry sync.
    void sync_after_external_change();
    /// After (re)connecting: publishes acks that could not be sent and every pending command of
    /// the gateways that are online (messages taken in before the session was up could not be
    /// answered then).
    void flush_after_connect();
    void resend_due_commands();
    void prune_dead_letters();
    void load_city_gateways();

    void take(mqtt::inbound_message& m, std::vector<batch_input>& round);
    std::expected<batch_input, unread_batch> read_batch(const std::string& city,
                                                        const std::string& payload);
    void reject_batch(const std::string& city, const std::string& payload, unread_batch why);
    void quarantine(const std::string& city, const std::string& payload, const std::string& reason,
                    const gw_events_range& range);
    void apply_round(std::vector<batch_input>& round);
    /// The queue refused messages of these cities and has room again: their gateways are asked
    /// to resend from their first unapplied seq now rather than after their own timeout.
    void ask_refused_to_resend();
    /// Whether a resend from `seq` may be asked of `gw_id` now (at most once a second per seq);
    /// notes the request when it may.
    bool may_ask_resend(const std::string& gw_id, std::uint64_t seq);
    /// Counts (and logs) what a committed batch did.
    void count_batch(const batch_input& in, const batch_outcome& out);
    void flush_unsent_acks();
    void send_ack(const std::string& city, const srv_ack& ack);
    void after_commit(const batch_outcome& out);
    bool lenient_for(const std::string& city) const;

    void on_gateway_state(const std::string& city, const std::string& payload);
    void on_birth(const std::string& city, const gw_state& s);
    void record(dead_letter d);
    bool publish(std::string_view topic, std::string_view payload);
    void publish_command(const outbox_entry& e);
    void resolve(const command_result_body& r);
    void expire_waiters();
    void fail_waiters_of(std::string_view city, std::string_view why);
    void abandon_custody_requests(std::string_view reason);
    /// Sends each device of `ids` (read in one query) to the WebSocket feed.
    void broadcast_devices(const std::vector<std::string>& ids);
    void broadcast_alert(const alert_view& a);
    void broadcast_gateway(const std::string& city);
    result<outbox_entry> make_command(std::string_view city, srv_cmd_body body);
    void count(std::uint64_t ingest_stats::*counter, std::uint64_t n = 1);

    region_store& store_;
    http::ws_hub& hub_;
    clock_fn clock_;
    gateway_link_options options_;
    std::unique_ptr<mqtt::session> session_;
    /// A message with its place in the order of arrival (across both queues).
    struct arrival {
        std::uint64_t n = 0;
        mqtt::inbound_message message;
    };
    using arrival_queue = mqtt::bounded_queue<arrival>;
    arrival_queue queue_;   ///< gw/events
    arrival_queue states_;  ///< gw/state
    std::atomic<std::uint64_t> arrivals_{0};
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    /// Set by Paho's thread when the session comes up; never a queue item, so a full queue
    /// cannot refuse it.
    std::atomic<bool> reconnected_{false};

    mutable std::mutex mutex_;  // guards stats_, waiters_, resend_asked_, refused_cities_
    ingest_stats stats_;
    /// Cities whose gw/events the full queue refused since the queue last ran empty.
    std::set<std::string, std::less<>> refused_cities_;
    std::map<std::string, waiter, std::less<>> waiters_;
    std::map<std::string, std::pair<std::uint64_t, std::chrono::steady_clock::time_point>,
             std::less<>>
        resend_asked_;

    // Ingest thread only (and the constructor).
    std::map<std::string, city_gateway, std::less<>> city_gateways_;
    /// The applied seq of each gateway, by gw_id, as the last commit left it.
    std::map<std::string, std::uint64_t, std::less<>> applied_;
    /// srv/ack payloads by topic that could not be published yet (retried every loop).
    std::map<std::string, std::string, std::less<>> unsent_acks_;
    /// "gw_id member" pairs already logged as ignored.
    std::set<std::string, std::less<>> logged_unknown_;
    std::optional<std::int64_t> external_version_;  ///< last PRAGMA data_version seen
    std::chrono::steady_clock::time_point next_external_check_{};
    std::chrono::steady_clock::time_point next_resend_check_{};
    std::chrono::steady_clock::time_point next_prune_{};
    std::vector<std::function<void(const batch_outcome&)>> commit_observers_;
    std::vector<std::function<void()>> housekeeping_observers_;
};

}  // namespace eqm::server
