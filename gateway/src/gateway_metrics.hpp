#pragma once
/// The gateway's counters. Owned and updated by the core thread only; /metrics is rendered on
/// the core thread too, so nothing here needs a lock.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "core_inbox.hpp"

namespace eqm::http {
class prometheus_writer;
}

namespace eqm::gateway {

struct gateway_metrics {
    /// Messages handled, by topic kind (device_telemetry, dock_event, srv_cmd, ...).
    std::map<std::string, std::uint64_t> messages_processed;
    /// device_telemetry messages, kept apart from the map: it is the hot path (QoS 0 flood).
    std::uint64_t telemetry_processed = 0;
    /// Telemetry refused because its ts is too far from the gateway's clock, by reason
    /// (ts_ahead, ts_behind).
    std::map<std::string, std::uint64_t> telemetry_refused;
    /// Readings taken into the minute aggregates but not as the latest values: a higher seq
    /// of the same session had already arrived.
    std::uint64_t telemetry_out_of_order = 0;
    /// Messages refused as bad input, by reason (bad_json, bad_field, unknown_field, too_large,
    /// unknown_topic).
    std::map<std::string, std::uint64_t> messages_rejected;
    /// Malformed payloads, by topic kind.
    std::map<std::string, std::uint64_t> malformed_payloads;
    /// Custody decisions, by (action, result) with result "ok" or the refusal reason.
    std::map<std::pair<std::string, std::string>, std::uint64_t> decisions;
    /// Server commands, by (type, result).
    std::map<std::pair<std::string, std::string>, std::uint64_t> commands;
    std::uint64_t replays = 0;          ///< events/commands answered from the processed table
    std::uint64_t commits = 0;          ///< group-commit transactions committed
    std::uint64_t commit_failures = 0;  ///< transactions that could not be committed
    std::uint64_t telemetry_flush_failures = 0;
    std::uint64_t acks_published = 0;
    std::uint64_t ack_publish_failures = 0;
    std::uint64_t outbox_events_sent = 0;  ///< events published (retransmits included)
    std::uint64_t outbox_batches_sent = 0;
    std::uint64_t outbox_retransmits = 0;  ///< times sending restarted from the first unacked
    std::uint64_t outbox_dropped = 0;      ///< telemetry summaries dropped by the bound policy
    std::uint64_t outbox_depth = 0;        ///< unacknowledged events (gauge)
    std::uint64_t outbox_bytes = 0;        ///< bytes of their bodies (gauge)
    std::uint64_t outbox_last_seq = 0;     ///< gauge
    std::uint64_t outbox_acked_seq = 0;    ///< gauge
    std::uint64_t alerts_raised = 0;
    std::uint64_t alerts_cleared = 0;
    std::uint64_t alerts_active = 0;  ///< gauge
    /// Gauges: items waiting for the core thread in each lane (tasks, events, telemetry).
    std::array<std::size_t, 3> queue_depths{};
    /// Items the core's queue refused, by work_kind (core_inbox.hpp).
    std::array<std::uint64_t, work_kind_count> queue_refused{};
    bool local_connected = false;
    bool central_connected = false;

    void count(std::map<std::string, std::uint64_t>& m, const std::string& key) { ++m[key]; }

    /// Writes everything in Prometheus text format with the `eqm_gateway_` prefix.
    void write(http::prometheus_writer& out) const;
};

}  // namespace eqm::gateway
