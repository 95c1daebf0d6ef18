#include "gateway_core.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {

/// Work items waiting for the core; beyond this, new ones are refused (their senders redeliver).
constexpr std::size_t queue_capacity = 8192;
constexpr std::size_t queue_byte_capacity = std::size_t{32} << 20;
/// Work items handled per round (one transaction).
constexpr std::size_t max_round_items = 2000;
constexpr std::chrono::milliseconds max_idle_wait{250};
constexpr std::chrono::milliseconds flush_interval{1000};
constexpr std::chrono::milliseconds sweep_interval{60'000};
constexpr std::chrono::milliseconds prune_interval{3'600'000};
/// Processed event and command ids are kept at least this long, so a replay within it gets
/// the same answer.
constexpr std::chrono::days min_replay_window{30};

clock_ms clock_now() {
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// The event_id of a payload that failed validation, when it is still readable, so the sender
/// (which keeps the event until acked) hears why.
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

/// Reads the bd_seq file: 0 when it does not exist or holds no number.
std::uint64_t read_bd_seq_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32] = {};
    const auto n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return 0;
    return std::strtoull(buf, nullptr, 10);
}

/// Replaces the bd_seq file durably: a temp file written and fsynced, renamed over the old
/// one, and the folder fsynced so the rename itself survives a power cut.
result<void> write_bd_seq_file(const std::string& path, std::uint64_t value) {
    const std::string tmp = path + ".tmp";
    const auto failed = [&](const char* what) {
        return fail(errc::unavailable, "bd_seq",
                    std::string(what) + " " + tmp + ": " + std::strerror(errno));
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return failed("cannot create");
    const std::string text = std::to_string(value) + "\n";
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!written) return failed("cannot write");
    if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("cannot rename");
    auto dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

alert_facts build_facts(const std::optional<device_row>& dev, const custody_row& row,
                        const telemetry_entry* t) {
    alert_facts f;
    if (dev) {
        f.cls = dev->cls;
        f.calibration_due = dev->calibration_due;
    }
    f.state = row.custody.state;
    f.holder = row.custody.holder;
    f.due = row.custody.due;
    f.docked = row.docked;
    f.unauthorised_removal_at = row.unauthorised_removal_at;
    if (t) {
        f.battery_pct = t->battery_pct;
        f.charging = t->charging.value_or(false);
        f.footage_pending_since = t->footage_pending_since;
        if (t->calibration_due && (!f.calibration_due || *t->calibration_due > *f.calibration_due))
            f.calibration_due = t->calibration_due;
        if (t->docked.value_or(false)) f.docked = true;
    }
    return f;
}

}  // namespace

result<std::unique_ptr<gateway_core>> gateway_core::open(gateway_config config) {
    EQM_TRY_LET(ledger, city_ledger::open(config.db_path, config.db_busy_timeout));
    std::unique_ptr<gateway_core> core(new gateway_core(std::move(config), std::move(ledger)));
    EQM_TRY(core->load());
    return core;
}

gateway_core::gateway_core(gateway_config config, city_ledger ledger)
    : config_(std::move(config)),
      ledger_(std::move(ledger)),
      outbox_(ledger_, config_, metrics_,
              [this](const std::string& topic, const std::string& payload) {
                  return central_publish_ && central_publish_(topic, payload);
              }),
      alerts_(ledger_, outbox_, config_, metrics_),
      desk_(ledger_, outbox_, telemetry_, config_),
      commands_(ledger_, desk_, config_),
      queue_(mqtt::queue_limits{queue_capacity, queue_byte_capacity}, mqtt::overflow_policy::reject,
             [](const work_item& w) {
                 const auto* m = std::get_if<inbound>(&w);
                 return m ? m->topic.size() + m->payload.size() : std::size_t{0};
             }),
      bd_seq_path_(config_.db_path + "-bd_seq") {}

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
    EQM_TRY_LET(devices, ledger_.count_devices());
    log_info("gateway", "ledger open db=" + log_value(config_.db_path) +
                            " records=" + std::to_string(desk_.next_index()) +
                            " devices=" + std::to_string(devices) +
                            " outbox_depth=" + std::to_string(metrics_.outbox_depth) +
                            " outbox_last_seq=" + std::to_string(outbox_.last_seq()) +
                            " acked_seq=" + std::to_string(outbox_.acked_upto()));
    if (broken) {
        log_error("ledger", "hash chain broken: " + *broken);
        EQM_TRY_LET(tx, ledger_.begin());
        EQM_TRY(alerts_.raise_global(alert_type::ledger_broken, alert_severity::critical, *broken,
                                     clock_now()));
        EQM_TRY(tx.commit());
        outbox_.committed();
    }
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

void gateway_core::on_message(bool central, std::string topic, std::string payload) {
    queue_.push(inbound{central, std::move(topic), std::move(payload)});
}

void gateway_core::on_connection(bool central, bool up) {
    queue_.push(link_change{central, up});
}

bool gateway_core::post(core_task task) {
    if (stopping_) return false;
    return queue_.push(std::move(task));
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
    queue_.close();
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
    std::vector<work_item> items;
    items.reserve(max_round_items);
    log_info("gateway", "running city=" + config_.city + " gw_id=" + config_.gw_id);
    while (true) {
        const auto wait = std::min(outbox_.idle_for(), max_idle_wait);
        items.clear();
        if (auto first = queue_.pop(wait)) {
            items.push_back(std::move(*first));
            queue_.drain(items, max_round_items - 1);
        }
        if (!items.empty()) process(items);
        if (stopping_ && items.empty()) break;
        const auto now = clock_now();
        periodic(now);
        outbox_.tick(now, bd_seq_);
    }
    flush_telemetry(clock_now());
    log_info("gateway", "stopped");
}

void gateway_core::process(std::vector<work_item>& items) {
    unit_of_work u;
    for (auto& item : items) {
        try {
            std::visit(
                [&](auto& w) {
                    using T = std::decay_t<decltype(w)>;
                    if constexpr (std::is_same_v<T, inbound>) {
                        handle(w, u);
                    } else if constexpr (std::is_same_v<T, link_change>) {
                        (w.central ? metrics_.central_connected : metrics_.local_connected) = w.up;
                        log_info("mqtt", std::string(w.central ? "central" : "local") +
                                             (w.up ? " connected" : " disconnected"));
                        if (w.central) outbox_.on_connection(w.up);
                    } else {
                        w(*this, u);
                    }
                },
                item);
        } catch (const std::exception& e) {
            // Nothing here should throw; if it does, the round fails rather than the gateway.
            fail_round(u, error{errc::internal, "", std::string("unexpected: ") + e.what()});
        }
    }
    finish(u);
    metrics_.queue_depth = queue_.size();
}

void gateway_core::reject_input(std::string_view kind, const error& e,
                                std::string_view topic_text) {
    const std::string reason(to_string(e.code));
    ++metrics_.messages_rejected[reason];
    ++metrics_.malformed_payloads[std::string(kind)];
    log_warn("input", "rejected kind=" + std::string(kind) + " topic=" + log_value(topic_text) +
                          " reason=" + reason + " detail=" + log_value(e.describe()));
}

void gateway_core::handle(inbound& m, unit_of_work& u) {
    auto t = parse_topic(m.topic);
    if (!t) {
        ++metrics_.messages_rejected["unknown_topic"];
        log_warn("input", "rejected topic=" + log_value(m.topic) +
                              " reason=unknown_topic detail=" + log_value(t.error().describe()));
        return;
    }
    if (m.central)
        handle_central(*t, m.payload, u);
    else
        handle_local(*t, m.payload, u);
}

void gateway_core::handle_local(const topic& t, const std::string& payload, unit_of_work& u) {
    switch (t.kind) {
        case topic_kind::device_telemetry: {
            auto tel = parse_device_telemetry(payload);
            if (!tel) return reject_input("device_telemetry", tel.error(), format_topic(t));
            ++metrics_.telemetry_processed;
            if (!telemetry_.find(t.id)) seen_.emplace_back(t.id, tel->ts);
            telemetry_.ingest(t.id, *tel);
            return;
        }
        case topic_kind::dock_event:
            return on_dock_event(t.id, payload, u);
        case topic_kind::device_event:
            return on_device_event(t.id, payload, u);
        case topic_kind::device_state:
            return on_device_state(t.id, payload, u);
        default:
            ++metrics_.messages_rejected["unknown_topic"];
            log_warn("input", "rejected topic=" + log_value(format_topic(t)) +
                                  " reason=unknown_topic detail=\"not read on the city broker\"");
    }
}

void gateway_core::handle_central(const topic& t, const std::string& payload, unit_of_work& u) {
    if (t.id != config_.city || (t.kind != topic_kind::srv_cmd && t.kind != topic_kind::srv_ack)) {
        ++metrics_.messages_rejected["unknown_topic"];
        log_warn("input", "rejected topic=" + log_value(format_topic(t)) +
                              " reason=unknown_topic detail=\"not for this gateway\"");
        return;
    }
    if (t.kind == topic_kind::srv_cmd) return on_srv_cmd(payload, u);
    return on_srv_ack(payload, u);
}

void gateway_core::on_dock_event(const std::string& dock_id, const std::string& payload,
                                 unit_of_work& u) {
    auto ev = parse_dock_event(payload);
    if (!ev) {
        reject_input("dock_event", ev.error(), "eqm/v1/dock/" + dock_id + "/event");
        if (auto id = readable_id(payload, "event_id"))
            u.acks.push_back({dock_id, *id, outcome::rejected(ev.error().code), false});
        return;
    }
    ++metrics_.messages_processed["dock_event"];
    const auto unavailable = [&] {
        u.acks.push_back({dock_id, ev->event_id, outcome::rejected(errc::unavailable), true});
    };
    if (!ensure_tx(u)) return unavailable();
    const clock_ms now = clock_now();
    auto prior = ledger_.event_result(dock_id, ev->event_id);
    if (!prior) {
        fail_round(u, prior.error());
        return unavailable();
    }
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
    if (!d) {
        fail_round(u, d.error());
        return unavailable();
    }
    const outcome out = d->as_outcome();
    const std::string result_text = to_string(out);
    if (auto r = ledger_.record_event(dock_id, ev->event_id, result_text, now); !r) {
        fail_round(u, r.error());
        return unavailable();
    }
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

void gateway_core::on_device_event(const std::string& device_id, const std::string& payload,
                                   unit_of_work& u) {
    auto ev = parse_device_event(payload);
    if (!ev) {
        reject_input("device_event", ev.error(), "eqm/v1/dev/" + device_id + "/event");
        if (auto id = readable_id(payload, "event_id"))
            u.acks.push_back({device_id, *id, outcome::rejected(ev.error().code), false});
        return;
    }
    ++metrics_.messages_processed["device_event"];
    if (!ensure_tx(u)) {
        u.acks.push_back({device_id, ev->event_id, outcome::rejected(errc::unavailable), true});
        return;
    }
    const clock_ms now = clock_now();
    auto prior = ledger_.event_result(device_id, ev->event_id);
    if (prior && *prior) {
        ++metrics_.replays;
        auto o = parse_outcome(**prior, "result");
        u.acks.push_back({device_id, ev->event_id, o ? *o : outcome::ok(), false});
        return;
    }
    auto seen = prior ? ledger_.note_device_seen(device_id, now) : std::unexpected(prior.error());
    auto rec = seen ? ledger_.record_event(device_id, ev->event_id, "ok", now)
                    : std::unexpected(seen.error());
    if (!rec) {
        fail_round(u, rec.error());
        u.acks.push_back({device_id, ev->event_id, outcome::rejected(errc::unavailable), true});
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

void gateway_core::on_device_state(const std::string& device_id, const std::string& payload,
                                   unit_of_work& u) {
    auto st = parse_device_state(payload);
    if (!st) return reject_input("device_state", st.error(), "eqm/v1/dev/" + device_id + "/state");
    ++metrics_.messages_processed["device_state"];
    if (!ensure_tx(u)) return;
    const clock_ms now = clock_now();
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

void gateway_core::on_srv_cmd(const std::string& payload, unit_of_work& u) {
    auto cmd = parse_srv_cmd(payload);
    const clock_ms now = clock_now();
    if (!cmd) {
        reject_input("srv_cmd", cmd.error(), "eqm/v1/city/" + config_.city + "/srv/cmd");
        // Tell the server, when it can still tell which command this was.
        auto id = readable_id(payload, "cmd_id");
        auto type_name = readable_id(payload, "type");
        auto type = type_name ? parse_srv_cmd_type(*type_name) : std::nullopt;
        if (id && type && ensure_tx(u)) {
            std::string detail = cmd.error().describe();
            if (detail.size() > max_detail_chars) detail.resize(max_detail_chars);
            command_result_body body{*id, *type, outcome::rejected(cmd.error().code), detail,
                                     std::nullopt};
            if (auto r = outbox_.append(gw_event_kind::command_result, now, to_json(body).dump());
                !r)
                fail_round(u, r.error());
        }
        return;
    }
    ++metrics_.messages_processed["srv_cmd"];
    if (!ensure_tx(u)) return;  // the server keeps the command until it sees a result
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

void gateway_core::on_srv_ack(const std::string& payload, unit_of_work& u) {
    auto ack_msg = parse_srv_ack(payload);
    if (!ack_msg)
        return reject_input("srv_ack", ack_msg.error(), "eqm/v1/city/" + config_.city + "/srv/ack");
    ++metrics_.messages_processed["srv_ack"];
    if (!ensure_tx(u)) return;  // the server acks again with the next batch
    if (auto r = outbox_.on_ack(*ack_msg); !r) fail_round(u, r.error());
}

void gateway_core::finish(unit_of_work& u) {
    if (u.tx && !u.failure && !u.alert_devices.empty()) {
        std::sort(u.alert_devices.begin(), u.alert_devices.end());
        u.alert_devices.erase(std::unique(u.alert_devices.begin(), u.alert_devices.end()),
                              u.alert_devices.end());
        const clock_ms now = clock_now();
        for (const auto& id : u.alert_devices) {
            auto f = facts_for(id);
            auto r = f ? alerts_.evaluate(id, *f, now) : std::unexpected(f.error());
            if (!r) {
                fail_round(u, r.error());
                break;
            }
        }
    }
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

void gateway_core::publish_acks(unit_of_work& u) {
    if (u.acks.empty()) return;
    const clock_ms now = clock_now();
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
        const std::string topic_text = "eqm/v1/ack/" + client;
        if (local_publish_ && local_publish_(topic_text, to_json_text(msg))) {
            ++metrics_.acks_published;
        } else {
            ++metrics_.ack_publish_failures;
            log_warn("mqtt", "ack not published client=" + log_value(client) + " events=" +
                                 std::to_string(msg.event_ids.size()) + " (the sender will retry)");
        }
    }
}

void gateway_core::periodic(clock_ms now) {
    const auto t = steady::now();
    if (t - last_flush_ >= flush_interval) {
        last_flush_ = t;
        flush_telemetry(now);
    }
    if (t - last_sweep_ >= sweep_interval) {
        last_sweep_ = t;
        sweep_alerts(now);
    }
    if (t - last_prune_ >= prune_interval) {
        last_prune_ = t;
        prune(now);
    }
}

void gateway_core::flush_telemetry(clock_ms now) {
    if (!telemetry_.pending() && seen_.empty()) return;
    unit_of_work u;
    if (!ensure_tx(u)) {
        ++metrics_.telemetry_flush_failures;
        return;
    }
    auto work = [&]() -> result<void> {
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
    };
    auto r = work();
    if (r) r = u.tx->commit();
    if (!r) {
        ++metrics_.telemetry_flush_failures;
        log_warn("telemetry", "flush failed, retrying later: " + r.error().describe());
        if (u.tx) (void)u.tx->rollback();
        u.tx.reset();
        reload_after_rollback();
        return;
    }
    u.tx.reset();
    telemetry_.flush_committed();
    outbox_.committed();
    seen_.clear();
}

void gateway_core::sweep_alerts(clock_ms now) {
    unit_of_work u;
    if (!ensure_tx(u)) return;
    auto work = [&]() -> result<void> {
        // Row by row from the cursor (alerts are another table), not 10,000 rows at once.
        return ledger_.for_each_device(
            std::nullopt, [&](const device_row& dev, const custody_row& row) -> result<bool> {
                const std::optional<device_row> d = dev;
                EQM_TRY(
                    alerts_.evaluate(dev.id, build_facts(d, row, telemetry_.find(dev.id)), now));
                return true;
            });
    };
    auto r = work();
    if (r) r = u.tx->commit();
    if (!r) {
        log_warn("alert", "sweep failed: " + r.error().describe());
        if (u.tx) (void)u.tx->rollback();
        u.tx.reset();
        reload_after_rollback();
        return;
    }
    u.tx.reset();
    outbox_.committed();
}

void gateway_core::prune(clock_ms now) {
    unit_of_work u;
    if (!ensure_tx(u)) return;
    const auto retention = std::chrono::days{config_.telemetry_retention_days};
    auto work = [&]() -> result<std::int64_t> {
        EQM_TRY_LET(n, ledger_.prune_minutes(now - retention));
        EQM_TRY(ledger_.prune_processed(now - std::max(retention, min_replay_window)));
        return n;
    };
    auto r = work();
    if (r) {
        if (auto c = u.tx->commit(); !c) r = std::unexpected(c.error());
    }
    u.tx.reset();
    if (!r)
        log_warn("telemetry", "retention pruning failed: " + r.error().describe());
    else if (*r > 0)
        log_info("telemetry", "pruned minute aggregates count=" + std::to_string(*r));
}

}  // namespace eqm::gateway
