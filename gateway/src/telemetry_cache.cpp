#include "telemetry_cache.hpp"

#include <algorithm>

#include "eqm/domain/try.hpp"

namespace eqm::gateway {

std::optional<date> effective_calibration_due(const std::optional<date>& registry,
                                              const telemetry_entry* reported) {
    if (!reported || !reported->calibration_due) return registry;
    if (!registry || *reported->calibration_due > *registry) return reported->calibration_due;
    return registry;
}

result<void> telemetry_cache::load(city_ledger& ledger) {
    EQM_TRY_LET(rows, ledger.all_latest());
    entries_.reserve(rows.size());
    for (auto& r : rows) {
        telemetry_entry e;
        static_cast<telemetry_latest&>(e) = r.latest;
        e.live_bd_seq = e.bd_seq;
        entries_.emplace(std::move(r.device_id), e);
    }
    return {};
}

telemetry_cache::ingest_result telemetry_cache::ingest(const std::string& device_id,
                                                       const device_telemetry& t) {
    auto [it, inserted] = entries_.try_emplace(device_id);
    telemetry_entry& e = it->second;
    // QoS 0 messages may arrive out of order, and a device's clock may be wrong: the newest
    // reading is the highest seq of the current session.
    const bool newer = inserted || e.bd_seq != e.live_bd_seq || t.seq > e.seq;
    bool changed = inserted;
    if (newer) {
        e.bd_seq = e.live_bd_seq;
        const auto old_footage = e.footage_pending_since;
        const auto old_docked = e.docked;
        const auto old_charging = e.charging;
        const auto old_cal = e.calibration_due;
        // Alerts care about whole-percent moves, not every 0.1 % wobble.
        if (static_cast<long>(e.battery_pct) != static_cast<long>(t.battery_pct)) changed = true;
        e.ts = t.ts;
        e.seq = t.seq;
        e.battery_pct = t.battery_pct;
        e.storage_free_mb = t.storage_free_mb;
        e.temp_c = t.temp_c;
        if (t.charging) e.charging = t.charging;
        if (t.docked) e.docked = t.docked;
        if (t.footage_pending_since) e.footage_pending_since = *t.footage_pending_since;
        if (t.calibration_due) e.calibration_due = t.calibration_due;
        if (t.gps) {
            e.lat = t.gps->lat;
            e.lon = t.gps->lon;
        }
        changed = changed || old_footage != e.footage_pending_since || old_docked != e.docked ||
                  old_charging != e.charging || old_cal != e.calibration_due;
        if (!e.dirty) {
            e.dirty = true;
            dirty_.push_back(device_id);
        }
    }
    const clock_ms minute = std::chrono::floor<std::chrono::minutes>(t.ts);
    if (e.count > 0 && minute != e.minute) close_minute(device_id, e);
    if (e.count == 0) {
        e.minute = minute;
        e.battery_min = t.battery_pct;
        e.temp_max = t.temp_c;
    }
    ++e.count;
    has_open_minutes_ = true;
    e.battery_min = std::min(e.battery_min, t.battery_pct);
    e.temp_max = std::max(e.temp_max, t.temp_c);
    if (changed) changed_.push_back(device_id);
    return ingest_result{newer, changed};
}

void telemetry_cache::note_session(const std::string& device_id, std::uint64_t bd_seq) {
    // A device without readings yet has no entry: its first reading is the latest anyway.
    if (auto it = entries_.find(device_id); it != entries_.end()) it->second.live_bd_seq = bd_seq;
}

const telemetry_entry* telemetry_cache::find(const std::string& device_id) const {
    auto it = entries_.find(device_id);
    return it == entries_.end() ? nullptr : &it->second;
}

void telemetry_cache::note_footage_offloaded(const std::string& device_id) {
    auto it = entries_.find(device_id);
    if (it == entries_.end() || !it->second.footage_pending_since) return;
    it->second.footage_pending_since.reset();
    if (!it->second.dirty) {
        it->second.dirty = true;
        dirty_.push_back(device_id);
    }
}

void telemetry_cache::note_calibrated(const std::string& device_id, date due) {
    // A device that never sent telemetry has no entry; its registry date stands until it does.
    auto it = entries_.find(device_id);
    if (it == entries_.end()) return;
    auto& e = it->second;
    e.calibration_due = due;
    if (!e.dirty) {
        e.dirty = true;
        dirty_.push_back(device_id);
    }
}

void telemetry_cache::note_docked(const std::string& device_id, bool docked) {
    auto it = entries_.find(device_id);
    if (it != entries_.end() && it->second.docked) it->second.docked = docked;
}

void telemetry_cache::close_minute(const std::string& id, telemetry_entry& e) {
    telemetry_summary_body s;
    s.device_id = id;
    s.minute = e.minute;
    s.count = e.count;
    s.battery_pct_min = e.battery_min;
    s.battery_pct_last = e.battery_pct;
    s.storage_free_mb_last = e.storage_free_mb;
    s.temp_c_max = e.temp_max;
    if (e.lat && e.lon) s.gps = gps_fix{*e.lat, *e.lon, std::nullopt};
    closed_.push_back(std::move(s));
    e.count = 0;
}

result<std::vector<telemetry_summary_body>> telemetry_cache::flush(city_ledger& ledger,
                                                                   clock_ms now) {
    const clock_ms current = std::chrono::floor<std::chrono::minutes>(now);
    if (has_open_minutes_) {
        has_open_minutes_ = false;
        for (auto& [id, e] : entries_) {
            if (e.count > 0 && e.minute < current) close_minute(id, e);
            if (e.count > 0) has_open_minutes_ = true;
        }
    }
    for (const auto& id : dirty_) {
        auto it = entries_.find(id);
        if (it == entries_.end()) continue;
        EQM_TRY(ledger.upsert_latest(id, it->second));
    }
    for (const auto& s : closed_) EQM_TRY(ledger.insert_minute(s));
    dirty_written_ = dirty_.size();
    closed_written_ = closed_.size();
    return closed_;
}

void telemetry_cache::flush_committed() {
    for (std::size_t i = 0; i < dirty_written_ && i < dirty_.size(); ++i) {
        auto it = entries_.find(dirty_[i]);
        if (it != entries_.end()) it->second.dirty = false;
    }
    dirty_.erase(dirty_.begin(), dirty_.begin() + static_cast<std::ptrdiff_t>(
                                                      std::min(dirty_written_, dirty_.size())));
    closed_.erase(closed_.begin(), closed_.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                         closed_written_, closed_.size())));
    dirty_written_ = closed_written_ = 0;
    changed_.clear();
}

}  // namespace eqm::gateway
