#include "eqm/sim/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace eqm::sim {
namespace {

using namespace std::chrono_literals;

constexpr auto local_offset = 8h;  // Guangxi is UTC+8 all year
constexpr int minutes_per_day = 1440;
constexpr double camera_storage_mb = 64000;
constexpr double drone_storage_mb = 128000;
constexpr double analyzer_storage_mb = 8000;
constexpr double dock_storage_mb = 2000000;
constexpr double footage_mb_per_min = 90;   // ~12 Mbit/s video
constexpr double offload_mb_per_min = 600;  // dock USB/ethernet offload
constexpr double charge_pct_per_min = 1.0;
constexpr double dead_battery_pct = 0.5;
constexpr int dock_slots_max = 64;

struct analyte_kit {
    analyte a;
    const char* unit;
    double base;
    double spread;
};
// Four kinds of analyzer, by index: water, VOC, flue gas, noise.
const std::vector<std::vector<analyte_kit>>& analyzer_kits() {
    static const std::vector<std::vector<analyte_kit>> kits{
        {{analyte::cod, "mg/L", 35, 20}, {analyte::nh3n, "mg/L", 1.5, 1.2}},
        {{analyte::voc, "ppm", 2.0, 1.5}},
        {{analyte::so2, "mg/m3", 60, 40}, {analyte::nox, "mg/m3", 120, 60}},
        {{analyte::noise, "dB(A)", 62, 12}},
    };
    return kits;
}
const char* analyzer_models[] = {"WQ-COD-200", "VOC-PID-5", "FG-SN-310", "SLM-2"};
const char* health_code_pool[] = {"imu_cal_due", "gps_weak", "prop_wear", "esc_temp",
                                  "compass_drift"};

double round1(double v) {
    return std::round(v * 10.0) / 10.0;
}
double round3(double v) {
    return std::round(v * 1000.0) / 1000.0;
}

struct unit {
    device_spec spec;
    rng r;
    std::size_t city = 0;
    std::size_t home_dock = 0;
    int slot = -1;    // >= 0 while docked
    int holder = -1;  // officer index while checked out
    double battery = 100, storage_free = 0, storage_total = 0, temp = 25;
    double lat = 0, lon = 0;
    std::uint64_t seq = 0;
    int telemetry_phase = 0;
    int ordinal = 0;  // n-1 of the id's number
    bool lost = false;
    bool locked = false;            // by the gateway's lock command: stays in its dock
    bool locate_requested = false;  // report the position in the next step
    bool low_battery_sent = false;
    int offline_steps = 0;  // > 0 during a drop-out
    int dropout_length = 0;
    // today's plan (minutes of the local day; -1: none)
    int checkout_at = -1, return_at = -1, planned_holder = -1;
    bool late = false, loses_it = false;
    // body camera
    bool recording = false;
    double session_mb = 0, pending_mb = 0, offloading_total = 0;
    std::optional<clock_ms> pending_since;
    // drone
    bool airborne = false;
    int flight_steps = 0;
    double flight_hours = 0, discharged_pct = 0;
    std::uint64_t battery_cycles = 0;
    std::string registration_id;
    std::vector<std::string> health_codes;
    // analyzer
    std::size_t kit = 0;
    date calibration_due{};
    double drift = 0;
};

struct dock {
    device_spec spec;
    rng r;
    std::size_t city = 0;
    std::vector<int> slots;  // unit index or -1
    std::uint64_t seq = 0;
    int telemetry_phase = 0;
};

int local_minute(clock_ms t) {
    const auto m =
        std::chrono::duration_cast<std::chrono::minutes>((t + local_offset).time_since_epoch())
            .count();
    return static_cast<int>(((m % minutes_per_day) + minutes_per_day) % minutes_per_day);
}

}  // namespace

struct fleet_model::state {
    std::vector<std::string> cities;
    std::vector<unit> units;
    std::vector<dock> docks;
    std::vector<officer> people;
    std::vector<std::vector<int>> officers_by_city;
    std::vector<device_spec> specs;
    clock_ms now{};
    std::uint64_t step_index = 0;
    model_stats stats;
    std::vector<message> out;

    std::string ts() const { return format_timestamp(now); }

    void emit_device_event(unit& u, nlohmann::json body) {
        body["ts"] = ts();
        out.push_back(message{message_kind::device_event, u.spec.id, u.spec.city, std::move(body)});
        ++stats.device_events;
    }

    void emit_dock_event(dock& d, const char* type, int slot, const unit& u,
                         const std::optional<std::string>& badge) {
        nlohmann::json body{{"ts", ts()}, {"type", type}, {"slot", slot}, {"device_id", u.spec.id}};
        if (badge) body["badge"] = *badge;
        out.push_back(message{message_kind::dock_event, d.spec.id, d.spec.city, std::move(body)});
        ++stats.dock_events;
    }

    void plan_day(unit& u) {
        u.checkout_at = u.return_at = u.planned_holder = -1;
        u.late = u.loses_it = false;
        if (u.lost) return;
        double use_p = 0.85;
        int out_from = 450, out_spread = 90, back_from = 1020, back_spread = 90;
        if (u.spec.cls == device_class::drone) {
            use_p = 0.5;
            out_from = 480;
            out_spread = 120;
            back_from = 960;
            back_spread = 120;
        } else if (u.spec.cls == device_class::analyzer) {
            use_p = 0.4;
        }
        const auto& staff = officers_by_city[u.city];
        const bool use = u.r.chance(use_p);
        // Draw everything unconditionally so one device's choices never shift its later draws.
        const int out_at =
            out_from + static_cast<int>(u.r.below(static_cast<std::uint64_t>(out_spread)));
        int back_at =
            back_from + static_cast<int>(u.r.below(static_cast<std::uint64_t>(back_spread)));
        const bool late = u.r.chance(0.05);
        const int late_at = 1140 + static_cast<int>(u.r.below(240));
        const bool loses = u.r.chance(0.002);
        const auto pick = u.r.below(staff.size());
        if (!use || staff.empty()) return;
        if (late) back_at = late_at;
        u.checkout_at = out_at;
        u.return_at = loses ? -1 : back_at;
        u.late = late;
        u.loses_it = loses;
        // A camera goes with "its" officer; drones and analyzers with whoever needs one today.
        const std::size_t idx = u.spec.cls == device_class::body_camera
                                    ? static_cast<std::size_t>(u.ordinal) % staff.size()
                                    : pick;
        u.planned_holder = staff[idx];
    }

    void checkout(unit& u) {
        if (u.slot < 0 || u.planned_holder < 0) return;
        dock& d = docks[u.home_dock];
        const bool unauthorised = u.r.chance(0.003);  // drawn first: a lock shifts no later draw
        if (u.locked) {
            ++stats.locked_left_in_dock;
            return;
        }
        std::optional<std::string> badge;
        if (!unauthorised) badge = people[static_cast<std::size_t>(u.planned_holder)].badge;
        emit_dock_event(d, "slot_remove", u.slot, u, badge);
        d.slots[static_cast<std::size_t>(u.slot)] = -1;
        u.slot = -1;
        u.holder = u.planned_holder;
        ++stats.checkouts;
        if (unauthorised) ++stats.unauthorised_removals;
        if (u.loses_it) {
            u.lost = true;
            ++stats.lost;
        }
    }

    void give_back(unit& u) {
        if (u.slot >= 0 || u.lost) return;
        dock& d = docks[u.home_dock];
        auto free = std::find(d.slots.begin(), d.slots.end(), -1);
        if (free == d.slots.end()) return;  // full dock: the officer tries again next minute
        const int slot = static_cast<int>(free - d.slots.begin());
        *free = static_cast<int>(&u - units.data());
        std::optional<std::string> badge;
        if (u.holder >= 0) badge = people[static_cast<std::size_t>(u.holder)].badge;
        emit_dock_event(d, "slot_insert", slot, u, badge);
        u.slot = slot;
        u.holder = -1;
        u.recording = false;
        u.airborne = false;
        u.offline_steps = 0;
        const city_info* c = find_city(u.spec.city);
        u.lat = c->lat;
        u.lon = c->lon;
        ++stats.returns;
        if (u.late) ++stats.late_returns;
    }

    void drain(unit& u, double pct) {
        const double before = u.battery;
        u.battery = std::max(0.0, u.battery - pct);
        u.discharged_pct += before - u.battery;
        if (u.discharged_pct >= 100) {
            u.discharged_pct -= 100;
            ++u.battery_cycles;
        }
        if (!u.low_battery_sent && before >= low_battery_threshold_pct &&
            u.battery < low_battery_threshold_pct && u.battery > dead_battery_pct &&
            u.offline_steps == 0) {
            u.low_battery_sent = true;
            emit_device_event(u, {{"type", "low_battery"}, {"battery_pct", round1(u.battery)}});
        }
    }

    void field_use(unit& u, int minute) {
        const bool working = minute >= 480 && minute < 1080;
        u.lat += u.r.range(-0.002, 0.002);
        u.lon += u.r.range(-0.002, 0.002);
        // Drop-outs: the device goes silent for a while (tunnel, dead zone), then reports it.
        const bool drop = u.r.chance(1.0 / 1500);
        const int drop_len = 10 + static_cast<int>(u.r.below(50));
        if (u.offline_steps > 0) {
            if (--u.offline_steps == 0)
                emit_device_event(
                    u, {{"type", "fault"},
                        {"code", "comm_dropout"},
                        {"detail", "no link for " + std::to_string(u.dropout_length) + " min"}});
        } else if (drop) {
            u.offline_steps = u.dropout_length = drop_len;
            ++stats.dropouts;
        }
        switch (u.spec.cls) {
            case device_class::body_camera:
                camera_use(u, working);
                break;
            case device_class::drone:
                drone_use(u, working);
                break;
            case device_class::analyzer:
                drain(u, working ? 0.1 : 0.03);
                break;
            case device_class::dock:
                break;
        }
    }

    void camera_use(unit& u, bool working) {
        const bool start = u.r.chance(1.0 / 25);
        const bool stop = u.r.chance(1.0 / 15);
        if (!u.recording && working && start && u.storage_free > footage_mb_per_min &&
            u.battery > dead_battery_pct) {
            u.recording = true;
            u.session_mb = 0;
            emit_device_event(u, {{"type", "recording_started"}});
        } else if (u.recording) {
            const double mb = std::min(footage_mb_per_min, u.storage_free);
            u.session_mb += mb;
            u.pending_mb += mb;
            u.storage_free -= mb;
            if (!u.pending_since) u.pending_since = now;
            if (stop || !working || u.storage_free <= 0 || u.battery <= dead_battery_pct) {
                u.recording = false;
                emit_device_event(
                    u, {{"type", "recording_stopped"}, {"footage_mb", round1(u.session_mb)}});
            }
        }
        drain(u, u.recording ? 0.2 : 0.06);
    }

    void drone_use(unit& u, bool working) {
        const bool start = u.r.chance(1.0 / 90);
        const bool land = u.r.chance(1.0 / 22);
        if (!u.airborne && working && start && u.battery > 40) {
            u.airborne = true;
            u.flight_steps = 0;
            emit_device_event(u, {{"type", "flight_started"}});
        } else if (u.airborne) {
            ++u.flight_steps;
            u.flight_hours += 1.0 / 60;
            if (land || u.battery < 25) {
                u.airborne = false;
                emit_device_event(u,
                                  {{"type", "flight_ended"}, {"flight_minutes", u.flight_steps}});
            }
        }
        if (u.r.chance(1.0 / 3000) && u.health_codes.size() < 3)
            u.health_codes.emplace_back(health_code_pool[u.r.below(std::size(health_code_pool))]);
        drain(u, u.airborne ? 2.2 : 0.05);
    }

    void docked(unit& u) {
        if (u.battery < 100) {
            u.battery = std::min(100.0, u.battery + charge_pct_per_min);
            if (u.battery >= low_battery_threshold_pct + 5) u.low_battery_sent = false;
        }
        if (u.spec.cls == device_class::body_camera && u.pending_mb > 0) {
            const double mb = std::min(offload_mb_per_min, u.pending_mb);
            u.pending_mb -= mb;
            u.offloading_total += mb;
            u.storage_free = std::min(u.storage_total, u.storage_free + mb);
            if (u.pending_mb <= 0) {
                emit_device_event(u, {{"type", "footage_offloaded"},
                                      {"offloaded_mb", round1(u.offloading_total)}});
                u.offloading_total = 0;
                u.pending_since.reset();
            }
        }
        if (u.spec.cls == device_class::analyzer) {
            // A custodian recalibrates analyzers that are due within three days, now and then.
            const auto today = std::chrono::floor<std::chrono::days>(now + local_offset);
            const bool calibrate = u.r.chance(1.0 / 900);
            if (calibrate && u.calibration_due - today <= std::chrono::days{3}) {
                u.calibration_due = today + std::chrono::days{365};
                u.drift = 0;
                emit_device_event(u, {{"type", "calibrated"},
                                      {"calibration_due", format_date(u.calibration_due)}});
            }
        }
    }

    nlohmann::json telemetry(unit& u) {
        nlohmann::json t{{"ts", ts()},
                         {"seq", u.seq++},
                         {"battery_pct", round1(u.battery)},
                         {"storage_free_mb", round1(u.storage_free)},
                         {"temp_c", round1(u.temp + u.r.range(-0.5, 0.5))},
                         {"gps", {{"lat", round3(u.lat)}, {"lon", round3(u.lon)}}},
                         {"docked", u.slot >= 0},
                         {"charging", u.slot >= 0 && u.battery < 100}};
        switch (u.spec.cls) {
            case device_class::body_camera:
                t["recording"] = u.recording;
                t["footage_pending_mb"] = round1(u.pending_mb);
                t["footage_pending_since"] =
                    u.pending_since ? nlohmann::json(format_timestamp(*u.pending_since))
                                    : nlohmann::json(nullptr);
                break;
            case device_class::drone:
                t["flight_hours"] = round3(u.flight_hours);
                t["battery_cycles"] = u.battery_cycles;
                t["registration_id"] = u.registration_id;
                t["health_codes"] = u.health_codes;
                t["airborne"] = u.airborne;
                break;
            case device_class::analyzer: {
                t["calibration_due"] = format_date(u.calibration_due);
                t["drift_pct"] = round3(u.drift);
                auto readings = nlohmann::json::array();
                for (const auto& k : analyzer_kits()[u.kit])
                    readings.push_back(
                        {{"analyte", to_string(k.a)},
                         {"value", round3(std::max(0.0, k.base + u.r.range(-k.spread, k.spread)) *
                                          (1 + u.drift / 100))},
                         {"unit", k.unit}});
                t["readings"] = readings;
                break;
            }
            case device_class::dock:
                break;
        }
        return t;
    }

    void advance() {
        const int minute = local_minute(now);
        if (minute == 0 || step_index == 0) {
            for (auto& u : units) {
                plan_day(u);
                if (u.spec.cls == device_class::analyzer) u.drift += u.r.range(-0.02, 0.06);
            }
        }
        for (auto& u : units) {
            if (minute == u.checkout_at) checkout(u);
            if (u.slot < 0 && minute == u.return_at) give_back(u);
            // A late officer whose dock was full keeps trying (give_back is a no-op when docked).
            if (u.slot < 0 && u.return_at >= 0 && minute > u.return_at && !u.lost) give_back(u);
            if (u.slot >= 0)
                docked(u);
            else
                field_use(u, minute);
            u.temp = 24 + (u.slot < 0 ? 6 : 0) + u.r.range(-1, 1);
            const bool alive = u.battery > dead_battery_pct && u.offline_steps == 0;
            const bool due = (step_index + static_cast<std::uint64_t>(u.telemetry_phase)) %
                                 telemetry_every_steps ==
                             0;
            if (alive && (due || u.locate_requested)) {
                out.push_back(
                    message{message_kind::telemetry, u.spec.id, u.spec.city, telemetry(u)});
                ++stats.telemetry;
                if (u.locate_requested) ++stats.located;
                u.locate_requested = false;
            }
        }
        for (auto& d : docks) {
            if ((step_index + static_cast<std::uint64_t>(d.telemetry_phase)) %
                    telemetry_every_steps !=
                0)
                continue;
            const auto occupied =
                std::count_if(d.slots.begin(), d.slots.end(), [](int s) { return s >= 0; });
            const city_info* c = find_city(d.spec.city);
            out.push_back(message{message_kind::telemetry,
                                  d.spec.id,
                                  d.spec.city,
                                  {{"ts", ts()},
                                   {"seq", d.seq++},
                                   {"battery_pct", 100},
                                   {"storage_free_mb", dock_storage_mb},
                                   {"temp_c", round1(28 + d.r.range(-1, 1))},
                                   {"gps", {{"lat", c->lat}, {"lon", c->lon}}},
                                   {"charging", false},
                                   {"slots_total", d.slots.size()},
                                   {"slots_occupied", occupied}}});
            ++stats.telemetry;
        }
    }
};

namespace {

/// Builds one city's officers, docks and devices into the model. The order of the random draws
/// here fixes every device's stream, so it must not change.
class city_builder {
  public:
    city_builder(fleet_model::state& s, std::size_t index, const std::string& code,
                 const fleet_size& size, std::uint64_t seed, date start_day)
        : s_(s), index_(index), code_(code), size_(size), seed_(seed), start_day_(start_day) {
        const city_info* info = find_city(code);
        centre_ = info ? *info : city_info{code, code, 0, 0};
    }

    void build() {
        add_officers();
        const std::size_t first_dock = s_.docks.size();
        add_docks();
        auto units = make_units();
        dock_units(units, first_dock);
        for (auto& u : units) s_.units.push_back(std::move(u));
    }

  private:
    std::string name(const char* format, int n) const {
        char buf[96];
        std::snprintf(buf, sizeof buf, format, code_.c_str(), n);
        return buf;
    }

    void add_officers() {
        const int officers = size_.officers > 0 ? size_.officers : std::max(1, size_.body_cameras);
        s_.officers_by_city.emplace_back();
        for (int i = 1; i <= officers; ++i) {
            s_.officers_by_city.back().push_back(static_cast<int>(s_.people.size()));
            s_.people.push_back(officer{name("%s-of-%03d", i), name("B%s%03d", i), code_});
        }
    }

    void add_docks() {
        const int portable = size_.body_cameras + size_.drones + size_.analyzers;
        const int slots_per_dock =
            size_.docks > 0
                ? std::clamp((portable + size_.docks - 1) / size_.docks + 2, 1, dock_slots_max)
                : 0;
        for (int i = 1; i <= size_.docks; ++i) {
            const auto id = name("%s-dk-%d", i);
            dock d{{id, device_class::dock, "DS-24", "2.1.0", code_},
                   rng(stream_seed(seed_, id)),
                   index_,
                   {},
                   0,
                   0};
            d.slots.assign(static_cast<std::size_t>(slots_per_dock), -1);
            d.telemetry_phase = static_cast<int>(d.r.below(telemetry_every_steps));
            s_.docks.push_back(std::move(d));
        }
    }

    unit make_unit(device_class cls, const char* format, int n, const char* model,
                   double storage) const {
        const auto id = name(format, n);
        unit u;
        u.spec = {id, cls, model, "1.4.2", code_};
        u.r = rng(stream_seed(seed_, id));
        u.city = index_;
        u.ordinal = n - 1;
        u.storage_total = storage;
        u.storage_free = storage * u.r.range(0.6, 1.0);
        u.battery = u.r.range(60, 100);
        u.lat = centre_.lat;
        u.lon = centre_.lon;
        u.telemetry_phase = static_cast<int>(u.r.below(telemetry_every_steps));
        return u;
    }

    std::vector<unit> make_units() const {
        std::vector<unit> units;
        for (int i = 1; i <= size_.body_cameras; ++i) {
            auto u =
                make_unit(device_class::body_camera, "%s-bc-%03d", i, "BWC-X7", camera_storage_mb);
            u.storage_free = camera_storage_mb;  // offloaded overnight
            units.push_back(std::move(u));
        }
        for (int i = 1; i <= size_.drones; ++i) {
            auto u = make_unit(device_class::drone, "%s-dr-%03d", i, "M30T", drone_storage_mb);
            u.registration_id = name("UAS-%s-%05d", static_cast<int>(u.r.below(100000)));
            u.flight_hours = round3(u.r.range(5, 300));
            u.battery_cycles = u.r.below(400);
            units.push_back(std::move(u));
        }
        for (int i = 1; i <= size_.analyzers; ++i) {
            const std::size_t kit = static_cast<std::size_t>(i - 1) % analyzer_kits().size();
            auto u = make_unit(device_class::analyzer, "%s-an-%03d", i, analyzer_models[kit],
                               analyzer_storage_mb);
            u.kit = kit;
            // Some analyzers are close to their calibration due date on day one.
            const bool near = u.r.chance(0.2);
            const auto days =
                near ? static_cast<int>(u.r.below(10)) : 10 + static_cast<int>(u.r.below(355));
            u.calibration_due = start_day_ + std::chrono::days{days};
            u.drift = u.r.range(0, 1.5);
            units.push_back(std::move(u));
        }
        return units;
    }

    /// Docks everything, round-robin over the city's docks.
    void dock_units(std::vector<unit>& units, std::size_t first_dock) {
        for (std::size_t i = 0; i < units.size(); ++i) {
            auto& u = units[i];
            u.home_dock = first_dock + i % static_cast<std::size_t>(std::max(1, size_.docks));
            if (size_.docks == 0) continue;
            auto& d = s_.docks[u.home_dock];
            auto free = std::find(d.slots.begin(), d.slots.end(), -1);
            u.slot = static_cast<int>(free - d.slots.begin());
            *free = static_cast<int>(s_.units.size() + i);
        }
    }

    fleet_model::state& s_;
    std::size_t index_;
    const std::string& code_;
    fleet_size size_;
    std::uint64_t seed_;
    date start_day_;
    city_info centre_;
};

}  // namespace

fleet_model::fleet_model(const std::vector<std::string>& cities, const fleet_config& config,
                         std::uint64_t seed, clock_ms start)
    : state_(std::make_unique<state>()) {
    auto& s = *state_;
    s.cities = cities;
    s.now = start;
    const date start_day = std::chrono::floor<std::chrono::days>(start + local_offset);
    for (std::size_t ci = 0; ci < cities.size(); ++ci)
        city_builder(s, ci, cities[ci], config.for_city(cities[ci]), seed, start_day).build();
    for (const auto& u : s.units) s.specs.push_back(u.spec);
    for (const auto& d : s.docks) s.specs.push_back(d.spec);
}

fleet_model::~fleet_model() = default;
fleet_model::fleet_model(fleet_model&&) noexcept = default;
fleet_model& fleet_model::operator=(fleet_model&&) noexcept = default;

const std::vector<device_spec>& fleet_model::devices() const noexcept {
    return state_->specs;
}
const std::vector<officer>& fleet_model::officers() const noexcept {
    return state_->people;
}
clock_ms fleet_model::now() const noexcept {
    return state_->now;
}
const model_stats& fleet_model::stats() const noexcept {
    return state_->stats;
}

std::vector<message> fleet_model::step() {
    auto& s = *state_;
    s.out.clear();
    s.advance();
    s.now += step_length;
    ++s.step_index;
    return std::move(s.out);
}

void fleet_model::apply_command(std::string_view device_id, device_cmd_type type) {
    auto& s = *state_;
    auto u = std::find_if(s.units.begin(), s.units.end(),
                          [&](const unit& x) { return x.spec.id == device_id; });
    if (u == s.units.end()) return;
    switch (type) {
        case device_cmd_type::lock:
            u->locked = true;
            break;
        case device_cmd_type::unlock:
            u->locked = false;
            break;
        case device_cmd_type::locate:
            u->locate_requested = true;
            break;
        case device_cmd_type::config:
            break;
    }
}

void fleet_model::checkout_refused(std::string_view dock_id, std::string_view device_id) {
    auto& s = *state_;
    auto d = std::find_if(s.docks.begin(), s.docks.end(),
                          [&](const dock& x) { return x.spec.id == dock_id; });
    auto u = std::find_if(s.units.begin(), s.units.end(),
                          [&](const unit& x) { return x.spec.id == device_id; });
    if (d == s.docks.end() || u == s.units.end() || u->slot >= 0) return;
    auto free = std::find(d->slots.begin(), d->slots.end(), -1);
    if (free == d->slots.end()) return;
    *free = static_cast<int>(u - s.units.begin());
    u->slot = static_cast<int>(free - d->slots.begin());
    u->holder = -1;
    u->return_at = -1;
    u->recording = u->airborne = false;
    if (u->lost) {
        u->lost = false;  // it never left, so it cannot be lost either
        --s.stats.lost;
    }
    ++s.stats.refused;
}

}  // namespace eqm::sim
