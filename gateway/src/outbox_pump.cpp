#include "outbox_pump.hpp"

#include <algorithm>

#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {

constexpr std::string_view acked_key = "outbox_acked_upto";
constexpr std::chrono::milliseconds bound_check_interval{1000};
/// Rows looked at per bound-enforcement round.
constexpr std::size_t drop_scan_rows = 1000;

}  // namespace

outbox_pump::outbox_pump(city_ledger& ledger, const gateway_config& config,
                         gateway_metrics& metrics, ticks_fn ticks, batch_publisher publish)
    : ledger_(ledger),
      config_(config),
      metrics_(metrics),
      publish_(std::move(publish)),
      topic_(format_topic({topic_kind::gw_events, config.city})),
      ticks_(std::move(ticks)),
      last_progress_(ticks_()),
      bound_timer_{bound_check_interval} {}

result<void> outbox_pump::reload() {
    EQM_TRY_LET(acked, ledger_.meta(acked_key));
    acked_upto_ = static_cast<std::uint64_t>(acked.value_or(0));
    EQM_TRY_LET(last, ledger_.outbox_last_seq());
    last_seq_ = last;
    pending_last_ = 0;
    pending_urgent_ = false;
    EQM_TRY_LET(stats, ledger_.outbox_stats());
    depth_ = stats.first;
    bytes_ = stats.second;
    pending_depth_ = pending_bytes_ = 0;
    next_to_send_ = std::max(next_to_send_, acked_upto_ + 1);
    next_to_send_ = std::min(next_to_send_, last_seq_ + 1);
    sync_metrics();
    return {};
}

result<std::uint64_t> outbox_pump::append(gw_event_kind kind, clock_ms ts, std::string_view body) {
    EQM_TRY_LET(seq, ledger_.outbox_append(to_string(kind), ts, body));
    pending_last_ = std::max(pending_last_, seq);
    if (kind == gw_event_kind::command_result) pending_urgent_ = true;
    ++pending_depth_;
    pending_bytes_ += body.size();
    return seq;
}

void outbox_pump::committed() {
    if (pending_last_ > last_seq_) {
        last_seq_ = pending_last_;
        if (!waiting_since_) waiting_since_ = ticks_();
        urgent_ = urgent_ || pending_urgent_;
    }
    pending_urgent_ = false;
    depth_ += pending_depth_;
    bytes_ += pending_bytes_;
    pending_last_ = 0;
    pending_depth_ = pending_bytes_ = 0;
    sync_metrics();
}

result<void> outbox_pump::on_ack(const srv_ack& ack) {
    const std::uint64_t upto = std::min(ack.upto_seq, std::max(last_seq_, pending_last_));
    if (upto > acked_upto_) {
        EQM_TRY(ledger_.outbox_delete_upto(upto));
        EQM_TRY(ledger_.skipped_delete_upto(upto));
        EQM_TRY(ledger_.set_meta(acked_key, static_cast<std::int64_t>(upto)));
        EQM_TRY_LET(stats, ledger_.outbox_stats());
        acked_upto_ = upto;
        depth_ = stats.first >= pending_depth_ ? stats.first - pending_depth_ : 0;
        bytes_ = stats.second >= pending_bytes_ ? stats.second - pending_bytes_ : 0;
        next_to_send_ = std::max(next_to_send_, acked_upto_ + 1);
        last_progress_ = ticks_();
    }
    if (ack.resend_from) {
        const std::uint64_t from =
            std::clamp(*ack.resend_from, acked_upto_ + 1, std::max(next_to_send_, acked_upto_ + 1));
        if (from < next_to_send_) {
            log_info("outbox", "resend from=" + std::to_string(from) + " requested by the server");
            next_to_send_ = from;
            ++metrics_.outbox_retransmits;
            waiting_since_.reset();
        }
    }
    sync_metrics();
    return {};
}

void outbox_pump::on_connection(bool up) {
    connected_ = up;
    if (up) {
        // Whatever was in flight on the old connection may be lost: start over from the
        // first unacknowledged event, in order.
        next_to_send_ = acked_upto_ + 1;
        last_progress_ = ticks_();
        waiting_since_.reset();
    }
}

std::chrono::milliseconds outbox_pump::idle_for() const {
    if (!connected_ || next_to_send_ > last_seq_) return std::chrono::milliseconds{250};
    if (!waiting_since_ || urgent_) return std::chrono::milliseconds{0};
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(ticks_() - *waiting_since_);
    return waited >= max_batch_wait ? std::chrono::milliseconds{0} : max_batch_wait - waited;
}

void outbox_pump::tick(clock_ms now, std::uint64_t bd_seq) {
    const auto t = ticks_();
    if (bound_timer_.due(t)) {
        if (auto r = enforce_bound(now); !r) {
            log_warn("outbox", "bound enforcement failed: " + r.error().describe());
            (void)reload();
        }
    }
    if (connected_ && next_to_send_ - 1 > acked_upto_ &&
        t - last_progress_ > config_.outbox_retransmit) {
        log_info("outbox", "no ack for " + std::to_string(config_.outbox_retransmit.count()) +
                               " ms; resending from seq=" + std::to_string(acked_upto_ + 1));
        next_to_send_ = acked_upto_ + 1;
        last_progress_ = t;
        ++metrics_.outbox_retransmits;
        waiting_since_.reset();
    }
    send_batches(now, bd_seq);
}

bool outbox_pump::batch_due() const {
    const std::uint64_t waiting = last_seq_ - next_to_send_ + 1;
    if (waiting < max_batch_events && waiting_since_ && !urgent_ &&
        ticks_() - *waiting_since_ < max_batch_wait)
        return false;
    return next_to_send_ - 1 - acked_upto_ < max_in_flight_events;
}

std::size_t outbox_pump::batch_length(const std::vector<outbox_row>& rows) {
    // Never span a hole (dropped summaries): the next batch announces it in `skipped`.
    std::size_t n = 0, bytes = 0;
    for (; n < rows.size(); ++n) {
        if (n > 0 && rows[n].seq != rows[n - 1].seq + 1) break;
        bytes += rows[n].body.size() + 128;
        if (n > 0 && bytes > max_batch_bytes) break;
    }
    return n;
}

result<std::string> outbox_pump::skipped_below(std::uint64_t first) {
    if (first <= acked_upto_ + 1) return std::string();
    EQM_TRY_LET(ranges, ledger_.skipped_all());
    std::string skipped;
    std::size_t count = 0;
    for (const auto& r : ranges) {
        if (r.to >= first || r.to <= acked_upto_ || count == max_batch_events) continue;
        skipped += skipped.empty() ? "[[" : ",[";
        skipped += std::to_string(std::max(r.from, acked_upto_ + 1));
        skipped += ',';
        skipped += std::to_string(r.to);
        skipped += ']';
        ++count;
    }
    if (!skipped.empty()) skipped += "]";
    return skipped;
}

std::string outbox_pump::batch_payload(const std::vector<outbox_row>& rows, std::size_t n,
                                       const std::string& skipped, clock_ms now,
                                       std::uint64_t bd_seq) const {
    // Written by hand in the canonical key order: the bodies are already JSON text, and a DOM
    // of 1000 events would cost more than the rest of the round.
    std::size_t bytes = 256 + skipped.size();
    for (std::size_t i = 0; i < n; ++i) bytes += rows[i].body.size() + 128;
    std::string payload;
    payload.reserve(bytes);
    payload += "{\"bd_seq\":";
    payload += std::to_string(bd_seq);
    payload += ",\"events\":[";
    for (std::size_t i = 0; i < n; ++i) {
        const auto& row = rows[i];
        if (i) payload += ',';
        payload += "{\"body\":";
        payload += row.body;
        const std::string seq_text = std::to_string(row.seq);
        payload += ",\"kind\":\"";
        payload += row.kind;
        payload += "\",\"msg_id\":\"";
        payload += config_.gw_id;
        payload += '-';
        payload += seq_text;
        payload += "\",\"seq\":";
        payload += seq_text;
        payload += ",\"ts\":\"";
        payload += format_timestamp(row.ts);
        payload += "\"}";
    }
    payload += "],\"gw_id\":\"";
    payload += config_.gw_id;
    payload += '"';
    if (!skipped.empty()) {
        payload += ",\"skipped\":";
        payload += skipped;
    }
    payload += ",\"ts\":\"";
    payload += format_timestamp(now);
    payload += "\"}";
    return payload;
}

void outbox_pump::send_batches(clock_ms now, std::uint64_t bd_seq) {
    while (connected_ && next_to_send_ <= last_seq_ && batch_due()) {
        auto rows = ledger_.outbox_from(next_to_send_, max_batch_events);
        if (!rows) {
            log_warn("outbox", "cannot read the outbox: " + rows.error().describe());
            return;
        }
        if (rows->empty()) {
            next_to_send_ = last_seq_ + 1;
            break;
        }
        const std::size_t n = batch_length(*rows);
        const std::uint64_t first = (*rows)[0].seq;
        auto skipped = skipped_below(first);
        if (!skipped) {
            log_warn("outbox", "cannot read skipped ranges: " + skipped.error().describe());
            return;
        }
        if (!publish_(topic_, batch_payload(*rows, n, *skipped, now, bd_seq)))
            return;  // down: on_connection(true) restarts
        next_to_send_ = (*rows)[n - 1].seq + 1;
        metrics_.outbox_events_sent += n;
        ++metrics_.outbox_batches_sent;
        log_debug("outbox",
                  "sent seq=" + std::to_string(first) + ".." + std::to_string((*rows)[n - 1].seq));
    }
    if (next_to_send_ > last_seq_) {
        waiting_since_.reset();
        urgent_ = false;
    }
}

result<void> outbox_pump::enforce_bound(clock_ms now) {
    const clock_ms oldest_allowed = now - config_.outbox_max_age;
    EQM_TRY_LET(candidates, ledger_.outbox_oldest_droppable(
                                bytes_ > config_.outbox_max_bytes ? drop_scan_rows : 1));
    if (candidates.empty()) return {};
    if (bytes_ <= config_.outbox_max_bytes && std::get<2>(candidates.front()) >= oldest_allowed)
        return {};
    if (candidates.size() == 1) {
        EQM_TRY_LET(more, ledger_.outbox_oldest_droppable(drop_scan_rows));
        candidates = std::move(more);
    }
    EQM_TRY_LET(tx, ledger_.begin());
    std::uint64_t dropped = 0, dropped_bytes = 0, first = 0, last = 0;
    for (const auto& [seq, size, ts] : candidates) {
        if (bytes_ - dropped_bytes <= config_.outbox_max_bytes && ts >= oldest_allowed) break;
        EQM_TRY(ledger_.outbox_delete(seq));
        EQM_TRY(ledger_.skipped_add(seq_range{seq, seq}));
        if (!dropped) first = seq;
        last = seq;
        ++dropped;
        dropped_bytes += size;
    }
    EQM_TRY(tx.commit());
    depth_ -= std::min(depth_, dropped);
    bytes_ -= std::min(bytes_, dropped_bytes);
    metrics_.outbox_dropped += dropped;
    sync_metrics();
    if (dropped)
        log_warn("outbox", "bound reached: dropped telemetry summaries count=" +
                               std::to_string(dropped) + " seq=" + std::to_string(first) + ".." +
                               std::to_string(last) + " bytes=" + std::to_string(bytes_));
    return {};
}

void outbox_pump::sync_metrics() {
    metrics_.outbox_depth = depth_;
    metrics_.outbox_bytes = bytes_;
    metrics_.outbox_last_seq = last_seq_;
    metrics_.outbox_acked_seq = acked_upto_;
}

}  // namespace eqm::gateway
