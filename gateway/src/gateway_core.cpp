#include "gateway_core.hpp"

#include <algorithm>

#include "bd_seq_file.hpp"
#include "eqm/domain/ledger.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {

/// Work items handled per round (one transaction).
constexpr std::size_t max_round_items = 2000;
constexpr std::chrono::milliseconds max_idle_wait{250};
constexpr std::chrono::milliseconds flush_interval{1000};
constexpr std::chrono::milliseconds sweep_interval{60'000};
constexpr std::chrono::milliseconds prune_interval{3'600'000};
constexpr std::chrono::milliseconds refusal_log_interval{10'000};
/// Processed event and command ids are kept at least this long, so a replay within it gets
/// the same answer.
constexpr std::chrono::days min_replay_window{30};

alert_facts build_facts(const std::optional<device_row>& dev, const custody_row& row,
                        const telemetry_entry* t) {
    alert_facts f;
    if (dev) f.cls = dev->cls;
    f.calibration_due = effective_calibration_due(dev ? dev->calibration_due : std::nullopt, t);
    f.state = row.custody.state;
    f.holder = row.custody.holder;
    f.due = row.custody.due;
    f.docked = row.docked;
    f.unauthorised_removal_at = row.unauthorised_removal_at;
    if (t) {
        f.battery_pct = t->battery_pct;
        f.charging = t->charging.value_or(false);
        f.footage_pending_since = t->footage_pending_since;
        if (t->docked.value_or(false)) f.docked = true;
    }
    return f;
}

}  // namespace

result<std::unique_ptr<gateway_core>> gateway_core::open(gateway_config config,
                                                         gateway_clock clock) {
    EQM_TRY_LET(ledger, city_ledger::open(config.db_path, config.db_busy_timeout));
    std::unique_ptr<gateway_core> core(
        new gateway_core(std::move(config), std::move(clock), std::move(ledger)));
    EQM_TRY(core->load());
    return core;
}

gateway_core::gateway_core(gateway_config config, gateway_clock clock, city_ledger ledger)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      ledger_(std::move(ledger)),
      outbox_(ledger_, config_, metrics_, clock_.ticks,
              [this](const std::string& topic, const std::string& payload) {
                  return central_publish_ && central_publish_(topic, payload);
              }),
      alerts_(ledger_, outbox_, config_, metrics_),
      desk_(ledger_, outbox_, telemetry_, config_),
      commands_(ledger_, desk_, config_),
      inbox_(config_.queue),
      bd_seq_path_(config_.db_path + "-bd_seq"),
      flush_timer_{flush_interval},
      sweep_timer_{sweep_interval},
      prune_timer_{prune_interval},
      refusal_log_timer_{refusal_log_interval} {}

gateway_core::~gateway_core() = default;

result<void> gateway_core::load() {
    EQM_TRY(telemetry_.load(ledger_));
    EQM_TRY(outbox_.reload());
    EQM_TRY(alerts_.reload());
    EQM_TRY(desk_.reload());
    // The file is the durable source (written before each CONNECT); the ledger's copy is kept
    // for ledgers written before the file existed. The larger one wins.
    EQM_TRY_LET(bd, ledger_.meta("bd_seq"));
    bd_seq_ = std::max(static_cast<std::uint64_t>(bd.value_or(0)), read_bd_seq_file(bd_seq_path_));
    EQM_TRY_LET(devices, ledger_.count_devices());
    log_info("gateway", "ledger open db=" + log_value(config_.db_path) +
                            " records=" + std::to_string(desk_.next_index()) +
                            " devices=" + std::to_string(devices) +
                            " outbox_depth=" + std::to_string(metrics_.outbox_depth) +
                            " outbox_last_seq=" + std::to_string(outbox_.last_seq()) +
                            " acked_seq=" + std::to_string(outbox_.acked_upto()));
    return verify_chain();
}

result<void> gateway_core::verify_chain() {
    // The chain is checked end to end at every start. A tampered file does not stop the gateway:
    // the city must go on checking equipment in and out, so the first broken record is named in a
    // critical ledger_broken alert (kept in the ledger and sent to the server) for an operator to
    // investigate.
    ledger_verifier verifier;
    std::optional<std::string> broken;
    if (auto scanned =
            ledger_.scan_ledger([&](const custody_record& r) { return verifier.feed(r).ok(); });
        !scanned) {
        if (scanned.error().code != errc::ledger_broken) return std::unexpected(scanned.error());
        broken = scanned.error().message;
    } else if (verifier.broken()) {
        broken = verifier.first_break().message;
    }
    if (!broken) return {};
    log_error("ledger", "hash chain broken: " + *broken);
    EQM_TRY_LET(tx, ledger_.begin());
    EQM_TRY(alerts_.raise_global(alert_type::ledger_broken, alert_severity::critical, *broken,
                                 clock_.now()));
    EQM_TRY(tx.commit());
    outbox_.committed();
    return {};
}

void gateway_core::reload_after_rollback() {
    // Memory that mirrors the database (chain head, outbox counters, active alerts) goes back
    // to what is committed.
    if (auto r = desk_.reload(); !r) log_error("ledger", "reload failed: " + r.error().describe());
    if (auto r = outbox_.reload(); !r)
        log_error("outbox", "reload failed: " + r.error().describe());
    if (auto r = alerts_.reload(); !r) log_error("alert", "reload failed: " + r.error().describe());
}

void gateway_core::set_publishers(publisher local, publisher central) {
    local_publish_ = std::move(local);
    central_publish_ = std::move(central);
}

bool gateway_core::on_message(broker from, std::string topic, std::string payload) {
    return inbox_.push_message(from, std::move(topic), std::move(payload));
}

void gateway_core::on_connection(broker which, bool up) {
    inbox_.set_link(which, up);
}

bool gateway_core::post(core_task task) {
    if (stopping_) return false;
    return inbox_.push_task(std::move(task));
}

std::uint64_t gateway_core::next_bd_seq() {
    const std::uint64_t v = ++bd_seq_;
    // Durable before the CONNECT that carries it. If the file cannot be written the connect
    // still goes ahead (being reachable matters more); the ledger copy below is the fallback.
    if (auto r = write_bd_seq_file(bd_seq_path_, v); !r)
        log_error("gateway", "bd_seq not made durable: " + r.error().describe());
    post([v](gateway_core& core, unit_of_work& u) {
        if (!core.ensure_tx(u)) return;
        if (auto r = core.ledger().set_meta("bd_seq", static_cast<std::int64_t>(v)); !r)
            core.fail_round(u, r.error());
    });
    return v;
}

void gateway_core::stop() {
    stopping_ = true;
    inbox_.close();
}

bool gateway_core::ensure_tx(unit_of_work& u) {
    if (u.failure) return false;
    if (u.tx) return true;
    auto tx = ledger_.begin();
    if (!tx) {
        fail_round(u, tx.error());
        return false;
    }
    u.tx.emplace(std::move(*tx));
    return true;
}

void gateway_core::fail_round(unit_of_work& u, const error& e) {
    if (!u.failure) {
        u.failure = e;
        ++metrics_.commit_failures;
        log_error("ledger", "write failed, decisions of this round are answered unavailable: " +
                                e.describe());
    }
    if (u.tx) {
        (void)u.tx->rollback();
        u.tx.reset();
        reload_after_rollback();
    }
}

result<alert_facts> gateway_core::facts_for(const std::string& device_id) {
    EQM_TRY_LET(dev, ledger_.find_device(device_id));
    EQM_TRY_LET(row, ledger_.load_custody(device_id));
    return build_facts(dev, row, telemetry_.find(device_id));
}

void gateway_core::run() {
    inbox_round round;
    log_info("gateway", "running city=" + config_.city + " gw_id=" + config_.gw_id);
    while (true) {
        inbox_.wait(std::min(outbox_.idle_for(), max_idle_wait));
        apply_links();
        round.clear();
        inbox_.take(round, max_round_items);
        if (!round.empty()) process(round);
        if (stopping_ && round.empty()) break;
        periodic();
        outbox_.tick(clock_.now(), bd_seq_);
    }
    flush_telemetry();
    log_info("gateway", "stopped");
}

void gateway_core::process(inbox_round& round) {
    unit_of_work u;
    const auto guarded = [&](const auto& work) {
        try {
            work();
        } catch (const std::exception& e) {
            // Nothing here should throw; if it does, the round fails rather than the gateway.
            fail_round(u, error{errc::internal, "", std::string("unexpected: ") + e.what()});
        }
    };
    for (auto& task : round.tasks) guarded([&] { task(*this, u); });
    // Events first: a device's birth before its readings, so they count in its new session.
    for (const auto& m : round.events) guarded([&] { handle(m, u); });
    for (const auto& m : round.telemetry) guarded([&] { handle(m, u); });
    finish(u);
    metrics_.queue_depths = inbox_.depths();
    metrics_.queue_refused = inbox_.refused();
}

void gateway_core::apply_links() {
    for (auto which : {broker::local, broker::central}) {
        const link_state link = inbox_.link(which);
        auto& seen = links_seen_[static_cast<std::size_t>(which)];
        if (link.generation == seen) continue;
        seen = link.generation;
        (which == broker::central ? metrics_.central_connected : metrics_.local_connected) =
            link.up;
        log_info("mqtt",
                 std::string(to_string(which)) + (link.up ? " connected" : " disconnected"));
        // Up again (even after a down this loop was too busy to see): whatever was in flight on
        // the old connection may be lost, so the outbox resends from the first unacked event.
        if (which == broker::central) outbox_.on_connection(link.up);
    }
}

void gateway_core::finish(unit_of_work& u) {
    evaluate_alerts(u);
    if (u.tx) {
        if (auto c = u.tx->commit(); !c) {
            u.tx.reset();
            fail_round(u, c.error());
            reload_after_rollback();
        } else {
            u.tx.reset();
            ++metrics_.commits;
            outbox_.committed();
        }
    }
    // Only now, after the commit, does anyone hear about the decisions.
    publish_acks(u);
    for (auto& f : u.after) f(u.failure);
    if (!u.failure)
        for (const auto& [topic_text, payload] : u.local_messages)
            if (!local_publish_ || !local_publish_(topic_text, payload))
                log_warn("mqtt", "could not publish topic=" + log_value(topic_text));
}

void gateway_core::evaluate_alerts(unit_of_work& u) {
    if (!u.tx || u.failure || u.alert_devices.empty()) return;
    std::sort(u.alert_devices.begin(), u.alert_devices.end());
    u.alert_devices.erase(std::unique(u.alert_devices.begin(), u.alert_devices.end()),
                          u.alert_devices.end());
    const clock_ms now = clock_.now();
    for (const auto& id : u.alert_devices) {
        auto f = facts_for(id);
        auto r = f ? alerts_.evaluate(id, *f, now) : std::unexpected(f.error());
        if (!r) return fail_round(u, r.error());
    }
}

void gateway_core::publish_acks(unit_of_work& u) {
    if (u.acks.empty()) return;
    const clock_ms now = clock_.now();
    std::stable_sort(u.acks.begin(), u.acks.end(),
                     [](const auto& a, const auto& b) { return a.client_id < b.client_id; });
    std::size_t i = 0;
    while (i < u.acks.size()) {
        ack msg;
        msg.ts = now;
        const std::string& client = u.acks[i].client_id;
        while (i < u.acks.size() && u.acks[i].client_id == client &&
               msg.event_ids.size() < max_ack_event_ids) {
            auto& a = u.acks[i++];
            if (msg.results.contains(a.event_id)) continue;  // the same event twice in a round
            outcome o = (a.durable && u.failure) ? outcome::rejected(errc::unavailable) : a.result;
            msg.event_ids.push_back(a.event_id);
            msg.results.emplace(a.event_id, std::move(o));
        }
        const std::string topic_text = format_topic({topic_kind::ack, client});
        if (local_publish_ && local_publish_(topic_text, to_json_text(msg))) {
            ++metrics_.acks_published;
        } else {
            ++metrics_.ack_publish_failures;
            log_warn("mqtt", "ack not published client=" + log_value(client) + " events=" +
                                 std::to_string(msg.event_ids.size()) + " (the sender will retry)");
        }
    }
}

void gateway_core::periodic() {
    const auto t = clock_.ticks();
    if (flush_timer_.due(t)) flush_telemetry();
    if (sweep_timer_.due(t)) sweep_alerts();
    if (prune_timer_.due(t)) prune();
}

bool gateway_core::run_maintenance(std::string_view what,
                                   const std::function<result<void>()>& work) {
    auto tx = ledger_.begin();
    auto r = tx ? work() : std::unexpected(tx.error());
    if (r) r = tx->commit();
    if (r) {
        outbox_.committed();
        return true;
    }
    log_warn("gateway", std::string(what) + " failed, retrying later: " + r.error().describe());
    if (tx) (void)tx->rollback();
    reload_after_rollback();
    return false;
}

void gateway_core::flush_telemetry() {
    if (!telemetry_.pending() && seen_.empty()) return;
    const clock_ms now = clock_.now();
    const bool ok = run_maintenance("telemetry flush", [&]() -> result<void> {
        for (const auto& [id, at] : seen_) {
            EQM_TRY_LET(is_new, ledger_.note_device_seen(id, at));
            if (is_new) log_info("device", "seen device=" + log_value(id) + " registered=false");
        }
        EQM_TRY_LET(summaries, telemetry_.flush(ledger_, now));
        for (const auto& s : summaries)
            EQM_TRY(outbox_.append(gw_event_kind::telemetry_summary, now, to_json(s).dump()));
        std::vector<std::string> changed = telemetry_.changed();
        std::sort(changed.begin(), changed.end());
        changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
        for (const auto& id : changed) {
            EQM_TRY_LET(f, facts_for(id));
            EQM_TRY(alerts_.evaluate(id, f, now));
        }
        return {};
    });
    if (!ok) {
        ++metrics_.telemetry_flush_failures;
        return;
    }
    telemetry_.flush_committed();
    seen_.clear();
}

void gateway_core::sweep_alerts() {
    const clock_ms now = clock_.now();
    run_maintenance("alert sweep", [&]() -> result<void> {
        // Row by row from the cursor (alerts are another table), not 10,000 rows at once.
        return ledger_.for_each_device(
            device_filter{}, [&](const device_row& dev, const custody_row& row) -> result<bool> {
                const std::optional<device_row> d = dev;
                EQM_TRY(
                    alerts_.evaluate(dev.id, build_facts(d, row, telemetry_.find(dev.id)), now));
                return true;
            });
    });
}

void gateway_core::prune() {
    const clock_ms now = clock_.now();
    const auto retention = std::chrono::days{config_.telemetry_retention_days};
    std::int64_t pruned = 0;
    const bool ok = run_maintenance("retention pruning", [&]() -> result<void> {
        EQM_TRY_LET(n, ledger_.prune_minutes(now - retention));
        EQM_TRY(ledger_.prune_processed(now - std::max(retention, min_replay_window)));
        EQM_TRY(ledger_.prune_sessions(now));
        pruned = n;
        return {};
    });
    if (ok && pruned > 0)
        log_info("telemetry", "pruned minute aggregates count=" + std::to_string(pruned));
}

}  // namespace eqm::gateway
