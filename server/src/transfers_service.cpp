// Transfers: creation against the registry, approval and cancellation with their orders to the
// gateways, and what the ingest's hand-overs and arrivals do (see transfers_service.hpp).
#include "transfers_service.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"
#include "event_feed.hpp"
#include "paging.hpp"

namespace eqm::server {
namespace {

using nlohmann::json;

constexpr std::size_t transfer_id_random_bytes = 6;
/// Available units of a class read to serve a count (a city holds far fewer).
constexpr std::size_t count_candidates_limit = 5000;

bool may_plan(const user_account& u) noexcept {
    return u.role == person_role::dispatcher || u.role == person_role::admin;
}

std::string item_path(std::size_t i, std::string_view field) {
    return "items[" + std::to_string(i) + "]." + std::string(field);
}

/// What a batch of requests already takes, so two requests cannot promise the same unit.
struct claimed_units {
    std::set<std::string> devices;
    /// (city, class, analyte) -> units counted so far
    std::map<std::tuple<std::string, device_class, std::optional<analyte>>, std::size_t> counts;
};

result<transfer_unit> check_named(api_context& ctx, const transfer_request& r, std::size_t i,
                                  claimed_units& claimed) {
    const auto& id = *r.items[i].device_id;
    const auto field = item_path(i, "device_id");
    EQM_TRY_LET(d, ctx.store->find_device(id));
    if (!d) return fail(errc::bad_field, field, "unknown device " + id);
    if (d->record.city != r.from_city)
        return fail(
            errc::bad_field, field,
            "device " + id + " is registered to city " + d->record.city + ", not " + r.from_city);
    if (d->status != custody_state::available)
        return fail(
            errc::bad_field, field,
            "device " + id + " is " + std::string(to_string(d->status)) + ", not available");
    if (!claimed.devices.insert(id).second)
        return fail(errc::conflict, field, "device " + id + " is in another transfer already");
    const std::string ids[] = {id};
    EQM_TRY_LET(busy, ctx.store->devices_in_open_transfers(ids));
    if (!busy.empty())
        return fail(errc::conflict, field, "device " + id + " is in another open transfer");
    return transfer_unit{id, d->record.cls, d->record.analyte, transfer_unit_state::ordered, {}, {},
                         {}};
}

/// Units of the class at `from_city` that are available and in no open transfer.
result<std::size_t> free_units(api_context& ctx, const transfer_request& r,
                               const transfer_item& item, const claimed_units& claimed) {
    device_filter f;
    f.city = r.from_city;
    f.cls = std::string(to_string(*item.cls));
    f.status = std::string(to_string(custody_state::available));
    EQM_TRY_LET(list, ctx.store->list_devices(f, page_query{count_candidates_limit, {}}));
    std::vector<std::string> ids;
    for (const auto& d : list.items) {
        if (item.analyte_type && d.record.analyte != item.analyte_type) continue;
        if (!claimed.devices.contains(d.record.id)) ids.push_back(d.record.id);
    }
    EQM_TRY_LET(busy, ctx.store->devices_in_open_transfers(ids));
    return ids.size() - busy.size();
}

result<void> check_count(api_context& ctx, const transfer_request& r, std::size_t i,
                         claimed_units& claimed) {
    const auto& item = r.items[i];
    EQM_TRY_LET(free, free_units(ctx, r, item, claimed));
    auto& taken = claimed.counts[{r.from_city, *item.cls, item.analyte_type}];
    if (taken + item.count > free) {
        std::string what(to_string(*item.cls));
        if (item.analyte_type) what += " (" + std::string(to_string(*item.analyte_type)) + ")";
        return fail(errc::conflict, item_path(i, "count"),
                    "city " + r.from_city + " has " + std::to_string(free - std::min(free, taken)) +
                        " available " + what + " units free of other transfers, " +
                        std::to_string(item.count) + " asked");
    }
    taken += item.count;
    return {};
}

result<transfer_view> check_request(api_context& ctx, const transfer_request& r,
                                    const user_account& actor, clock_ms now,
                                    claimed_units& claimed) {
    transfer_view t;
    t.id = "tr-" + random_hex(transfer_id_random_bytes);
    t.from_city = r.from_city;
    t.to_city = r.to_city;
    t.items = r.items;
    t.due = r.due;
    t.reason = r.reason;
    t.created_by = actor.id;
    t.created_at = t.updated_at = now;
    for (std::size_t i = 0; i < r.items.size(); ++i) {
        if (r.items[i].device_id) {
            EQM_TRY_LET(unit, check_named(ctx, r, i, claimed));
            t.units.push_back(std::move(unit));
        } else {
            EQM_TRY(check_count(ctx, r, i, claimed));
        }
    }
    return t;
}

void publish(api_context& ctx, const transfer_view& t) {
    if (ctx.hub) publish_transfer(*ctx.hub, t);
}

transfer_order_cmd order(const transfer_view& t, transfer_step step) {
    transfer_order_cmd c;
    c.transfer_id = t.id;
    c.from_city = t.from_city;
    c.to_city = t.to_city;
    c.step = step;
    return c;
}

/// Tells the destination a unit is coming, with its registry record as it will be there.
void announce_arrival(api_context& ctx, const transfer_view& t, const std::string& device_id) {
    auto c = order(t, transfer_step::receive);
    c.device_id = device_id;
    if (auto d = ctx.store->find_device(device_id); d && *d) {
        c.device = (*d)->record;
        c.device->city = t.to_city;
    }
    if (auto r = ctx.link->send_command(t.to_city, std::move(c)); !r)
        log_error("transfer", "cannot order receive transfer=" + log_value(t.id) +
                                  " device=" + log_value(device_id) +
                                  " error=" + log_value(r.error().describe()));
}

result<void> send_orders(api_context& ctx, const transfer_view& t) {
    for (const auto& u : t.units) {
        auto c = order(t, transfer_step::hand_over);
        c.device_id = u.device_id;
        EQM_TRY(ctx.link->send_command(t.from_city, std::move(c)));
        announce_arrival(ctx, t, u.device_id);
    }
    for (const auto& item : t.items) {
        if (item.device_id) continue;
        auto c = order(t, transfer_step::hand_over);
        c.cls = item.cls;
        c.count = item.count;
        c.analyte_type = item.analyte_type;
        EQM_TRY(ctx.link->send_command(t.from_city, std::move(c)));
    }
    return {};
}

void approve_in_place(transfer_view& t, const user_account& actor, clock_ms now) {
    t.status = transfer_status::approved;
    t.approved_by = actor.id;
    t.approved_at = now;
    t.updated_at = now;
}

}  // namespace

bool may_read_transfer(const user_account& reader, const transfer_view& t) noexcept {
    if (may_plan(reader)) return true;
    if (reader.role != person_role::custodian || !reader.city) return false;
    return *reader.city == t.from_city || *reader.city == t.to_city;
}

result<transfer_view> readable_transfer(api_context& ctx, std::string_view id,
                                        const user_account& reader) {
    EQM_TRY_LET(t, ctx.store->find_transfer(id));
    if (!t) return fail(errc::not_found, "id", "no transfer " + std::string(id));
    if (!may_read_transfer(reader, *t))
        return fail(errc::forbidden, "id", "transfer " + t->id + " is not of your city");
    return std::move(*t);
}

result<std::vector<transfer_view>> create_transfers(api_context& ctx,
                                                    std::span<const transfer_request> requests,
                                                    const user_account& actor,
                                                    transfer_start start) {
    if (!may_plan(actor))
        return fail(errc::forbidden, "role", "only a dispatcher or an admin moves equipment");
    const auto now = ctx.clock();
    claimed_units claimed;
    std::vector<transfer_view> out;
    for (const auto& r : requests) {
        if (r.due <= now) return fail(errc::bad_field, "due", "must be in the future");
        EQM_TRY_LET(t, check_request(ctx, r, actor, now, claimed));
        if (start == transfer_start::approved) approve_in_place(t, actor, now);
        out.push_back(std::move(t));
    }
    EQM_TRY(ctx.store->insert_transfers(out));
    for (const auto& t : out) {
        log_info("transfer",
                 "created id=" + log_value(t.id) + " from=" + t.from_city + " to=" + t.to_city +
                     " status=" + std::string(to_string(t.status)) + " by=" + log_value(actor.id));
        if (t.status == transfer_status::approved) EQM_TRY(send_orders(ctx, t));
        publish(ctx, t);
    }
    return out;
}

result<transfer_view> approve_transfer(api_context& ctx, std::string_view id,
                                       const user_account& actor) {
    if (!may_plan(actor))
        return fail(errc::forbidden, "role", "only a dispatcher or an admin approves transfers");
    EQM_TRY_LET(t, readable_transfer(ctx, id, actor));
    const auto now = ctx.clock();
    approve_in_place(t, actor, now);
    const transfer_status expected[] = {transfer_status::requested};
    EQM_TRY(ctx.store->update_transfer(t, expected));
    log_info("transfer", "approved id=" + log_value(t.id) + " by=" + log_value(actor.id));
    EQM_TRY(send_orders(ctx, t));
    publish(ctx, t);
    return t;
}

result<transfer_view> cancel_transfer(api_context& ctx, std::string_view id,
                                      const user_account& actor) {
    if (!may_plan(actor))
        return fail(errc::forbidden, "role", "only a dispatcher or an admin cancels transfers");
    EQM_TRY_LET(t, readable_transfer(ctx, id, actor));
    for (const auto& u : t.units)
        if (u.state != transfer_unit_state::ordered)
            return fail(errc::conflict, "status",
                        "device " + u.device_id +
                            " was handed over already; a transfer is "
                            "cancelled only before its hand-over");
    const bool ordered = t.status == transfer_status::approved;
    t.status = transfer_status::cancelled;
    t.cancelled_by = actor.id;
    t.updated_at = ctx.clock();
    for (auto& u : t.units) u.state = transfer_unit_state::cancelled;
    const transfer_status expected[] = {transfer_status::requested, transfer_status::approved};
    EQM_TRY(ctx.store->update_transfer(t, expected));
    log_info("transfer", "cancelled id=" + log_value(t.id) + " by=" + log_value(actor.id));
    if (ordered) {
        EQM_TRY(ctx.link->send_command(t.from_city, order(t, transfer_step::cancel)));
        EQM_TRY(ctx.link->send_command(t.to_city, order(t, transfer_step::cancel)));
    }
    publish(ctx, t);
    return t;
}

namespace {

/// How often the overdue sweep looks (it runs on the ingest thread between rounds).
constexpr std::chrono::seconds overdue_check_interval{5};

/// The units a source gateway picked for a count: recorded, and announced to the destination.
void record_picked(api_context& ctx, const command_result_body& r) {
    if (r.type != srv_cmd_type::transfer_order || !r.result.is_ok() || !r.devices) return;
    auto payload = ctx.store->command_payload(r.cmd_id);
    if (!payload || !*payload) return;
    auto cmd = parse_srv_cmd(**payload);
    if (!cmd) return;
    const auto* order_cmd = std::get_if<transfer_order_cmd>(&cmd->body);
    if (!order_cmd) return;
    auto t = ctx.store->find_transfer(order_cmd->transfer_id);
    if (!t || !*t) return;
    transfer_view v = std::move(**t);
    for (const auto& id : *r.devices) {
        transfer_unit u;
        u.device_id = id;
        u.cls = order_cmd->cls.value_or(device_class::body_camera);
        u.analyte_type = order_cmd->analyte_type;
        v.units.push_back(std::move(u));
    }
    v.updated_at = ctx.clock();
    const transfer_status open[] = {transfer_status::approved, transfer_status::in_transit,
                                    transfer_status::overdue};
    if (auto w = ctx.store->update_transfer(v, open); !w) {
        log_error("transfer", "cannot record picked units transfer=" + log_value(v.id) +
                                  " error=" + log_value(w.error().describe()));
        return;
    }
    log_info("transfer",
             "picked transfer=" + log_value(v.id) + " units=" + std::to_string(r.devices->size()));
    for (const auto& id : *r.devices) announce_arrival(ctx, v, id);
    if (auto fresh = ctx.store->find_transfer(v.id); fresh && *fresh) publish(ctx, **fresh);
}

/// A hand-over or an arrival: the transfer is published; an arrival's device follows in both
/// cities' registries.
void follow_move(api_context& ctx, const transfer_move& m) {
    auto t = ctx.store->find_transfer(m.transfer_id);
    if (!t || !*t) return;
    log_info("transfer", std::string(to_string(m.action)) + " transfer=" +
                             log_value(m.transfer_id) + " device=" + log_value(m.device_id) +
                             " status=" + std::string(to_string((*t)->status)));
    if (m.action == custody_action::transfer_in) {
        if (auto d = ctx.store->find_device(m.device_id); d && *d) {
            for (const auto& city : {(*t)->from_city, (*t)->to_city}) {
                registry_upsert_cmd c;
                c.devices.push_back((*d)->record);
                (void)ctx.link->send_command(city, std::move(c));
            }
        }
    }
    publish(ctx, **t);
}

void mark_overdue(api_context& ctx) {
    const auto now = ctx.clock();
    auto due = ctx.store->transfers_past_due(now);
    if (!due) return;
    for (auto& t : *due) {
        t.status = transfer_status::overdue;
        t.updated_at = now;
        const transfer_status open[] = {transfer_status::approved, transfer_status::in_transit};
        if (!ctx.store->update_transfer(t, open)) continue;
        alert_view a;
        a.id = "transfer-" + t.id;
        a.city = t.to_city;
        a.type = alert_type::transfer_overdue;
        a.state = alert_state::raised;
        a.severity = alert_severity::warning;
        a.detail = "transfer " + t.id + " from " + t.from_city + " to " + t.to_city +
                   " was due at " + format_timestamp(t.due) + " and has not arrived";
        a.raised_at = a.updated_at = now;
        log_warn("transfer", "overdue transfer=" + log_value(t.id));
        if (auto raised = ctx.store->raise_server_alert(a); raised && ctx.hub)
            publish_alert(*ctx.hub, *raised);
        publish(ctx, t);
    }
}

}  // namespace

void watch_transfers(api_context& ctx) {
    ctx.link->on_commit([c = &ctx](const batch_outcome& out) {
        for (const auto& r : out.command_results) record_picked(*c, r);
        for (const auto& m : out.transfer_moves) follow_move(*c, m);
    });
    auto next = std::make_shared<std::chrono::steady_clock::time_point>();
    ctx.link->on_housekeeping([c = &ctx, next] {
        const auto now = std::chrono::steady_clock::now();
        if (now < *next) return;
        *next = now + overdue_check_interval;
        mark_overdue(*c);
    });
}

}  // namespace eqm::server
