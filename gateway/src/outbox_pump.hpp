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
#include "gateway_clock.hpp"
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
    /// `ticks` times batching, retransmits and the bound checks.
    outbox_pump(city_ledger& ledger, const gateway_config& config, gateway_metrics& metrics,
                ticks_fn ticks, batch_publisher publish);

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
    /// Whether a batch should go out now (full, old enough, urgent, and room in flight).
    bool batch_due() const;
    /// How many of `rows` (from next_to_send_) make one batch: contiguous seqs, bounded bytes.
    static std::size_t batch_length(const std::vector<outbox_row>& rows);
    /// The `skipped` member for a batch starting at `first` ("" when none), or an error.
    result<std::string> skipped_below(std::uint64_t first);
    std::string batch_payload(const std::vector<outbox_row>& rows, std::size_t n,
                              const std::string& skipped, clock_ms now, std::uint64_t bd_seq) const;
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
    ticks_fn ticks_;
    std::optional<steady_time> waiting_since_;  ///< oldest unsent committed event
    steady_time last_progress_;                 ///< last ack progress or (re)start
    interval_timer bound_timer_;
};

}  // namespace eqm::gateway
