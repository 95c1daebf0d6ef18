// Payloads of the city broker: devices and docks <-> gateway.
#include <array>
#include <set>

#include "eqm/domain/payloads.hpp"
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

template <class T>
result<T> parse_with(std::string_view text, result<T> (*from)(const json&, std::string_view)) {
    return detail::parse_with(text, max_payload_bytes, from);
}

result<analyte_reading> from_json_reading(const json& j, std::string_view path) {
    object_reader r(j, path, "reading");
    analyte_reading v;
    r.req("analyte", v.analyte, detail::enumeration(parse_analyte, analyte_names));
    r.req("value", v.value, detail::number());
    r.req("unit", v.unit, detail::text(1, max_unit_chars));
    return finish(r, std::move(v));
}

result<device_settings> from_json_settings(const json& j, std::string_view path) {
    object_reader r(j, path, "settings");
    device_settings v;
    r.opt("telemetry_interval_s", v.telemetry_interval_s,
          detail::integer(1, max_telemetry_interval_s));
    r.opt("low_battery_pct", v.low_battery_pct, detail::number(0, 100));
    // An empty settings object would change nothing: refuse it (the schema's minProperties: 1).
    if (r.ok() && j.is_object() && j.empty())
        r.reject(errc::bad_field, std::string(path), "out of range: must set at least one setting");
    return finish(r, std::move(v));
}

/// The result map of an ack: keys are ids, values outcomes.
result<std::map<std::string, outcome>> to_results(const json& j, const std::string& path) {
    if (!j.is_object()) return detail::wrong_type(path, "an object");
    std::map<std::string, outcome> out;
    for (const auto& [key, value] : j.items()) {
        const auto field = detail::join_path(path, key);
        if (!detail::is_id(key))
            return fail(errc::bad_field, field, "pattern: keys must match ^[A-Za-z0-9_-]{1,64}$");
        if (!value.is_string()) return detail::wrong_type(field, "a string");
        EQM_TRY_LET(o, parse_outcome(value.get_ref<const std::string&>(), field));
        out.emplace(key, std::move(o));
    }
    return out;
}

}  // namespace

// --- device_state ----------------------------------------------------------------------------

result<device_state> from_json_device_state(const json& j, std::string_view path) {
    object_reader r(j, path, "device_state");
    device_state v;
    r.req("ts", v.ts, detail::ts());
    r.req("online", v.online, detail::boolean());
    r.req("bd_seq", v.bd_seq, detail::uint());
    if (!r.ok()) {
        r.allow({"class", "model", "fw"});
    } else if (v.online) {
        r.req_into("class", v.cls, detail::enumeration(parse_device_class, class_names));
        r.req_into("model", v.model, detail::text(1, max_model_chars));
        r.req_into("fw", v.fw, detail::text(1, max_model_chars));
    } else {
        for (const auto key : {"class", "model", "fw"})
            r.forbid(key, "in a Last Will (online false)");
    }
    return finish(r, std::move(v));
}

result<device_state> parse_device_state(std::string_view text) {
    return parse_with(text, from_json_device_state);
}

json to_json(const device_state& v) {
    json j = json::object();
    j["ts"] = format_timestamp(v.ts);
    j["online"] = v.online;
    j["bd_seq"] = v.bd_seq;
    if (v.cls) j["class"] = to_string(*v.cls);
    if (v.model) j["model"] = *v.model;
    if (v.fw) j["fw"] = *v.fw;
    return j;
}

// --- device_telemetry ------------------------------------------------------------------------

result<device_telemetry> from_json_device_telemetry(const json& j, std::string_view path) {
    object_reader r(j, path, "device_telemetry");
    device_telemetry v;
    r.req("ts", v.ts, detail::ts());
    r.req("seq", v.seq, detail::uint());
    r.req("battery_pct", v.battery_pct, detail::number(0, 100));
    r.req("storage_free_mb", v.storage_free_mb, detail::number(0));
    r.req("temp_c", v.temp_c, detail::number(-60, 150));
    r.opt("gps", v.gps, detail::nested(from_json_gps_fix));
    r.opt("charging", v.charging, detail::boolean());
    r.opt("docked", v.docked, detail::boolean());
    r.opt("recording", v.recording, detail::boolean());
    r.opt("footage_pending_mb", v.footage_pending_mb, detail::number(0));
    r.opt("footage_pending_since", v.footage_pending_since, detail::nullable(detail::ts()));
    r.opt("flight_hours", v.flight_hours, detail::number(0));
    r.opt("battery_cycles", v.battery_cycles, detail::uint());
    r.opt("registration_id", v.registration_id, detail::text(1, max_id_chars));
    r.opt("health_codes", v.health_codes,
          detail::array(0, max_health_codes, detail::text(1, max_health_code_chars)));
    r.opt("airborne", v.airborne, detail::boolean());
    r.opt("calibration_due", v.calibration_due, detail::day());
    r.opt("drift_pct", v.drift_pct, detail::number());
    r.opt("readings", v.readings,
          detail::array(0, max_readings, detail::nested(from_json_reading)));
    r.opt("slots_total", v.slots_total, detail::integer(1, max_dock_slots));
    r.opt("slots_occupied", v.slots_occupied, detail::uint());
    if (r.ok() && v.slots_total && v.slots_occupied &&
        *v.slots_occupied > static_cast<std::uint64_t>(*v.slots_total))
        r.reject(errc::bad_field, detail::join_path(path, "slots_occupied"),
                 "out of range: must be <= slots_total");
    return finish(r, std::move(v));
}

result<device_telemetry> parse_device_telemetry(std::string_view text) {
    return parse_with(text, from_json_device_telemetry);
}

json to_json(const device_telemetry& v) {
    json j = json::object();
    j["ts"] = format_timestamp(v.ts);
    j["seq"] = v.seq;
    j["battery_pct"] = number_json(v.battery_pct);
    j["storage_free_mb"] = number_json(v.storage_free_mb);
    j["temp_c"] = number_json(v.temp_c);
    if (v.gps) j["gps"] = to_json(*v.gps);
    if (v.charging) j["charging"] = *v.charging;
    if (v.docked) j["docked"] = *v.docked;
    if (v.recording) j["recording"] = *v.recording;
    if (v.footage_pending_mb) j["footage_pending_mb"] = number_json(*v.footage_pending_mb);
    if (v.footage_pending_since)
        j["footage_pending_since"] = *v.footage_pending_since
                                         ? json(format_timestamp(**v.footage_pending_since))
                                         : json(nullptr);
    if (v.flight_hours) j["flight_hours"] = number_json(*v.flight_hours);
    if (v.battery_cycles) j["battery_cycles"] = *v.battery_cycles;
    if (v.registration_id) j["registration_id"] = *v.registration_id;
    if (v.health_codes) j["health_codes"] = *v.health_codes;
    if (v.airborne) j["airborne"] = *v.airborne;
    if (v.calibration_due) j["calibration_due"] = format_date(*v.calibration_due);
    if (v.drift_pct) j["drift_pct"] = number_json(*v.drift_pct);
    if (v.readings) {
        json a = json::array();
        for (const auto& reading : *v.readings)
            a.push_back(json{{"analyte", to_string(reading.analyte)},
                             {"value", number_json(reading.value)},
                             {"unit", reading.unit}});
        j["readings"] = std::move(a);
    }
    if (v.slots_total) j["slots_total"] = *v.slots_total;
    if (v.slots_occupied) j["slots_occupied"] = *v.slots_occupied;
    return j;
}

// --- device_event ----------------------------------------------------------------------------

result<device_event> from_json_device_event(const json& j, std::string_view path) {
    object_reader r(j, path, "device_event");
    device_event v;
    r.req("event_id", v.event_id, detail::id());
    r.req("ts", v.ts, detail::ts());
    r.req("type", v.type,
          detail::enumeration(parse_device_event_type,
                              "recording_started, recording_stopped, footage_offloaded, "
                              "flight_started, flight_ended, calibrated, fault, low_battery"));
    // The extra fields each type carries; every other one is refused for that type.
    constexpr std::array<std::string_view, 7> extras{
        "footage_mb", "offloaded_mb", "flight_minutes", "calibration_due",
        "code",       "detail",       "battery_pct"};
    if (!r.ok()) {
        r.allow({"footage_mb", "offloaded_mb", "flight_minutes", "calibration_due", "code",
                 "detail", "battery_pct"});
        return finish(r, std::move(v));
    }
    switch (v.type) {
        case device_event_type::recording_started:
        case device_event_type::flight_started:
            break;
        case device_event_type::recording_stopped:
            r.req_into("footage_mb", v.footage_mb, detail::number(0));
            break;
        case device_event_type::footage_offloaded:
            r.req_into("offloaded_mb", v.offloaded_mb, detail::number(0));
            break;
        case device_event_type::flight_ended:
            r.req_into("flight_minutes", v.flight_minutes, detail::number(0));
            break;
        case device_event_type::calibrated:
            r.req_into("calibration_due", v.calibration_due, detail::day());
            break;
        case device_event_type::fault:
            r.req_into("code", v.code, detail::text(1, max_fault_code_chars));
            r.opt("detail", v.detail, detail::text(0, max_reason_chars));
            break;
        case device_event_type::low_battery:
            r.req_into("battery_pct", v.battery_pct, detail::number(0, 100));
            break;
    }
    const std::string why = "for type " + std::string(to_string(v.type));
    for (const auto key : extras) {
        const bool own =
            (key == "footage_mb" && v.footage_mb) || (key == "offloaded_mb" && v.offloaded_mb) ||
            (key == "flight_minutes" && v.flight_minutes) ||
            (key == "calibration_due" && v.calibration_due) || (key == "code" && v.code) ||
            (key == "detail" && v.type == device_event_type::fault) ||
            (key == "battery_pct" && v.battery_pct);
        if (!own) r.forbid(key, why);
    }
    return finish(r, std::move(v));
}

result<device_event> parse_device_event(std::string_view text) {
    return parse_with(text, from_json_device_event);
}

json to_json(const device_event& v) {
    json j = json::object();
    j["event_id"] = v.event_id;
    j["ts"] = format_timestamp(v.ts);
    j["type"] = to_string(v.type);
    if (v.footage_mb) j["footage_mb"] = number_json(*v.footage_mb);
    if (v.offloaded_mb) j["offloaded_mb"] = number_json(*v.offloaded_mb);
    if (v.flight_minutes) j["flight_minutes"] = number_json(*v.flight_minutes);
    if (v.calibration_due) j["calibration_due"] = format_date(*v.calibration_due);
    if (v.code) j["code"] = *v.code;
    if (v.detail) j["detail"] = *v.detail;
    if (v.battery_pct) j["battery_pct"] = number_json(*v.battery_pct);
    return j;
}

// --- dock_event ------------------------------------------------------------------------------

result<dock_event> from_json_dock_event(const json& j, std::string_view path) {
    object_reader r(j, path, "dock_event");
    dock_event v;
    r.req("event_id", v.event_id, detail::id());
    r.req("ts", v.ts, detail::ts());
    r.req("type", v.type, detail::enumeration(parse_dock_event_type, "slot_insert, slot_remove"));
    r.req("slot", v.slot, detail::integer(0, max_dock_slot));
    r.req("device_id", v.device_id, detail::id());
    r.opt("badge", v.badge, detail::id());
    return finish(r, std::move(v));
}

result<dock_event> parse_dock_event(std::string_view text) {
    return parse_with(text, from_json_dock_event);
}

json to_json(const dock_event& v) {
    json j = json::object();
    j["event_id"] = v.event_id;
    j["ts"] = format_timestamp(v.ts);
    j["type"] = to_string(v.type);
    j["slot"] = v.slot;
    j["device_id"] = v.device_id;
    if (v.badge) j["badge"] = *v.badge;
    return j;
}

// --- ack -------------------------------------------------------------------------------------

result<ack> from_json_ack(const json& j, std::string_view path) {
    object_reader r(j, path, "ack");
    ack v;
    r.req("ts", v.ts, detail::ts());
    r.req("event_ids", v.event_ids, detail::array(1, max_ack_event_ids, detail::id()));
    r.req("results", v.results, to_results);
    if (r.ok()) {
        std::set<std::string_view> seen;
        for (std::size_t i = 0; i < v.event_ids.size(); ++i) {
            const auto& id = v.event_ids[i];
            if (!seen.insert(id).second) {
                r.reject(errc::bad_field,
                         detail::index_path(detail::join_path(path, "event_ids"), i),
                         "duplicate event id \"" + id + "\"");
                break;
            }
            if (!v.results.contains(id)) {
                r.reject(errc::bad_field, detail::join_path(detail::join_path(path, "results"), id),
                         "missing: every id in event_ids needs a result");
                break;
            }
        }
        // ...and no result for an id it does not list.
        for (const auto& [id, o] : v.results) {
            if (!seen.contains(id)) {
                r.reject(errc::bad_field, detail::join_path(detail::join_path(path, "results"), id),
                         "unknown event id: not listed in event_ids");
                break;
            }
        }
    }
    return finish(r, std::move(v));
}

result<ack> parse_ack(std::string_view text) {
    return parse_with(text, from_json_ack);
}

json to_json(const ack& v) {
    json j = json::object();
    j["ts"] = format_timestamp(v.ts);
    j["event_ids"] = v.event_ids;
    json results = json::object();
    for (const auto& [id, o] : v.results) results[id] = to_string(o);
    j["results"] = std::move(results);
    return j;
}

// --- device_cmd ------------------------------------------------------------------------------

result<device_cmd> from_json_device_cmd(const json& j, std::string_view path) {
    object_reader r(j, path, "device_cmd");
    device_cmd v;
    r.req("cmd_id", v.cmd_id, detail::id());
    r.req("ts", v.ts, detail::ts());
    r.req("type", v.type,
          detail::enumeration(parse_device_cmd_type, "locate, lock, unlock, config"));
    if (!r.ok()) {
        r.allow({"reason", "settings"});
        return finish(r, std::move(v));
    }
    const std::string why = "for type " + std::string(to_string(v.type));
    if (v.type == device_cmd_type::lock)
        r.opt("reason", v.reason, detail::text(0, max_reason_chars));
    else
        r.forbid("reason", why);
    if (v.type == device_cmd_type::config)
        r.req_into("settings", v.settings, detail::nested(from_json_settings));
    else
        r.forbid("settings", why);
    return finish(r, std::move(v));
}

result<device_cmd> parse_device_cmd(std::string_view text) {
    return parse_with(text, from_json_device_cmd);
}

json to_json(const device_cmd& v) {
    json j = json::object();
    j["cmd_id"] = v.cmd_id;
    j["ts"] = format_timestamp(v.ts);
    j["type"] = to_string(v.type);
    if (v.reason) j["reason"] = *v.reason;
    if (v.settings) {
        json s = json::object();
        if (v.settings->telemetry_interval_s)
            s["telemetry_interval_s"] = *v.settings->telemetry_interval_s;
        if (v.settings->low_battery_pct)
            s["low_battery_pct"] = number_json(*v.settings->low_battery_pct);
        j["settings"] = std::move(s);
    }
    return j;
}

std::string to_json_text(const device_state& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const device_telemetry& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const device_event& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const dock_event& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const ack& v) {
    return detail::dump(to_json(v));
}
std::string to_json_text(const device_cmd& v) {
    return detail::dump(to_json(v));
}

}  // namespace eqm
