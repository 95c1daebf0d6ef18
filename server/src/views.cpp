// JSON rendering of the read model.
#include "views.hpp"

#include "eqm/domain/readiness.hpp"

namespace eqm::server {

using nlohmann::json;

namespace {
json optional_ts(const std::optional<clock_ms>& t) {
    return t ? json(format_timestamp(*t)) : json(nullptr);
}
}  // namespace

json device_json(const device_view& d, clock_ms now) {
    json j = to_json(d.record);
    j["status"] = to_string(d.status);
    j["holder"] = d.holder ? json(*d.holder) : json(nullptr);
    if (d.due) j["due"] = format_timestamp(*d.due);
    j["online"] = d.online;
    j["locked"] = d.locked;
    j["last_seen"] = optional_ts(d.last_seen);
    if (d.fw) j["fw"] = *d.fw;

    device_snapshot snap;
    snap.id = d.record.id;
    snap.cls = d.record.cls;
    snap.custody.state = d.status;
    snap.custody.holder = d.holder;
    snap.custody.due = d.due;
    snap.custody.locked = d.locked;
    if (d.telemetry) snap.battery_pct = d.telemetry->battery_pct_last;
    snap.calibration_due = d.record.calibration_due;
    j["readiness"] = assess_readiness(snap, {}, readiness_policy{}, now).to_json();

    if (d.telemetry) {
        const auto& t = *d.telemetry;
        json tj{{"minute", format_timestamp(t.minute)},
                {"count", t.count},
                {"battery_pct_min", t.battery_pct_min},
                {"battery_pct_last", t.battery_pct_last},
                {"storage_free_mb_last", t.storage_free_mb_last},
                {"temp_c_max", t.temp_c_max}};
        if (t.gps) tj["gps"] = to_json(*t.gps);
        j["telemetry"] = std::move(tj);
    }
    return j;
}

json alert_json(const alert_view& a) {
    json j{{"id", a.id},
           {"city", a.city},
           {"type", to_string(a.type)},
           {"state", to_string(a.state)},
           {"severity", to_string(a.severity)},
           {"detail", a.detail},
           {"raised_at", format_timestamp(a.raised_at)},
           {"updated_at", format_timestamp(a.updated_at)},
           {"acked", a.acked_by.has_value()}};
    if (a.device_id) j["device_id"] = *a.device_id;
    if (a.acked_by) j["acked_by"] = *a.acked_by;
    if (a.acked_at) j["acked_at"] = format_timestamp(*a.acked_at);
    return j;
}

json city_json(const city_info& c, const std::optional<gateway_view>& g) {
    json j{{"code", c.code},
           {"name", c.name},
           {"lat", c.lat},
           {"lon", c.lon},
           {"online", g && g->online},
           {"last_seen", g ? optional_ts(g->last_seen) : json(nullptr)},
           {"bd_seq", g ? g->bd_seq : 0},
           {"applied_seq", g ? g->applied_seq : 0}};
    if (g && g->gw_id) j["gw_id"] = *g->gw_id;
    if (g && g->version) j["version"] = *g->version;
    return j;
}

json custody_json(const custody_entry& e) {
    return json{{"city", e.city}, {"verified", e.verified}, {"record", to_json(e.record)}};
}

}  // namespace eqm::server
