#pragma once
/// The durable outbox to the server and the pump that empties it.
///
/// - append() adds an event inside the caller's transaction; `seq` comes from an AUTOINCREMENT
///   key, so it strictly increases and is never reused, across restarts too.
/// - tick() publishes batches to eqm/v1/city/{city}/gw/events: at most 1000 events, sent as soon
///   as 1000 are waiting or the oldest waiting one is 50 ms old. A batch never spans a hole left
///   by the bound policy; holes below a batch are announced in its `skipped`.
/// - An event stays until srv/ack's upto_seq covers it. After a reconnect, on resend_from, and
///   when no ack progress was seen for `outbox_retransmit`, sending restarts from the first
///   unacknowledged event, in order.
/// - Bound: above outbox_max_bytes, or older than outbox_max_age, telemetry summaries are
///   dropped oldest-first (counted, and announced as skipped ranges). Custody events, command
///   results, alerts and device states are never dropped.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "city_ledger.hpp"
#include "eqm/domain/payloads.hpp"
#include "gateway_config.hpp"
#include "gateway_metrics.hpp"

namespace eqm::gateway {

/// Publishes one batch; false when the broker connection is down.
using batch_publisher = std::function<bool(const std::string& topic, const std::string& payload)>;

inline constexpr std::size_t max_batch_events = 1000;
inline constexpr std::chrono::milliseconds max_batch_wait{50};
/// A batch stays under the contract's 4 MiB limit for gw_events with room for the envelope.
inline constexpr std::size_t max_batch_bytes = 3 * 1024 * 1024;
/// Unacknowledged events in flight before the pump waits for acks.
inline constexpr std::uint64_t max_in_flight_events = 20 * max_batch_events;

class outbox_pump {
  public:
    outbox_pump(city_ledger& ledger, const gateway_config& config, gateway_metrics& metrics,
                batch_publisher publish);

    /// Reads the acked seq, depth and bytes (at start, and after a rolled-back transaction).
    result<void> reload();

    /// Appends an event (inside the caller's transaction). `body` is compact JSON.
    result<std::uint64_t> append(gw_event_kind kind, clock_ms ts, std::string_view body);

    /// The caller's transaction committed: appended events may be sent.
    void committed();

    /// srv/ack: deletes what it covers (inside the caller's transaction) and handles
    /// resend_from.
    result<void> on_ack(const srv_ack& ack);

    /// The central connection came up (true) or went down.
    void on_connection(bool up);

    /// Sends what is due; enforces the bound about once a second. `bd_seq` is the gateway's
    /// current birth sequence (sent in every batch).
    void tick(clock_ms now, std::uint64_t bd_seq);

    /// Time until tick() has something to do (for the core's wait).
    std::chrono::milliseconds idle_for() const;

    std::uint64_t acked_upto() const noexcept { return acked_upto_; }
    std::uint64_t last_seq() const noexcept { return last_seq_; }

  private:
    void send_batches(clock_ms now, std::uint64_t bd_seq);
    result<void> enforce_bound(clock_ms now);
    void sync_metrics();

    city_ledger& ledger_;
    const gateway_config& config_;
    gateway_metrics& metrics_;
    batch_publisher publish_;
    std::string topic_;

    std::uint64_t acked_upto_ = 0;
    std::uint64_t last_seq_ = 0;      ///< committed
    std::uint64_t pending_last_ = 0;  ///< appended in the open transaction
    std::uint64_t next_to_send_ = 1;
    std::uint64_t depth_ = 0, bytes_ = 0;
    std::uint64_t pending_depth_ = 0, pending_bytes_ = 0;
    bool connected_ = false;
    /// A command_result is in the open transaction / committed and unsent: the server is
    /// waiting on it (a check-out through the API), so it goes out without the batching wait.
    bool pending_urgent_ = false;
    bool urgent_ = false;
    using steady = std::chrono::steady_clock;
    std::optional<steady::time_point> waiting_since_;   ///< oldest unsent committed event
    steady::time_point last_progress_ = steady::now();  ///< last ack progress or (re)start
    steady::time_point last_bound_check_{};
};

}  // namespace eqm::gateway
