#include "custody_desk.hpp"

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {

custody_decision refused(error e) {
    return custody_decision{std::move(e), std::nullopt};
}

std::string_view source_actor(custody_source s) {
    switch (s) {
        case custody_source::dock:
            return "dock";
        case custody_source::api:
            return "kiosk";
        case custody_source::server:
            return "server";
    }
    return "gateway";
}

}  // namespace

custody_desk::custody_desk(city_ledger& ledger, outbox_pump& outbox,
                           const telemetry_cache& telemetry, const gateway_config& config)
    : ledger_(ledger), outbox_(outbox), telemetry_(telemetry), config_(config) {}

result<void> custody_desk::reload() {
    EQM_TRY_LET(head, ledger_.ledger_head());
    next_index_ = head.first;
    head_hash_ = std::move(head.second);
    return {};
}

result<device_snapshot> custody_desk::snapshot(const std::string& device_id,
                                               const custody_row& custody) {
    EQM_TRY_LET(dev, ledger_.find_device(device_id));
    device_snapshot s;
    s.id = device_id;
    s.registered = dev && dev->registered;
    if (dev && dev->cls) s.cls = *dev->cls;
    s.custody = custody.custody;
    const auto* t = telemetry_.find(device_id);
    s.calibration_due = effective_calibration_due(dev ? dev->calibration_due : std::nullopt, t);
    if (t) {
        s.battery_pct = t->battery_pct;
        s.footage_pending_since = t->footage_pending_since;
    }
    return s;
}

result<custody_decision> custody_desk::decide(const custody_input& in, clock_ms now) {
    EQM_TRY_LET(row, ledger_.load_custody(in.device_id));
    std::optional<person_record> person;
    if (in.badge) {
        EQM_TRY_LET(p, ledger_.find_person_by_badge(*in.badge));
        person = std::move(p);
    }
    if (in.action == custody_action::checkout && row.custody.state == custody_state::available) {
        EQM_TRY_LET(order, ledger_.transfer_order_of(in.device_id, transfer_step::hand_over));
        if (order) return hand_over(in, *order, std::move(row), person, now);
    }
    if (in.action == custody_action::checkin || in.action == custody_action::transfer_in) {
        EQM_TRY_LET(order, ledger_.transfer_order_of(in.device_id, transfer_step::receive));
        if (order) return receive(in, *order, std::move(row), now);
    }
    custody_command cmd;
    cmd.action = in.action;
    cmd.due = in.due;
    cmd.condition = in.condition;
    cmd.transfer_id = in.transfer_id;
    cmd.override_holder = in.override_holder;

    if (in.action == custody_action::checkout) {
        EQM_TRY_LET(snap, snapshot(in.device_id, row));
        EQM_TRY_LET(reservations, ledger_.device_reservations(in.device_id));
        if (auto ok = check_checkout(snap, person ? &*person : nullptr, config_.city, reservations,
                                     config_.readiness, now);
            !ok)
            return refused(ok.error());
        cmd.holder = person->id;
    } else if (in.action == custody_action::checkin) {
        if (person) cmd.holder = person->id;
    } else if (in.action == custody_action::transfer_in &&
               row.custody.state == custody_state::available && !row.custody.transfer_id) {
        // A device arriving from another city has no custody history here yet: it is in
        // transit under this transfer until we receive it.
        EQM_TRY_LET(history, ledger_.device_ledger(in.device_id));
        if (history.empty()) {
            row.custody.state = custody_state::in_transit;
            row.custody.transfer_id = in.transfer_id;
        }
    }
    auto t = apply(row.custody, cmd);
    if (!t) return refused(t.error());
    std::optional<std::string> actor = in.actor;
    if (!actor && person) actor = person->id;
    return record(in, *t, std::move(row), actor, now);
}

result<custody_decision> custody_desk::hand_over(const custody_input& in,
                                                 const transfer_order_row& order, custody_row row,
                                                 const std::optional<person_record>& courier,
                                                 clock_ms now) {
    if (!courier || !courier->is_active())
        return refused(error{errc::badge_unknown, "badge",
                             "the courier's badge is unknown here; the device stays for transfer " +
                                 order.transfer_id});
    custody_input out = in;
    out.action = custody_action::transfer_out;
    out.transfer_id = order.transfer_id;
    custody_command cmd;
    cmd.action = custody_action::transfer_out;
    cmd.transfer_id = order.transfer_id;
    cmd.holder = courier->id;
    auto t = apply(row.custody, cmd);
    if (!t) return refused(t.error());
    EQM_TRY(ledger_.remove_transfer_orders(order.transfer_id, order.device_id));
    log_info("transfer", "hand_over transfer=" + log_value(order.transfer_id) + " device=" +
                             log_value(in.device_id) + " courier=" + log_value(courier->id));
    return record(out, *t, std::move(row), in.actor ? in.actor : courier->id, now);
}

result<custody_decision> custody_desk::receive(const custody_input& in,
                                               const transfer_order_row& order, custody_row row,
                                               clock_ms now) {
    if (order.device) EQM_TRY(ledger_.upsert_device(*order.device));
    // The order proves where the device comes from, whatever this gateway last knew of it.
    row.custody.state = custody_state::in_transit;
    row.custody.transfer_id = order.transfer_id;
    custody_input out = in;
    out.action = custody_action::transfer_in;
    out.transfer_id = order.transfer_id;
    custody_command cmd;
    cmd.action = custody_action::transfer_in;
    cmd.transfer_id = order.transfer_id;
    cmd.condition = in.condition;
    auto t = apply(row.custody, cmd);
    if (!t) return refused(t.error());
    EQM_TRY(ledger_.remove_transfer_orders(order.transfer_id, order.device_id));
    log_info("transfer", "arrived transfer=" + log_value(order.transfer_id) +
                             " device=" + log_value(in.device_id));
    return record(out, *t, std::move(row), in.actor, now);
}

result<custody_decision> custody_desk::record(const custody_input& in, const custody_transition& t,
                                              custody_row row,
                                              const std::optional<std::string>& actor,
                                              clock_ms now) {
    custody_record draft;
    draft.device_id = in.device_id;
    draft.action = in.action;
    draft.from_state = t.from_state;
    draft.to_state = t.to_state;
    draft.holder = t.after.holder;
    draft.actor = actor ? *actor : std::string(source_actor(in.source));
    draft.source = in.source;
    draft.ts = now;
    draft.due = t.after.due;
    draft.dock_id = in.dock_id;
    draft.slot = in.slot;
    draft.request_id = in.request_id;
    draft.condition = in.condition;
    draft.note = in.note;
    draft.transfer_id = in.transfer_id;
    custody_record sealed = seal(std::move(draft), head_hash_, next_index_);

    row.custody = t.after;
    EQM_TRY(ledger_.save_custody(in.device_id, row));
    EQM_TRY(ledger_.append_ledger(sealed));
    EQM_TRY(outbox_.append(gw_event_kind::custody, now, to_json(sealed).dump()));
    head_hash_ = sealed.hash;
    ++next_index_;
    return custody_decision{std::nullopt, std::move(sealed)};
}

result<custody_decision> custody_desk::on_dock_event(const std::string& dock_id,
                                                     const dock_event& ev, clock_ms now) {
    EQM_TRY_LET(dev, ledger_.find_device(ev.device_id));
    if (!dev) EQM_TRY(ledger_.note_device_seen(ev.device_id, now));
    EQM_TRY_LET(row, ledger_.load_custody(ev.device_id));

    custody_input in;
    in.device_id = ev.device_id;
    in.badge = ev.badge;
    in.source = custody_source::dock;
    in.dock_id = dock_id;
    in.slot = ev.slot;
    in.request_id = ev.event_id;

    if (ev.type == dock_event_type::slot_remove) {
        in.action = custody_action::checkout;
        const bool unauthorised = !ev.badge && row.custody.state != custody_state::checked_out;
        // The device has physically left the slot whatever we decide.
        row.docked = false;
        if (unauthorised) row.unauthorised_removal_at = now;
        EQM_TRY(ledger_.save_custody(ev.device_id, row));
        if (!ev.badge) {
            if (!dev || !dev->registered)
                return refused(
                    error{errc::unregistered, "device_id", "the device is not in the registry"});
            return refused(error{errc::badge_unknown, "badge",
                                 "taken from the dock without a badge: unauthorised removal"});
        }
        return decide(in, now);
    }

    // slot_insert: the device is back in a dock.
    row.docked = true;
    row.unauthorised_removal_at.reset();
    EQM_TRY(ledger_.save_custody(ev.device_id, row));
    // A transfer's arrival: the device is expected here, registered or not yet.
    EQM_TRY_LET(arrival, ledger_.transfer_order_of(ev.device_id, transfer_step::receive));
    if (arrival) {
        in.action = custody_action::checkin;
        return decide(in, now);
    }
    // A device the ledger says someone holds is always taken back, even if the registry
    // dropped it meanwhile (full_sync): refusing would leave it "out" while it sits in a dock.
    const bool held =
        row.custody.state == custody_state::checked_out || row.custody.state == custody_state::lost;
    if ((!dev || !dev->registered) && !held)
        return refused(error{errc::unregistered, "device_id", "the device is not in the registry"});
    in.override_holder = true;  // a device physically returned is returned, whoever brought it
    switch (row.custody.state) {
        case custody_state::checked_out:
            in.action = custody_action::checkin;
            break;
        case custody_state::lost:
            in.action = custody_action::found;
            break;
        default:
            // Available, in maintenance, in transit or retired: docking changes no custody.
            return custody_decision{};
    }
    return decide(in, now);
}

}  // namespace eqm::gateway
