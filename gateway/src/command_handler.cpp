#include "command_handler.hpp"

#include <algorithm>

#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {

command_result_body ok_result(const std::string& cmd_id, srv_cmd_type type,
                              std::optional<std::string> detail = std::nullopt) {
    return command_result_body{cmd_id,       type,        outcome::ok(), std::move(detail),
                               std::nullopt, std::nullopt};
}

command_result_body refused_result(const std::string& cmd_id, srv_cmd_type type, const error& e) {
    std::string detail = e.describe();
    if (detail.size() > max_detail_chars) detail.resize(max_detail_chars);
    return command_result_body{cmd_id, type,         outcome::rejected(e.code),
                               detail, std::nullopt, std::nullopt};
}

}  // namespace

command_handler::command_handler(city_ledger& ledger, custody_desk& desk,
                                 const gateway_config& config)
    : ledger_(ledger), desk_(desk), config_(config) {}

result<command_result_body> command_handler::apply(const srv_cmd& cmd, clock_ms now,
                                                   command_effects& effects) {
    return std::visit(
        [&](const auto& body) -> result<command_result_body> {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, registry_upsert_cmd>) {
                return registry(cmd, body);
            } else if constexpr (std::is_same_v<T, reservation_upsert_cmd>) {
                if (auto v = validate(body.reservation); !v)
                    return refused_result(cmd.cmd_id, cmd.type(), v.error());
                EQM_TRY(ledger_.upsert_reservation(body.reservation));
                return ok_result(cmd.cmd_id, cmd.type());
            } else if constexpr (std::is_same_v<T, reservation_cancel_cmd>) {
                EQM_TRY_LET(found, ledger_.cancel_reservation(body.reservation_id));
                return ok_result(cmd.cmd_id, cmd.type(),
                                 found ? std::nullopt
                                       : std::optional<std::string>{"unknown reservation; nothing "
                                                                    "to cancel"});
            } else if constexpr (std::is_same_v<T, transfer_order_cmd>) {
                return transfer(cmd.cmd_id, body, now, effects);
            } else if constexpr (std::is_same_v<T, device_lock_cmd>) {
                return lock(cmd.cmd_id, body, now, effects);
            } else {
                return custody(cmd.cmd_id, body, now, effects);
            }
        },
        cmd.body);
}

result<registry_upserted> command_handler::upsert_records(const registry_upsert_cmd& c) {
    registry_upserted out;
    for (const auto& d : c.devices) {
        if (d.city != config_.city) {
            // A device that moved to another city (a transfer's arrival) leaves this registry.
            EQM_TRY_LET(known, ledger_.find_device(d.id));
            if (known && known->registered) EQM_TRY(ledger_.device_left(d));
            ++out.other_city;
            continue;
        }
        EQM_TRY(ledger_.upsert_device(d));
        out.devices.push_back(d.id);
    }
    for (const auto& p : c.people) {
        EQM_TRY(ledger_.upsert_person(p));
        out.people.push_back(p.id);
    }
    return out;
}

std::string command_handler::describe(const registry_upserted& r) {
    std::string detail = "devices=" + std::to_string(r.devices.size()) +
                         " people=" + std::to_string(r.people.size());
    if (r.other_city) detail += " ignored_other_city=" + std::to_string(r.other_city);
    return detail;
}

result<command_result_body> command_handler::registry(const srv_cmd& cmd,
                                                      const registry_upsert_cmd& c) {
    if (c.sync_id) return registry_part(cmd, c);
    EQM_TRY_LET(upserted, upsert_records(c));
    std::string detail = describe(upserted);
    if (c.full_sync.value_or(false)) {
        EQM_TRY(ledger_.unregister_devices_except(upserted.devices));
        EQM_TRY(ledger_.delete_people_except(upserted.people));
        detail += " full_sync";
    }
    log_info("registry", "upsert cmd=" + log_value(cmd.cmd_id) + " " + detail);
    return ok_result(cmd.cmd_id, srv_cmd_type::registry_upsert, detail);
}

result<command_result_body> command_handler::registry_part(const srv_cmd& cmd,
                                                           const registry_upsert_cmd& c) {
    const std::string& sync_id = *c.sync_id;
    const auto ignored = [&](const std::string& why) {
        log_info("registry", "sync part ignored cmd=" + log_value(cmd.cmd_id) +
                                 " sync_id=" + log_value(sync_id) +
                                 " part=" + std::to_string(*c.part) + " reason=" + log_value(why));
        return ok_result(cmd.cmd_id, srv_cmd_type::registry_upsert,
                         "full_sync " + sync_id + " part " + std::to_string(*c.part) + ": " + why +
                             "; nothing changed");
    };
    EQM_TRY_LET(mine, ledger_.find_sync(sync_id));
    if (mine && mine->completed) return ignored("that sync is already complete");
    if (mine && mine->parts != *c.parts)
        return refused_result(cmd.cmd_id, srv_cmd_type::registry_upsert,
                              error{errc::bad_field, "parts",
                                    "sync " + sync_id + " has " + std::to_string(mine->parts) +
                                        " parts, this part says " + std::to_string(*c.parts)});
    if (!mine) {
        // A part of an older sync arriving late must not undo a newer one.
        EQM_TRY_LET(latest, ledger_.latest_sync());
        if (latest && latest->started > cmd.ts)
            return ignored("superseded by the newer sync " + latest->sync_id);
        if (latest && !latest->completed)
            log_info("registry", "sync superseded sync_id=" + log_value(latest->sync_id) +
                                     " by=" + log_value(sync_id));
        EQM_TRY(ledger_.start_sync(sync_id, *c.parts, cmd.ts));
    }
    EQM_TRY_LET(upserted, upsert_records(c));
    EQM_TRY_LET(held, ledger_.add_sync_part(sync_id, *c.part, upserted.devices, upserted.people));
    std::string detail = describe(upserted) + " full_sync " + sync_id + " part " +
                         std::to_string(*c.part) + "/" + std::to_string(*c.parts);
    if (held == *c.parts) {
        EQM_TRY(ledger_.complete_sync(sync_id));
        detail += " complete";
    } else {
        detail += " held=" + std::to_string(held);
    }
    log_info("registry", "upsert cmd=" + log_value(cmd.cmd_id) + " " + detail);
    return ok_result(cmd.cmd_id, srv_cmd_type::registry_upsert, detail);
}

result<command_result_body> command_handler::transfer(const std::string& cmd_id,
                                                      const transfer_order_cmd& c, clock_ms now,
                                                      command_effects& effects) {
    constexpr auto type = srv_cmd_type::transfer_order;
    if (c.step == transfer_step::cancel) {
        EQM_TRY_LET(n, ledger_.remove_transfer_orders(c.transfer_id, c.device_id));
        log_info("transfer", "cancel transfer=" + log_value(c.transfer_id) +
                                 " orders_withdrawn=" + std::to_string(n));
        return ok_result(cmd_id, type, "withdrew " + std::to_string(n) + " order(s)");
    }
    const bool hand_over = c.step == transfer_step::hand_over;
    const std::string& expected_city = hand_over ? c.from_city : c.to_city;
    if (expected_city != config_.city)
        return refused_result(cmd_id, type,
                              error{errc::bad_field, hand_over ? "from_city" : "to_city",
                                    "this gateway serves city " + config_.city});
    if (hand_over && !c.device_id) return pick_units(cmd_id, c, now);
    if (hand_over) {
        EQM_TRY_LET(dev, ledger_.find_device(*c.device_id));
        if (!dev || !dev->registered)
            return refused_result(cmd_id, type,
                                  error{errc::unregistered, "device_id",
                                        "device " + *c.device_id + " is not in this city"});
    }
    transfer_order_row o{c.transfer_id, *c.device_id, c.step, c.from_city, c.to_city, c.device};
    if (o.device) o.device->city = config_.city;
    EQM_TRY(ledger_.add_transfer_order(o));
    effects.devices.push_back(*c.device_id);
    log_info("transfer", std::string(to_string(c.step)) + " ordered transfer=" +
                             log_value(c.transfer_id) + " device=" + log_value(*c.device_id));
    return ok_result(cmd_id, type,
                     hand_over ? "waiting for the courier's badge at a dock or the counter"
                               : "expected at a dock of this city");
}

result<command_result_body> command_handler::pick_units(const std::string& cmd_id,
                                                        const transfer_order_cmd& c, clock_ms now) {
    constexpr auto type = srv_cmd_type::transfer_order;
    const auto wanted = static_cast<std::size_t>(c.count.value_or(0));
    EQM_TRY_LET(ids, ledger_.transfer_candidates(*c.cls, c.analyte_type));
    if (ids.size() < wanted)
        return refused_result(
            cmd_id, type,
            error{errc::conflict, "count",
                  "the city has " + std::to_string(ids.size()) + " available units of the class, " +
                      std::to_string(wanted) + " asked"});
    // Readiest first: ready units before the others, then the fullest battery.
    struct ranked {
        std::string id;
        bool ready = false;
        double battery = 0;
    };
    std::vector<ranked> units;
    for (auto& id : ids) {
        EQM_TRY_LET(row, ledger_.load_custody(id));
        EQM_TRY_LET(snap, desk_.snapshot(id, row));
        const bool ready = assess_readiness(snap, {}, config_.readiness, now).ready();
        units.push_back(ranked{std::move(id), ready, snap.battery_pct.value_or(0)});
    }
    std::stable_sort(units.begin(), units.end(), [](const ranked& a, const ranked& b) {
        if (a.ready != b.ready) return a.ready;
        return a.battery > b.battery;
    });
    units.resize(wanted);
    auto r = ok_result(cmd_id, type, "picked " + std::to_string(wanted) + " unit(s)");
    r.devices.emplace();
    for (const auto& u : units) {
        EQM_TRY(ledger_.add_transfer_order(transfer_order_row{
            c.transfer_id, u.id, transfer_step::hand_over, c.from_city, c.to_city, {}}));
        r.devices->push_back(u.id);
    }
    log_info("transfer", "hand_over picked transfer=" + log_value(c.transfer_id) +
                             " units=" + std::to_string(wanted));
    return r;
}

result<command_result_body> command_handler::lock(const std::string& cmd_id,
                                                  const device_lock_cmd& c, clock_ms now,
                                                  command_effects& effects) {
    EQM_TRY_LET(row, ledger_.load_custody(c.device_id));
    row.custody.locked = c.locked;
    row.lock_reason = c.locked ? c.reason : std::nullopt;
    EQM_TRY(ledger_.save_custody(c.device_id, row));
    device_cmd dc;
    dc.cmd_id = cmd_id;
    dc.ts = now;
    dc.type = c.locked ? device_cmd_type::lock : device_cmd_type::unlock;
    if (c.locked) dc.reason = c.reason;
    effects.local_messages.emplace_back(format_topic({topic_kind::device_cmd, c.device_id}),
                                        to_json_text(dc));
    effects.devices.push_back(c.device_id);
    log_info("custody", std::string(c.locked ? "lock" : "unlock") +
                            " device=" + log_value(c.device_id) + " cmd=" + log_value(cmd_id));
    return ok_result(cmd_id, srv_cmd_type::device_lock);
}

result<command_result_body> command_handler::custody(const std::string& cmd_id,
                                                     const custody_request_cmd& c, clock_ms now,
                                                     command_effects& effects) {
    // The requester stopped waiting at expires_at and its client was told so: acting now
    // would check a device out that nobody is waiting for.
    if (c.expires_at && now > *c.expires_at) {
        log_warn("custody", std::string(to_string(c.action)) + " device=" + log_value(c.device_id) +
                                " cmd=" + log_value(cmd_id) +
                                " result=rejected:expired expires_at=" +
                                format_timestamp(*c.expires_at) + " now=" + format_timestamp(now));
        return refused_result(cmd_id, srv_cmd_type::custody_request,
                              error{errc::expired, "expires_at",
                                    "the request expired at " + format_timestamp(*c.expires_at) +
                                        " and was not carried out"});
    }
    if (c.action != custody_action::checkout && c.action != custody_action::checkin)
        return refused_result(cmd_id, srv_cmd_type::custody_request,
                              error{errc::bad_field, "action", "must be checkout or checkin"});
    if (c.action == custody_action::checkout && !c.badge)
        return refused_result(cmd_id, srv_cmd_type::custody_request,
                              error{errc::bad_field, "badge", "is required for a checkout"});
    custody_input in;
    in.device_id = c.device_id;
    in.action = c.action;
    in.badge = c.badge;
    in.actor = c.actor;
    in.due = c.due;
    in.condition = c.condition;
    in.note = c.note;
    in.source = custody_source::server;
    in.request_id = cmd_id;
    EQM_TRY_LET(d, desk_.decide(in, now));
    effects.devices.push_back(c.device_id);
    log_info("custody", std::string(to_string(c.action)) + " device=" + log_value(c.device_id) +
                            " cmd=" + log_value(cmd_id) + " result=" + to_string(d.as_outcome()));
    if (d.refusal) return refused_result(cmd_id, srv_cmd_type::custody_request, *d.refusal);
    auto r = ok_result(cmd_id, srv_cmd_type::custody_request);
    if (d.record) r.record_index = d.record->index;
    return r;
}

}  // namespace eqm::gateway
