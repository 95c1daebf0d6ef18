// What arrives on the two brokers, handled on the core thread inside the round's transaction:
// telemetry, dock and device events and device states from the city broker; srv/cmd and
// srv/ack from the central broker. Every refusal is counted and logged; an event whose id is
// still readable is answered, so its sender hears why.
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"
#include "gateway_core.hpp"

namespace eqm::gateway {
namespace {

/// The id in `field` of a payload that failed validation, when it is still readable, so the
/// sender (which keeps the event until acked) hears why.
std::optional<std::string> readable_id(const std::string& payload, const char* field) {
    if (payload.size() > max_payload_bytes) return std::nullopt;
    const auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    auto id = it->get<std::string>();
    if (!is_valid_id(id)) return std::nullopt;
    return id;
}

}  // namespace

void gateway_core::reject_input(std::string_view kind, const error& e, const topic& t) {
    const std::string reason(to_string(e.code));
    ++metrics_.messages_rejected[reason];
    ++metrics_.malformed_payloads[std::string(kind)];
    log_warn("input", "rejected kind=" + std::string(kind) +
                          " topic=" + log_value(format_topic(t)) + " reason=" + reason +
                          " detail=" + log_value(e.describe()));
}

void gateway_core::reject_topic(std::string_view topic_text, std::string_view detail) {
    ++metrics_.messages_rejected["unknown_topic"];
    log_warn("input", "rejected topic=" + log_value(topic_text) +
                          " reason=unknown_topic detail=" + log_value(detail));
}

void gateway_core::handle(const inbound& m, unit_of_work& u) {
    auto t = parse_topic(m.topic);
    if (!t) return reject_topic(m.topic, t.error().describe());
    if (m.from == broker::central)
        handle_central(*t, m.payload, u);
    else
        handle_local(*t, m.payload, u);
}

void gateway_core::handle_local(const topic& t, const std::string& payload, unit_of_work& u) {
    switch (t.kind) {
        case topic_kind::device_telemetry:
            return on_telemetry(t, payload);
        case topic_kind::dock_event:
            return on_dock_event(t, payload, u);
        case topic_kind::device_event:
            return on_device_event(t, payload, u);
        case topic_kind::device_state:
            return on_device_state(t, payload, u);
        default:
            return reject_topic(format_topic(t), "not read on the city broker");
    }
}

void gateway_core::handle_central(const topic& t, const std::string& payload, unit_of_work& u) {
    if (t.id != config_.city || (t.kind != topic_kind::srv_cmd && t.kind != topic_kind::srv_ack))
        return reject_topic(format_topic(t), "not for this gateway");
    if (t.kind == topic_kind::srv_cmd) return on_srv_cmd(t, payload, u);
    return on_srv_ack(t, payload, u);
}

std::optional<std::string_view> gateway_core::clock_check(clock_ms ts, clock_ms now) const {
    if (ts > now + config_.telemetry_max_ahead) return "ts_ahead";
    if (ts < now - config_.telemetry_max_behind) return "ts_behind";
    return std::nullopt;
}

void gateway_core::on_telemetry(const topic& t, const std::string& payload) {
    auto tel = parse_device_telemetry(payload);
    if (!tel) return reject_input("device_telemetry", tel.error(), t);
    const clock_ms now = clock_.now();
    if (auto reason = clock_check(tel->ts, now)) {
        // A device whose clock is wrong would otherwise pin its readiness to this reading (or
        // fill the minute aggregates of another day); it sends again soon, so one line now
        // and then is enough.
        ++metrics_.telemetry_refused[std::string(*reason)];
        ++refusals_unlogged_;
        if (refusal_log_timer_.due(clock_.ticks())) {
            log_warn("telemetry",
                     "refused device=" + log_value(t.id) + " reason=" + std::string(*reason) +
                         " ts=" + format_timestamp(tel->ts) + " now=" + format_timestamp(now) +
                         " refusals=" + std::to_string(refusals_unlogged_));
            refusals_unlogged_ = 0;
        }
        return;
    }
    ++metrics_.telemetry_processed;
    if (!telemetry_.find(t.id)) seen_.emplace_back(t.id, tel->ts);
    if (!telemetry_.ingest(t.id, *tel).latest) ++metrics_.telemetry_out_of_order;
}

void gateway_core::on_dock_event(const topic& t, const std::string& payload, unit_of_work& u) {
    const std::string& dock_id = t.id;
    auto ev = parse_dock_event(payload);
    if (!ev) {
        reject_input("dock_event", ev.error(), t);
        if (auto id = readable_id(payload, "event_id"))
            u.acks.push_back({dock_id, *id, outcome::rejected(ev.error().code), false});
        return;
    }
    ++metrics_.messages_processed["dock_event"];
    const auto unavailable = [&](const error& e) {
        fail_round(u, e);
        u.acks.push_back({dock_id, ev->event_id, outcome::rejected(errc::unavailable), true});
    };
    if (!ensure_tx(u))
        return u.acks.push_back(
            {dock_id, ev->event_id, outcome::rejected(errc::unavailable), true});
    const clock_ms now = clock_.now();
    auto prior = ledger_.event_result(dock_id, ev->event_id);
    if (!prior) return unavailable(prior.error());
    if (*prior) {
        ++metrics_.replays;
        auto o = parse_outcome(**prior, "result");
        u.acks.push_back(
            {dock_id, ev->event_id, o ? *o : outcome::rejected(errc::internal), false});
        log_info("custody", "replay dock=" + log_value(dock_id) +
                                " event=" + log_value(ev->event_id) + " result=" + **prior);
        return;
    }
    auto d = desk_.on_dock_event(dock_id, *ev, now);
    if (!d) return unavailable(d.error());
    const outcome out = d->as_outcome();
    const std::string result_text = to_string(out);
    if (auto r = ledger_.record_event(dock_id, ev->event_id, result_text, now); !r)
        return unavailable(r.error());
    telemetry_.note_docked(ev->device_id, ev->type == dock_event_type::slot_insert);
    u.acks.push_back({dock_id, ev->event_id, out, true});
    u.alert_devices.push_back(ev->device_id);
    ++u.decisions;
    const std::string action = d->record ? std::string(to_string(d->record->action))
                               : ev->type == dock_event_type::slot_remove ? "checkout"
                                                                          : "checkin";
    ++metrics_.decisions[{action, out.is_ok() ? "ok" : *out.rejected_reason}];
    std::string line = action + " device=" + log_value(ev->device_id) +
                       " badge=" + log_value(ev->badge.value_or("")) +
                       " dock=" + log_value(dock_id) + " slot=" + std::to_string(ev->slot) +
                       " event=" + log_value(ev->event_id) + " result=" + result_text;
    if (d->record) line += " index=" + std::to_string(d->record->index);
    if (d->refusal) line += " detail=" + log_value(d->refusal->describe());
    log_info("custody", line);
}

void gateway_core::on_device_event(const topic& t, const std::string& payload, unit_of_work& u) {
    const std::string& device_id = t.id;
    auto ev = parse_device_event(payload);
    if (!ev) {
        reject_input("device_event", ev.error(), t);
        if (auto id = readable_id(payload, "event_id"))
            u.acks.push_back({device_id, *id, outcome::rejected(ev.error().code), false});
        return;
    }
    ++metrics_.messages_processed["device_event"];
    const auto unavailable = [&] {
        u.acks.push_back({device_id, ev->event_id, outcome::rejected(errc::unavailable), true});
    };
    if (!ensure_tx(u)) return unavailable();
    const clock_ms now = clock_.now();
    auto recorded = [&]() -> result<std::optional<std::string>> {
        EQM_TRY_LET(prior, ledger_.event_result(device_id, ev->event_id));
        if (prior) return prior;
        EQM_TRY(ledger_.note_device_seen(device_id, now));
        EQM_TRY(ledger_.record_event(device_id, ev->event_id, "ok", now));
        return std::optional<std::string>{};
    }();
    if (!recorded) {
        fail_round(u, recorded.error());
        return unavailable();
    }
    if (*recorded) {
        ++metrics_.replays;
        auto o = parse_outcome(**recorded, "result");
        u.acks.push_back({device_id, ev->event_id, o ? *o : outcome::ok(), false});
        return;
    }
    if (ev->type == device_event_type::footage_offloaded)
        telemetry_.note_footage_offloaded(device_id);
    if (ev->type == device_event_type::calibrated && ev->calibration_due)
        telemetry_.note_calibrated(device_id, *ev->calibration_due);
    u.acks.push_back({device_id, ev->event_id, outcome::ok(), true});
    u.alert_devices.push_back(device_id);
    log_info("device", std::string(to_string(ev->type)) + " device=" + log_value(device_id) +
                           " event=" + log_value(ev->event_id));
}

void gateway_core::on_device_state(const topic& t, const std::string& payload, unit_of_work& u) {
    const std::string& device_id = t.id;
    auto st = parse_device_state(payload);
    if (!st) return reject_input("device_state", st.error(), t);
    ++metrics_.messages_processed["device_state"];
    if (!ensure_tx(u)) return;
    const clock_ms now = clock_.now();
    auto dev = ledger_.find_device(device_id);
    if (!dev) return fail_round(u, dev.error());
    if (st->online) {
        const bool same =
            *dev && (*dev)->online && (*dev)->bd_seq == st->bd_seq && (*dev)->fw == st->fw;
        if (same) return;  // a retained birth we already know (e.g. after our own restart)
    } else {
        // A Last Will from an older session must not mark a reconnected device offline.
        if (!*dev || !(*dev)->online || ((*dev)->bd_seq && *(*dev)->bd_seq != st->bd_seq)) return;
    }
    if (auto r = ledger_.set_liveness(device_id, st->online, st->bd_seq, st->cls, st->model, st->fw,
                                      now);
        !r)
        return fail_round(u, r.error());
    if (st->online) telemetry_.note_session(device_id, st->bd_seq);
    device_state_body body;
    body.device_id = device_id;
    body.online = st->online;
    body.bd_seq = st->bd_seq;
    body.registered = *dev && (*dev)->registered;
    body.cls = st->cls;
    body.model = st->model;
    body.fw = st->fw;
    if (auto r = outbox_.append(gw_event_kind::device_state, now, to_json(body).dump()); !r)
        return fail_round(u, r.error());
    log_info("device", std::string(st->online ? "online" : "offline") + " device=" +
                           log_value(device_id) + " bd_seq=" + std::to_string(st->bd_seq) +
                           (body.registered ? "" : " registered=false"));
}

void gateway_core::answer_unreadable_cmd(const std::string& payload, const error& e,
                                         unit_of_work& u) {
    // Tell the server, when it can still tell which command this was.
    auto id = readable_id(payload, "cmd_id");
    auto type_name = readable_id(payload, "type");
    auto type = type_name ? parse_srv_cmd_type(*type_name) : std::nullopt;
    if (!id || !type || !ensure_tx(u)) return;
    std::string detail = e.describe();
    if (detail.size() > max_detail_chars) detail.resize(max_detail_chars);
    command_result_body body{*id,    *type,        outcome::rejected(e.code),
                             detail, std::nullopt, std::nullopt};
    if (auto r = outbox_.append(gw_event_kind::command_result, clock_.now(), to_json(body).dump());
        !r)
        fail_round(u, r.error());
}

void gateway_core::on_srv_cmd(const topic& t, const std::string& payload, unit_of_work& u) {
    auto cmd = parse_srv_cmd(payload);
    if (!cmd) {
        reject_input("srv_cmd", cmd.error(), t);
        return answer_unreadable_cmd(payload, cmd.error(), u);
    }
    ++metrics_.messages_processed["srv_cmd"];
    if (!ensure_tx(u)) return;  // the server keeps the command until it sees a result
    const clock_ms now = clock_.now();
    auto prior = ledger_.command_result(cmd->cmd_id);
    if (!prior) return fail_round(u, prior.error());
    command_result_body body;
    if (*prior) {
        ++metrics_.replays;
        body.cmd_id = cmd->cmd_id;
        body.type = (*prior)->type;
        auto o = parse_outcome((*prior)->result, "result");
        body.result = o ? *o : outcome::ok();
        body.detail = (*prior)->detail;
        body.record_index = (*prior)->record_index;
    } else {
        command_effects effects;
        auto r = commands_.apply(*cmd, now, effects);
        if (!r) return fail_round(u, r.error());
        body = std::move(*r);
        command_row row{body.type, to_string(body.result), body.detail, body.record_index};
        if (auto rec = ledger_.record_command(cmd->cmd_id, row, now); !rec)
            return fail_round(u, rec.error());
        for (auto& m : effects.local_messages) u.local_messages.push_back(std::move(m));
        for (auto& d : effects.devices) u.alert_devices.push_back(std::move(d));
        ++metrics_.commands[{std::string(to_string(body.type)),
                             body.result.is_ok() ? "ok" : *body.result.rejected_reason}];
    }
    if (auto r = outbox_.append(gw_event_kind::command_result, now, to_json(body).dump()); !r)
        return fail_round(u, r.error());
    log_info("command", std::string(to_string(body.type)) + " cmd=" + log_value(body.cmd_id) +
                            " result=" + to_string(body.result) +
                            (body.detail ? " detail=" + log_value(*body.detail) : ""));
}

void gateway_core::on_srv_ack(const topic& t, const std::string& payload, unit_of_work& u) {
    auto ack_msg = parse_srv_ack(payload);
    if (!ack_msg) return reject_input("srv_ack", ack_msg.error(), t);
    ++metrics_.messages_processed["srv_ack"];
    if (!ensure_tx(u)) return;  // the server acks again with the next batch
    if (auto r = outbox_.on_ack(*ack_msg); !r) fail_round(u, r.error());
}

}  // namespace eqm::gateway
