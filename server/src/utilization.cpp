// The utilization report: one pass over the custody history (see utilization.hpp).
#include "utilization.hpp"

#include <algorithm>
#include <cmath>

namespace eqm::server {

using nlohmann::json;

namespace {

constexpr std::int64_t ms_per_hour = 3'600'000;
constexpr std::int64_t ms_per_day = 24 * ms_per_hour;

bool is_available_state(std::string_view s) {
    return s == "available" || s == "checked_out";
}

bool is_gone_state(std::string_view s) {
    return s == "lost" || s == "retired";
}

/// Hours with two decimals.
double hours(std::int64_t ms) {
    return std::round(static_cast<double>(ms) / ms_per_hour * 100.0) / 100.0;
}

double ratio(const utilization_figures& f) {
    if (f.available_ms <= 0) return 0.0;
    return std::round(static_cast<double>(f.custody_ms) / f.available_ms * 10000.0) / 10000.0;
}

/// Midnight of local day `d`, as UTC.
clock_ms local_midnight(date d) {
    return clock_ms(std::chrono::duration_cast<std::chrono::milliseconds>(d.time_since_epoch() -
                                                                          report_utc_offset));
}

json figures_json(const utilization_figures& f) {
    return json{{"custody_hours", hours(f.custody_ms)},
                {"available_hours", hours(f.available_ms)},
                {"utilization", ratio(f)},
                {"overdue_returns", f.overdue_returns},
                {"stock_outs", f.stock_outs}};
}

}  // namespace

utilization_builder::utilization_builder(const utilization_query& q,
                                         std::span<const device_brief> devices)
    : q_(q), start_(local_midnight(q.from)), end_(local_midnight(q.to + std::chrono::days{1})) {
    end_ = std::min(end_, std::max(start_, q.now));
    devices_.reserve(devices.size());
    for (const auto& d : devices) devices_.emplace(d.id, &d);
}

int utilization_builder::day_of(clock_ms t) const {
    return static_cast<int>((t - start_).count() / ms_per_day);
}

utilization_group& utilization_builder::group(const std::string& city, const std::string& cls) {
    auto [it, fresh] = groups_.try_emplace({city, cls});
    if (fresh) {
        it->second.city = city;
        it->second.cls = cls;
        if (q_.per_day)
            it->second.days.resize(static_cast<std::size_t>((q_.to - q_.from).count() + 1));
    }
    return it->second;
}

/// Adds a span of `state` to its group, cut at local midnights.
void utilization_builder::account(const std::string& city, const std::string& cls,
                                  const std::string& state, clock_ms begin, clock_ms end) {
    if (!is_available_state(state)) return;
    begin = std::max(begin, start_);
    end = std::min(end, end_);
    if (begin >= end) return;
    if (q_.city && *q_.city != city) return;
    auto& g = group(city, cls);
    const bool custody = state == "checked_out";
    while (begin < end) {
        const int day = day_of(begin);
        const clock_ms next =
            std::min(end, start_ + std::chrono::milliseconds((day + 1) * ms_per_day));
        const auto ms = (next - begin).count();
        g.total.available_ms += ms;
        if (custody) g.total.custody_ms += ms;
        if (q_.per_day) {
            auto& f = g.days[static_cast<std::size_t>(day)];
            f.available_ms += ms;
            if (custody) f.custody_ms += ms;
        }
        begin = next;
    }
}

/// A check-out returned at `returned` (or still out at the end) counts as overdue on the day
/// of its due time when it came back after it.
void utilization_builder::count_return(const std::string& city, const std::string& cls,
                                       clock_ms due, clock_ms returned) {
    if (returned <= due || due < start_ || due >= end_) return;
    if (q_.city && *q_.city != city) return;
    auto& g = group(city, cls);
    ++g.total.overdue_returns;
    if (q_.per_day) ++g.days[static_cast<std::size_t>(day_of(due))].overdue_returns;
}

void utilization_builder::add_stock_out(const std::string& city, const std::string& cls,
                                        clock_ms at) {
    if (at < start_ || at >= end_) return;
    if ((q_.city && *q_.city != city) || (q_.cls && *q_.cls != cls)) return;
    auto& g = group(city, cls);
    ++g.total.stock_outs;
    if (q_.per_day) ++g.days[static_cast<std::size_t>(day_of(at))].stock_outs;
}

void utilization_builder::add(const custody_state_row& row) {
    if (!walk_ || walk_->device == nullptr || walk_->device->id != row.device_id) {
        if (walk_) close_device();
        walk_.reset();
        auto it = devices_.find(row.device_id);
        if (it == devices_.end()) return;  // history of a device no longer registered
        if (q_.cls && *q_.cls != it->second->cls) return;
        seen_[row.device_id] = true;
        walk_ = walk_state{
            it->second,   "available", row.city, std::min(it->second->created_at, row.ts),
            std::nullopt, clock_ms{},  false};
    }
    auto& w = *walk_;
    const auto& cls = w.device->cls;
    account(w.city, cls, w.state, w.since, row.ts);
    if (w.state == "checked_out") {
        w.last_custody = row.ts;
        w.ever_out = true;
        if (w.due && row.to_state != "checked_out") count_return(w.city, cls, *w.due, row.ts);
    }
    if (row.to_state == "checked_out" && w.state != "checked_out") w.due = row.due;
    if (row.to_state != "checked_out") w.due.reset();
    w.state = row.to_state;
    w.city = row.city;
    w.since = row.ts;
}

void utilization_builder::close_device() {
    auto& w = *walk_;
    const auto& cls = w.device->cls;
    account(w.city, cls, w.state, w.since, end_);
    if (w.state == "checked_out") {
        w.last_custody = end_;
        w.ever_out = true;
        if (w.due) count_return(w.city, cls, *w.due, q_.now);
    }
    const clock_ms begun = std::min(w.device->created_at, w.since);
    if (is_gone_state(w.state) || w.device->retired || begun >= end_) return;
    if (q_.city && *q_.city != w.city) return;
    auto& g = group(w.city, cls);
    ++g.devices;
    const clock_ms idle_since = end_ - idle_after;
    if (begun <= idle_since && (!w.ever_out || w.last_custody < idle_since)) ++g.idle_30d;
}

std::vector<utilization_group> utilization_builder::finish() {
    if (walk_) close_device();
    walk_.reset();
    // Devices without any custody record: available since registration, in their city.
    for (const auto& [id, d] : devices_) {
        if (seen_.contains(id) || (q_.cls && *q_.cls != d->cls)) continue;
        walk_ = walk_state{d, "available", d->city, d->created_at, std::nullopt, clock_ms{}, false};
        close_device();
    }
    walk_.reset();
    std::vector<utilization_group> out;
    out.reserve(groups_.size());
    for (auto& [key, g] : groups_) out.push_back(std::move(g));
    return out;
}

json utilization_json(const utilization_query& q, const std::vector<utilization_group>& groups) {
    json items = json::array();
    for (const auto& g : groups) {
        json item{
            {"city", g.city}, {"class", g.cls}, {"devices", g.devices}, {"idle_30d", g.idle_30d}};
        item.update(figures_json(g.total));
        if (q.per_day) {
            json days = json::array();
            for (std::size_t i = 0; i < g.days.size(); ++i) {
                json d{{"date", format_date(q.from + std::chrono::days{i})}};
                d.update(figures_json(g.days[i]));
                days.push_back(std::move(d));
            }
            item["days"] = std::move(days);
        }
        items.push_back(std::move(item));
    }
    return json{{"from", format_date(q.from)},
                {"to", format_date(q.to)},
                {"utc_offset", "+08:00"},
                {"granularity", q.per_day ? "day" : "total"},
                {"items", std::move(items)}};
}

namespace {

std::string number_text(double v) {
    json j = v;
    return j.dump();
}

void figures_csv(std::string& out, const utilization_figures& f) {
    out += number_text(hours(f.custody_ms)) + "," + number_text(hours(f.available_ms)) + "," +
           number_text(ratio(f)) + "," + std::to_string(f.overdue_returns) + "," +
           std::to_string(f.stock_outs);
}

}  // namespace

std::string utilization_csv(const utilization_query& q,
                            const std::vector<utilization_group>& groups) {
    std::string out;
    if (q.per_day) {
        out =
            "date,city,class,custody_hours,available_hours,utilization,overdue_returns,"
            "stock_outs\r\n";
        for (const auto& g : groups) {
            for (std::size_t i = 0; i < g.days.size(); ++i) {
                out +=
                    format_date(q.from + std::chrono::days{i}) + "," + g.city + "," + g.cls + ",";
                figures_csv(out, g.days[i]);
                out += "\r\n";
            }
        }
        return out;
    }
    out =
        "city,class,devices,idle_30d,custody_hours,available_hours,utilization,"
        "overdue_returns,stock_outs\r\n";
    for (const auto& g : groups) {
        out += g.city + "," + g.cls + "," + std::to_string(g.devices) + "," +
               std::to_string(g.idle_30d) + ",";
        figures_csv(out, g.total);
        out += "\r\n";
    }
    return out;
}

}  // namespace eqm::server
