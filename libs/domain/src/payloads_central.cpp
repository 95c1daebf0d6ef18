// Payloads of the central broker: gateways <-> server.
#include <algorithm>
#include <array>
#include <limits>

#include "eqm/domain/payloads.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {

using detail::finish;
using detail::json;
using detail::number_json;
using detail::object_reader;

namespace {

constexpr std::string_view class_names = "body_camera, drone, analyzer, dock";
constexpr std::string_view analyte_names = "cod, nh3n, voc, so2, nox, noise";
constexpr std::string_view srv_cmd_type_names =
    "registry_upsert, reservation_upsert, reservation_cancel, transfer_order, device_lock, "
    "custody_request";

template <class T>
result<T> parse_with(std::string_view text, result<T> (*from)(const json&, std::string_view)) {
    return detail::parse_with(text, max_payload_bytes, from);
}

result<outcome> to_outcome(const json& j, const std::string& path) {
    if (!j.is_string()) return detail::wrong_type(path, "a string");
    return parse_outcome(j.get_ref<const std::string&>(), path);
}

result<custody_record> from_json_custody(const json& j, std::string_view path) {
    return parse_custody_record(j, path);
}

}  // namespace

// --- gw_state --------------------------------------------------------------------------------

result<gw_state> from_json_gw_state(const json& j, std::string_view path) {
    object_reader r(j, path, "gw_state");
    gw_state v;
    r.req("ts", v.ts, detail::ts());
    r.req("online", v.online, detail::boolean());
    r.req("bd_seq", v.bd_seq, detail::uint());
    if (!r.ok()) {
        r.allow({"gw_id", "version"});
    } else if (v.online) {
        r.req_into("gw_id", v.gw_id, detail::id());
        r.req_into("version", v.version, detail::text(1, max_version_chars));
    } else {
        for (const auto key : {"gw_id", "version"}) r.forbid(key, "in a Last Will (online false)");
    }
    return finish(r, std::move(v));
}

result<gw_state> parse_gw_state(std::string_view text) {
    return parse_with(text, from_json_gw_state);
}

json to_json(const gw_state& v) {
    json j = json::object();
    j["ts"] = format_timestamp(v.ts);
    j["online"] = v.online;
    j["bd_seq"] = v.bd_seq;
    if (v.gw_id) j["gw_id"] = *v.gw_id;
    if (v.version) j["version"] = *v.version;
    return j;
}

// --- gw_events bodies ------------------------------------------------------------------------

result<device_state_body> from_json_device_state_body(const json& j, std::string_view path) {
    object_reader r(j, path, "device_state body");
    device_state_body v;
    r.req("device_id", v.device_id, detail::id());
    r.req("online", v.online, detail::boolean());
    r.req("bd_seq", v.bd_seq, detail::uint());
    r.req("registered", v.registered, detail::boolean());
    r.opt("class", v.cls, detail::enumeration(parse_device_class, class_names));
    r.opt("model", v.model, detail::text(1, max_model_chars));
    r.opt("fw", v.fw, detail::text(1, max_model_chars));
    return finish(r, std::move(v));
}

json to_json(const device_state_body& v) {
    json j = json::object();
    j["device_id"] = v.device_id;
    j["online"] = v.online;
    j["bd_seq"] = v.bd_seq;
    j["registered"] = v.registered;
    if (v.cls) j["class"] = to_string(*v.cls);
    if (v.model) j["model"] = *v.model;
    if (v.fw) j["fw"] = *v.fw;
    return j;
}

result<telemetry_summary_body> from_json_telemetry_summary_body(const json& j,
                                                                std::string_view path) {
    object_reader r(j, path, "telemetry_summary body");
    telemetry_summary_body v;
    r.req("device_id", v.device_id, detail::id());
    r.req("minute", v.minute, detail::ts());
    r.req("count", v.count, detail::uint(1));
    r.req("battery_pct_min", v.battery_pct_min, detail::number(0, 100));
    r.req("battery_pct_last", v.battery_pct_last, detail::number(0, 100));
    r.req("storage_free_mb_last", v.storage_free_mb_last, detail::number(0));
    r.req("temp_c_max", v.temp_c_max, detail::number(-60, 150));
    r.opt("gps", v.gps, detail::nested(from_json_gps_fix));
    return finish(r, std::move(v));
}

json to_json(const telemetry_summary_body& v) {
    json j = json::object();
    j["device_id"] = v.device_id;
    j["minute"] = format_timestamp(v.minute);
    j["count"] = v.count;
    j["battery_pct_min"] = number_json(v.battery_pct_min);
    j["battery_pct_last"] = number_json(v.battery_pct_last);
    j["storage_free_mb_last"] = number_json(v.storage_free_mb_last);
    j["temp_c_max"] = number_json(v.temp_c_max);
    if (v.gps) j["gps"] = to_json(*v.gps);
    return j;
}

result<alert_body> from_json_alert_body(const json& j, std::string_view path) {
    object_reader r(j, path, "alert body");
    alert_body v;
    r.req("alert_id", v.alert_id, detail::id());
    r.req("type", v.type,
          detail::enumeration(parse_alert_type,
                              "low_battery, calibration_due, calibration_expired, footage_pending, "
                              "overdue_return, docked_while_checked_out, unauthorised_removal, "
                              "device_offline, ledger_broken, transfer_overdue"));
    r.req("state", v.state, detail::enumeration(parse_alert_state, "raised, cleared"));
    r.req("severity", v.severity,
          detail::enumeration(parse_alert_severity, "info, warning, critical"));
    r.req("detail", v.detail, detail::text(0, max_detail_chars));
    r.opt("device_id", v.device_id, detail::id());
    return finish(r, std::move(v));
}

json to_json(const alert_body& v) {
    json j = json::object();
    j["alert_id"] = v.alert_id;
    j["type"] = to_string(v.type);
    j["state"] = to_string(v.state);
    j["severity"] = to_string(v.severity);
    j["detail"] = v.detail;
    if (v.device_id) j["device_id"] = *v.device_id;
    return j;
}

result<command_result_body> from_json_command_result_body(const json& j, std::string_view path) {
    object_reader r(j, path, "command_result body");
    command_result_body v;
    r.req("cmd_id", v.cmd_id, detail::id());
    r.req("type", v.type, detail::enumeration(parse_srv_cmd_type, srv_cmd_type_names));
    r.req("result", v.result, to_outcome);
    r.opt("detail", v.detail, detail::text(0, max_detail_chars));
    r.opt("record_index", v.record_index, detail::uint());
    r.opt("devices", v.devices, detail::array(0, max_payload_bytes, detail::id()));
    return finish(r, std::move(v));
}

json to_json(const command_result_body& v) {
    json j = json::object();
    j["cmd_id"] = v.cmd_id;
    j["type"] = to_string(v.type);
    j["result"] = to_string(v.result);
    if (v.detail) j["detail"] = *v.detail;
    if (v.record_index) j["record_index"] = *v.record_index;
    if (v.devices) j["devices"] = *v.devices;
    return j;
}

// --- gw_events -------------------------------------------------------------------------------

result<gw_event> from_json_gw_event(const json& j, std::string_view path) {
    object_reader r(j, path, "event");
    gw_event v;
    gw_event_kind kind{};
    r.req("seq", v.seq, detail::uint(1));
    r.req("msg_id", v.msg_id, detail::id());
    r.req("ts", v.ts, detail::ts());
    r.req("kind", kind,
          detail::enumeration(parse_gw_event_kind,
                              "custody, device_state, telemetry_summary, alert, command_result"));
    if (!r.ok()) {
        r.allow({"body"});
        return finish(r, std::move(v));
    }
    switch (kind) {
        case gw_event_kind::custody:
            r.req("body", v.body, detail::nested(from_json_custody));
            break;
        case gw_event_kind::device_state:
            r.req("body", v.body, detail::nested(from_json_device_state_body));
            break;
        case gw_event_kind::telemetry_summary:
            r.req("body", v.body, detail::nested(from_json_telemetry_summary_body));
            break;
        case gw_event_kind::alert:
            r.req("body", v.body, detail::nested(from_json_alert_body));
            break;
        case gw_event_kind::command_result:
            r.req("body", v.body, detail::nested(from_json_command_result_body));
            break;
    }
    return finish(r, std::move(v));
}

json to_json(const gw_event& v) {
    json j = json::object();
    j["seq"] = v.seq;
    j["msg_id"] = v.msg_id;
    j["ts"] = format_timestamp(v.ts);
    j["kind"] = to_string(v.kind());
    j["body"] = std::visit([](const auto& body) { return to_json(body); }, v.body);
    return j;
}

namespace {

result<seq_range> to_seq_range(const json& j, const std::string& path) {
    if (!j.is_array()) return detail::wrong_type(path, "an array [from_seq, to_seq]");
    if (j.size() != 2)
        return fail(errc::bad_field, path,
                    "out of range: must have exactly 2 items [from_seq, to_seq]");
    seq_range v;
    EQM_TRY_LET(from, detail::to_uint(j[0], detail::index_path(path, 0), 1));
    EQM_TRY_LET(to, detail::to_uint(j[1], detail::index_path(path, 1), 1));
    if (to < from)
        return fail(errc::bad_field, detail::index_path(path, 1),
                    "out of range: must be >= from_seq");
    return seq_range{from, to};
}

}  // namespace

result<gw_events> from_json_gw_events(const json& j, std::string_view path) {
    object_reader r(j, path, "gw_events");
    gw_events v;
    r.req("ts", v.ts, detail::ts());
    r.req("gw_id", v.gw_id, detail::id());
    r.req("bd_seq", v.bd_seq, detail::uint());
    r.req("events", v.events,
          detail::array(1, max_gw_batch_events, detail::nested(from_json_gw_event)));
    // Within one batch: seq strictly increases, and msg_id is {gw_id}-{seq}.
    for (std::size_t i = 0; r.ok() && i < v.events.size(); ++i) {
        const auto& e = v.events[i];
        const auto event_path = detail::index_path(detail::join_path(path, "events"), i);
        if (i > 0 && e.seq <= v.events[i - 1].seq)
            r.reject(errc::bad_field, detail::join_path(event_path, "seq"),
                     "out of range: must be greater than the seq before it");
        else if (e.msg_id != v.gw_id + "-" + std::to_string(e.seq))
            r.reject(
                errc::bad_field, detail::join_path(event_path, "msg_id"),
                "pattern: must be {gw_id}-{seq}, here " + v.gw_id + "-" + std::to_string(e.seq));
    }
    r.opt("skipped", v.skipped, detail::array(0, max_skipped_ranges, to_seq_range));
    if (r.ok() && v.skipped) {
        for (std::size_t i = 0; i < v.skipped->size(); ++i) {
            if ((*v.skipped)[i].to_seq >= v.events.front().seq) {
                r.reject(errc::bad_field,
                         detail::index_path(
                             detail::index_path(detail::join_path(path, "skipped"), i), 1),
                         "out of range: skipped seqs must be below the batch's first seq");
                break;
            }
        }
    }
    return finish(r, std::move(v));
}

result<gw_events> parse_gw_events(std::string_view text) {
    if (text.size() <= max_gw_events_bytes) {
        // The server reads every batch; the fast reader does most of them without a DOM.
        if (auto fast = detail::parse_gw_events_fast(text)) return std::move(*fast);
    }
    return detail::parse_gw_events_reference(text);
}

result<gw_events> parse_gw_events_lenient(std::string_view text,
                                          std::vector<std::string>& ignored) {
    auto strict = parse_gw_events(text);
    if (strict || strict.error().code != errc::unknown_field) return strict;
    detail::unknown_field_sink sink;
    auto lenient = detail::parse_gw_events_reference(text);
    if (!lenient) return lenient;
    for (const auto& f : sink.fields())
        if (std::find(ignored.begin(), ignored.end(), f) == ignored.end()) ignored.push_back(f);
    return lenient;
}

std::optional<gw_events_range> read_gw_events_range(std::string_view text) {
    if (text.size() > max_gw_events_bytes) return std::nullopt;
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    const auto gw = j.find("gw_id");
    const auto events = j.find("events");
    if (gw == j.end() || !gw->is_string() || !detail::is_id(gw->get_ref<const std::string&>()))
        return std::nullopt;
    if (events == j.end() || !events->is_array() || events->empty()) return std::nullopt;
    gw_events_range r{gw->get<std::string>(), std::numeric_limits<std::uint64_t>::max(), 0};
    for (const auto& e : *events) {
        if (!e.is_object()) return std::nullopt;
        const auto seq = e.find("seq");
        if (seq == e.end() || !seq->is_number_unsigned()) return std::nullopt;
        const auto v = seq->get<std::uint64_t>();
        if (v == 0) return std::nullopt;
        r.from_seq = std::min(r.from_seq, v);
        r.to_seq = std::max(r.to_seq, v);
    }
    if (r.to_seq - r.from_seq >= max_gw_batch_events) return std::nullopt;
    return r;
}

namespace detail {

result<gw_events> parse_gw_events_reference(std::string_view text) {
    return parse_with(text, max_gw_events_bytes, from_json_gw_events);
}

}  // namespace detail

json to_json(const gw_events& v) {
    json j = json::object();
    j["ts"] = format_timestamp(v.ts);
    j["gw_id"] = v.gw_id;
    j["bd_seq"] = v.bd_seq;
    json events = json::array();
    for (const auto& e : v.events) events.push_back(to_json(e));
    j["events"] = std::move(events);
    if (v.skipped) {
        json skipped = json::array();
        for (const auto& range : *v.skipped)
            skipped.push_back(json::array({range.from_seq, range.to_seq}));
        j["skipped"] = std::move(skipped);
    }
    return j;
}

// --- srv_ack ---------------------------------------------------------------------------------

result<srv_ack> from_json_srv_ack(const json& j, std::string_view path) {
    object_reader r(j, path, "srv_ack");
    srv_ack v;
    r.req("ts", v.ts, detail::ts());
    r.req("upto_seq", v.upto_seq, detail::uint());
    r.opt("resend_from", v.resend_from, detail::uint(1));
    return finish(r, std::move(v));
}

result<srv_ack> parse_srv_ack(std::string_view text) {
    return parse_with(text, from_json_srv_ack);
}

json to_json(const srv_ack& v) {
    json j = json::object();
    j["ts"] = format_timestamp(v.ts);
    j["upto_seq"] = v.upto_seq;
    if (v.resend_from) j["resend_from"] = *v.resend_from;
    return j;
}

// --- srv_cmd records -------------------------------------------------------------------------

result<device_record> from_json_device_record(const json& j, std::string_view path) {
    object_reader r(j, path, "device record");
    device_record v;
    r.req("id", v.id, detail::id());
    r.req("class", v.cls, detail::enumeration(parse_device_class, class_names));
    r.req("model", v.model, detail::text(1, max_model_chars));
    r.req("city", v.city, detail::city());
    r.opt("serial", v.serial, detail::text(0, max_serial_chars));
    r.opt("analyte", v.analyte, detail::enumeration(parse_analyte, analyte_names));
    r.opt("calibration_due", v.calibration_due, detail::day());
    r.opt("registration_id", v.registration_id, detail::text(1, max_id_chars));
    r.opt("flight_hours", v.flight_hours, detail::number(0));
    r.opt("battery_cycles", v.battery_cycles, detail::uint());
    r.opt("retired", v.retired, detail::boolean());
    return finish(r, std::move(v));
}

json to_json(const device_record& v) {
    json j = json::object();
    j["id"] = v.id;
    j["class"] = to_string(v.cls);
    j["model"] = v.model;
    j["city"] = v.city;
    if (v.serial) j["serial"] = *v.serial;
    if (v.analyte) j["analyte"] = to_string(*v.analyte);
    if (v.calibration_due) j["calibration_due"] = format_date(*v.calibration_due);
    if (v.registration_id) j["registration_id"] = *v.registration_id;
    if (v.flight_hours) j["flight_hours"] = number_json(*v.flight_hours);
    if (v.battery_cycles) j["battery_cycles"] = *v.battery_cycles;
    if (v.retired) j["retired"] = *v.retired;
    return j;
}

bool person_record::badge_allowed_in(std::string_view code) const noexcept {
    if (!badge_cities) return false;
    for (const auto& c : *badge_cities)
        if (c == code) return true;
    return false;
}

result<person_record> from_json_person_record(const json& j, std::string_view path) {
    object_reader r(j, path, "person record");
    person_record v;
    r.req("id", v.id, detail::id());
    r.req("name", v.name, detail::text(1, max_person_name_chars));
    r.req("role", v.role,
          detail::enumeration(parse_person_role, "officer, custodian, dispatcher, admin"));
    r.opt("city", v.city, detail::city());
    r.opt("badge", v.badge, detail::id());
    r.opt("badge_cities", v.badge_cities, detail::array(0, region_city_count, detail::city()));
    r.opt("active", v.active, detail::boolean());
    r.opt("password_hash", v.password_hash, detail::text(1, max_password_hash_chars));
    return finish(r, std::move(v));
}

json to_json(const person_record& v) {
    json j = json::object();
    j["id"] = v.id;
    j["name"] = v.name;
    j["role"] = to_string(v.role);
    if (v.city) j["city"] = *v.city;
    if (v.badge) j["badge"] = *v.badge;
    // Absent when empty: a gateway of an older version reads such a record unchanged.
    if (v.badge_cities && !v.badge_cities->empty()) j["badge_cities"] = *v.badge_cities;
    if (v.active) j["active"] = *v.active;
    if (v.password_hash) j["password_hash"] = *v.password_hash;
    return j;
}

result<reservation_record> from_json_reservation_record(const json& j, std::string_view path) {
    object_reader r(j, path, "reservation");
    reservation_record v;
    r.req("id", v.id, detail::id());
    r.opt("device_id", v.device_id, detail::id());
    r.req("person_id", v.person_id, detail::id());
    r.req("start", v.start, detail::ts());
    r.req("end", v.end, detail::ts());
    r.req("status", v.status,
          detail::enumeration(parse_reservation_status,
                              "requested, approved, declined, active, completed, cancelled, "
                              "no_show, overdue (pending is read as requested)"));
    r.opt("class", v.cls, detail::enumeration(parse_device_class, class_names));
    r.opt("analyte", v.analyte, detail::enumeration(parse_analyte, analyte_names));
    r.opt("city", v.city, detail::city());
    if (r.ok() && v.end <= v.start)
        r.reject(errc::bad_field, detail::join_path(path, "end"),
                 "out of range: must be after start");
    if (r.ok() && !v.device_id && !v.cls)
        r.reject(errc::bad_field, detail::join_path(path, "device_id"),
                 "missing: a named booking needs device_id, a class booking class and city");
    if (r.ok() && v.cls && !v.city)
        r.reject(errc::bad_field, detail::join_path(path, "city"),
                 "missing: a class booking needs the city whose units it books");
    if (r.ok() && v.analyte && v.cls != device_class::analyzer)
        r.reject(errc::bad_field, detail::join_path(path, "analyte"),
                 "out of range: only a class booking of analyzers carries an analyte");
    return finish(r, std::move(v));
}

json to_json(const reservation_record& v) {
    json j = json::object();
    j["id"] = v.id;
    if (v.device_id) j["device_id"] = *v.device_id;
    j["person_id"] = v.person_id;
    j["start"] = format_timestamp(v.start);
    j["end"] = format_timestamp(v.end);
    j["status"] = to_string(v.status);
    if (v.cls) j["class"] = to_string(*v.cls);
    if (v.analyte) j["analyte"] = to_string(*v.analyte);
    if (v.city) j["city"] = *v.city;
    return j;
}

// --- srv_cmd ---------------------------------------------------------------------------------

namespace {

/// Every per-type field of any srv_cmd type; a type refuses the ones that are not its own.
constexpr std::array<std::string_view, 23> srv_cmd_extras{
    "devices",    "people",    "full_sync", "reservation", "reservation_id", "transfer_id",
    "device_id",  "from_city", "to_city",   "step",        "locked",         "reason",
    "action",     "badge",     "due",       "condition",   "note",           "actor",
    "expires_at", "class",     "count",     "analyte",     "device"};

struct srv_cmd_fields {
    object_reader& r;

    srv_cmd_body operator()(srv_cmd_type type) {
        switch (type) {
            case srv_cmd_type::registry_upsert: {
                registry_upsert_cmd c;
                r.req("devices", c.devices,
                      detail::array(0, max_payload_bytes, detail::nested(from_json_device_record)));
                r.req("people", c.people,
                      detail::array(0, max_payload_bytes, detail::nested(from_json_person_record)));
                r.opt("full_sync", c.full_sync, detail::boolean());
                r.opt("sync_id", c.sync_id, detail::id());
                r.opt("part", c.part, detail::uint(1, max_sync_parts));
                r.opt("parts", c.parts, detail::uint(1, max_sync_parts));
                if (r.ok() && (c.sync_id || c.part || c.parts) &&
                    !(c.sync_id && c.part && c.parts && c.full_sync.value_or(false)))
                    r.reject(errc::bad_field, detail::join_path(r.path(), "sync_id"),
                             "a chunked full sync needs full_sync true, sync_id, part and parts");
                else if (r.ok() && c.part && *c.part > *c.parts)
                    r.reject(errc::bad_field, detail::join_path(r.path(), "part"),
                             "out of range: must be at most parts");
                return c;
            }
            case srv_cmd_type::reservation_upsert: {
                reservation_upsert_cmd c;
                r.req("reservation", c.reservation, detail::nested(from_json_reservation_record));
                return c;
            }
            case srv_cmd_type::reservation_cancel: {
                reservation_cancel_cmd c;
                r.req("reservation_id", c.reservation_id, detail::id());
                return c;
            }
            case srv_cmd_type::transfer_order: {
                return transfer_order();
            }
            case srv_cmd_type::device_lock: {
                device_lock_cmd c;
                r.req("device_id", c.device_id, detail::id());
                r.req("locked", c.locked, detail::boolean());
                r.opt("reason", c.reason, detail::text(0, max_reason_chars));
                return c;
            }
            case srv_cmd_type::custody_request:
                return custody_request();
        }
        return registry_upsert_cmd{};
    }

    transfer_order_cmd transfer_order() {
        transfer_order_cmd c;
        r.req("transfer_id", c.transfer_id, detail::id());
        r.opt("device_id", c.device_id, detail::id());
        r.req("from_city", c.from_city, detail::city());
        r.req("to_city", c.to_city, detail::city());
        r.req("step", c.step,
              detail::enumeration(parse_transfer_step, "hand_over, receive, cancel"));
        r.opt("class", c.cls, detail::enumeration(parse_device_class, class_names));
        r.opt("count", c.count, detail::uint(1, max_transfer_order_count));
        r.opt("analyte", c.analyte_type, detail::enumeration(parse_analyte, analyte_names));
        r.opt("device", c.device, detail::nested(from_json_device_record));
        if (!r.ok()) return c;
        const bool counted = c.cls || c.count;
        if (c.step == transfer_step::cancel) {
            if (counted || c.device)
                r.reject(errc::bad_field, detail::join_path(r.path(), "step"),
                         "a cancel names the transfer (and optionally a device_id) only");
        } else if (c.step == transfer_step::receive && (counted || !c.device_id)) {
            r.reject(errc::bad_field, detail::join_path(r.path(), "device_id"),
                     "a receive names one device_id");
        } else if (c.step == transfer_step::hand_over &&
                   !(c.device_id ? !counted : (c.cls && c.count))) {
            r.reject(errc::bad_field, detail::join_path(r.path(), "device_id"),
                     "a hand_over names either a device_id, or a class and a count");
        } else if (c.analyte_type && c.cls != device_class::analyzer) {
            r.reject(errc::bad_field, detail::join_path(r.path(), "analyte"),
                     "is only for the class analyzer");
        } else if (c.device && (c.step != transfer_step::receive || c.device->id != *c.device_id)) {
            r.reject(errc::bad_field, detail::join_path(r.path(), "device"),
                     "is the registry record of the received device_id");
        }
        return c;
    }

    custody_request_cmd custody_request() {
        custody_request_cmd c;
        r.req("device_id", c.device_id, detail::id());
        r.req("action", c.action,
              [](const json& j, const std::string& p) -> result<custody_action> {
                  auto a = detail::to_enum(j, p, parse_custody_action, "checkout, checkin");
                  if (a && *a != custody_action::checkout && *a != custody_action::checkin)
                      return fail(errc::bad_field, p,
                                  "unknown value \"" + std::string(to_string(*a)) +
                                      "\"; expected one of checkout, checkin");
                  return a;
              });
        r.opt("badge", c.badge, detail::id());
        r.opt("due", c.due, detail::ts());
        r.opt("condition", c.condition,
              detail::enumeration(parse_item_condition, "good, damaged, needs_service"));
        r.opt("note", c.note, detail::text(0, max_custody_note_chars));
        r.opt("actor", c.actor, detail::text(1, max_actor_chars));
        r.opt("expires_at", c.expires_at, detail::ts());
        if (r.ok() && c.action == custody_action::checkout && !c.badge)
            r.reject(errc::bad_field, detail::join_path(r.path(), "badge"),
                     "missing: a checkout request needs the badge of who takes the device");
        return c;
    }
};

/// The JSON keys of a body's own fields, to refuse the others.
bool is_own_field(srv_cmd_type type, std::string_view key) {
    switch (type) {
        case srv_cmd_type::registry_upsert:
            return key == "devices" || key == "people" || key == "full_sync" || key == "sync_id" ||
                   key == "part" || key == "parts";
        case srv_cmd_type::reservation_upsert:
            return key == "reservation";
        case srv_cmd_type::reservation_cancel:
            return key == "reservation_id";
        case srv_cmd_type::transfer_order:
            return key == "transfer_id" || key == "device_id" || key == "from_city" ||
                   key == "to_city" || key == "step" || key == "class" || key == "count" ||
                   key == "analyte" || key == "device";
        case srv_cmd_type::device_lock:
            return key == "device_id" || key == "locked" || key == "reason";
        case srv_cmd_type::custody_request:
            return key == "device_id" || key == "action" || key == "badge" || key == "due" ||
                   key == "condition" || key == "note" || key == "actor" || key == "expires_at";
    }
    return false;
}

void body_fields(json& j, const registry_upsert_cmd& c) {
    json devices = json::array();
    for (const auto& d : c.devices) devices.push_back(to_json(d));
    json people = json::array();
    for (const auto& p : c.people) people.push_back(to_json(p));
    j["devices"] = std::move(devices);
    j["people"] = std::move(people);
    if (c.full_sync) j["full_sync"] = *c.full_sync;
    if (c.sync_id) j["sync_id"] = *c.sync_id;
    if (c.part) j["part"] = *c.part;
    if (c.parts) j["parts"] = *c.parts;
}
void body_fields(json& j, const reservation_upsert_cmd& c) {
    j["reservation"] = to_json(c.reservation);
}
void body_fields(json& j, const reservation_cancel_cmd& c) {
    j["reservation_id"] = c.reservation_id;
}
void body_fields(json& j, const transfer_order_cmd& c) {
    j["transfer_id"] = c.transfer_id;
    if (c.device_id) j["device_id"] = *c.device_id;
    j["from_city"] = c.from_city;
    j["to_city"] = c.to_city;
    j["step"] = to_string(c.step);
    if (c.cls) j["class"] = to_string(*c.cls);
    if (c.count) j["count"] = *c.count;
    if (c.analyte_type) j["analyte"] = to_string(*c.analyte_type);
    if (c.device) j["device"] = to_json(*c.device);
}
void body_fields(json& j, const device_lock_cmd& c) {
    j["device_id"] = c.device_id;
    j["locked"] = c.locked;
    if (c.reason) j["reason"] = *c.reason;
}
void body_fields(json& j, const custody_request_cmd& c) {
    j["device_id"] = c.device_id;
    j["action"] = to_string(c.action);
    if (c.badge) j["badge"] = *c.badge;
    if (c.due) j["due"] = format_timestamp(*c.due);
    if (c.condition) j["condition"] = to_string(*c.condition);
    if (c.note) j["note"] = *c.note;
    if (c.actor) j["actor"] = *c.actor;
    if (c.expires_at) j["expires_at"] = format_timestamp(*c.expires_at);
}

}  // namespace

result<srv_cmd> from_json_srv_cmd(const json& j, std::string_view path) {
    object_reader r(j, path, "srv_cmd");
    srv_cmd v;
    srv_cmd_type type{};
    r.req("cmd_id", v.cmd_id, detail::id());
    r.req("ts", v.ts, detail::ts());
    r.req("type", type, detail::enumeration(parse_srv_cmd_type, srv_cmd_type_names));
    if (!r.ok()) {
        for (const auto key : srv_cmd_extras) r.allow({key});
        return finish(r, std::move(v));
    }
    const std::string why = "for type " + std::string(to_string(type));
    for (const auto key : srv_cmd_extras)
        if (!is_own_field(type, key)) r.forbid(key, why);
    v.body = srv_cmd_fields{r}(type);
    return finish(r, std::move(v));
}

result<srv_cmd> parse_srv_cmd(std::string_view text) {
    return parse_with(text, from_json_srv_cmd);
}

json to_json(const srv_cmd& v) {
    json j = json::object();
    j["cmd_id"] = v.cmd_id;
    j["ts"] = format_timestamp(v.ts);
    j["type"] = to_string(v.type());
    std::visit([&](const auto& body) { body_fields(j, body); }, v.body);
    return j;
}

std::string to_json_text(const gw_state& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const gw_events& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const srv_ack& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const srv_cmd& v) {
    return detail::dump(to_json(v));
}

}  // namespace eqm
