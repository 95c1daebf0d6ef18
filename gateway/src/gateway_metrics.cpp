#include "gateway_metrics.hpp"

#include "eqm/http/metrics.hpp"

namespace eqm::gateway {

void gateway_metrics::write(http::prometheus_writer& out) const {
    auto d = [](std::uint64_t v) { return static_cast<double>(v); };
    auto processed = messages_processed;
    processed["device_telemetry"] += telemetry_processed;
    for (const auto& [kind, n] : processed)
        out.counter("eqm_gateway_messages_processed_total", "MQTT messages handled, by topic kind",
                    d(n), {{"kind", kind}});
    for (const auto& [reason, n] : messages_rejected)
        out.counter("eqm_gateway_messages_rejected_total",
                    "MQTT messages refused as bad input, by reason", d(n), {{"reason", reason}});
    if (messages_rejected.empty())
        out.counter("eqm_gateway_messages_rejected_total",
                    "MQTT messages refused as bad input, by reason", 0);
    auto refused = telemetry_refused;
    refused.try_emplace("ts_ahead", 0);
    refused.try_emplace("ts_behind", 0);
    for (const auto& [reason, n] : refused)
        out.counter("eqm_gateway_telemetry_refused_total",
                    "Telemetry refused for a ts too far from the gateway's clock, by reason", d(n),
                    {{"reason", reason}});
    out.counter("eqm_gateway_telemetry_out_of_order_total",
                "Readings older (by seq) than the device's latest in its session",
                d(telemetry_out_of_order));
    for (const auto& [kind, n] : malformed_payloads)
        out.counter("eqm_gateway_malformed_payloads_total", "Malformed payloads, by topic kind",
                    d(n), {{"kind", kind}});
    if (malformed_payloads.empty())
        out.counter("eqm_gateway_malformed_payloads_total", "Malformed payloads, by topic kind", 0);
    for (const auto& [key, n] : decisions)
        out.counter("eqm_gateway_custody_decisions_total",
                    "Custody decisions, by action and result", d(n),
                    {{"action", key.first}, {"result", key.second}});
    for (const auto& [key, n] : commands)
        out.counter("eqm_gateway_commands_total", "Server commands, by type and result", d(n),
                    {{"type", key.first}, {"result", key.second}});
    out.counter("eqm_gateway_replays_total", "Events and commands answered again from the ledger",
                d(replays));
    out.counter("eqm_gateway_commits_total", "Group-commit transactions committed", d(commits));
    out.counter("eqm_gateway_commit_failures_total", "Transactions that could not be committed",
                d(commit_failures));
    out.counter("eqm_gateway_telemetry_flush_failures_total",
                "Telemetry flushes that could not be written", d(telemetry_flush_failures));
    out.counter("eqm_gateway_acks_published_total", "Application acks sent to devices and docks",
                d(acks_published));
    out.counter("eqm_gateway_ack_publish_failures_total", "Acks that could not be published",
                d(ack_publish_failures));
    out.counter("eqm_gateway_outbox_events_sent_total", "Outbox events published (with resends)",
                d(outbox_events_sent));
    out.counter("eqm_gateway_outbox_batches_sent_total", "Outbox batches published",
                d(outbox_batches_sent));
    out.counter("eqm_gateway_outbox_retransmits_total",
                "Times sending restarted from the first unacknowledged event",
                d(outbox_retransmits));
    out.counter("eqm_gateway_outbox_dropped_total",
                "Telemetry summaries dropped by the outbox bound policy", d(outbox_dropped));
    out.gauge("eqm_gateway_outbox_depth", "Unacknowledged outbox events", d(outbox_depth));
    out.gauge("eqm_gateway_outbox_bytes", "Bytes of unacknowledged outbox events", d(outbox_bytes));
    out.gauge("eqm_gateway_outbox_last_seq", "Highest outbox seq handed out", d(outbox_last_seq));
    out.gauge("eqm_gateway_outbox_acked_seq", "Highest seq the server acknowledged",
              d(outbox_acked_seq));
    out.counter("eqm_gateway_alerts_raised_total", "Alerts raised", d(alerts_raised));
    out.counter("eqm_gateway_alerts_cleared_total", "Alerts cleared", d(alerts_cleared));
    out.gauge("eqm_gateway_alerts_active", "Alerts active now", d(alerts_active));
    constexpr std::array<const char*, 3> lanes{"tasks", "events", "telemetry"};
    for (std::size_t i = 0; i < lanes.size(); ++i)
        out.gauge("eqm_gateway_queue_depth", "Work items waiting for the core thread, by lane",
                  d(queue_depths[i]), {{"lane", lanes[i]}});
    for (std::size_t k = 0; k < work_kind_count; ++k)
        out.counter("eqm_gateway_queue_refused_total",
                    "Items the core's queue refused because their lane was full, by kind (a "
                    "refused QoS 1 event is sent again by its sender)",
                    d(queue_refused[k]),
                    {{"kind", std::string(to_string(static_cast<work_kind>(k)))}});
    out.gauge("eqm_gateway_mqtt_connected", "1 when the broker connection is up",
              local_connected ? 1 : 0, {{"broker", "local"}});
    out.gauge("eqm_gateway_mqtt_connected", "1 when the broker connection is up",
              central_connected ? 1 : 0, {{"broker", "central"}});
}

}  // namespace eqm::gateway
