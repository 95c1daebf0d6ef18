#pragma once
/// The utilization report (GET /api/v1/reports/utilization, docs/allocation.md): per city and
/// class, and per local day (Asia/Shanghai, UTC+8, no daylight saving), the hours devices spent
/// in custody against the hours they were available to be taken, the devices idle for 30 days,
/// and the check-outs returned late.
///
/// It is computed in one pass over the custody history ordered by device and time
/// (region_store::scan_custody_states reads it off an index): each record closes the span the
/// previous one opened. A device counts as available from its registration (or its first
/// record, when history was loaded from before it was registered) in the city of its first
/// record; `available` and `checked_out` time is available time, `checked_out` time is custody
/// time; maintenance, transit, lost and retired time is neither.
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "eqm/domain/time.hpp"
#include "planning_records.hpp"

namespace eqm::server {

/// The offset of the days the report is cut into (China Standard Time).
inline constexpr std::chrono::hours report_utc_offset{8};
/// The longest report range, in days.
inline constexpr int max_report_days = 731;
/// A device with no custody in this long is idle.
inline constexpr std::chrono::days idle_after{30};

/// What to report on: whole local days `from`..`to` (both included), up to `now`.
struct utilization_query {
    date from{};
    date to{};
    clock_ms now{};
    std::optional<std::string> city;
    std::optional<std::string> cls;
    bool per_day = true;
};

/// The figures of one city and class over the whole range, and per day.
struct utilization_figures {
    std::int64_t custody_ms = 0;
    std::int64_t available_ms = 0;
    std::int64_t overdue_returns = 0;
    std::int64_t stock_outs = 0;  ///< class bookings refused for lack of units
};

struct utilization_group {
    std::string city;
    std::string cls;
    std::int64_t devices = 0;   ///< devices of the class in the city at the end of the range
    std::int64_t idle_30d = 0;  ///< of those, with no custody in the 30 days before its end
    utilization_figures total;
    std::vector<utilization_figures> days;  ///< one per day of the range
};

/// Accumulates the report from the custody rows, fed in device and time order.
class utilization_builder {
  public:
    utilization_builder(const utilization_query& q, std::span<const device_brief> devices);

    /// One custody record (rows of a device together, oldest first).
    void add(const custody_state_row& row);
    /// A class booking of the city refused at `at` for lack of units (a stock-out).
    void add_stock_out(const std::string& city, const std::string& cls, clock_ms at);
    /// Closes the last device and every device without history; the groups by city and class.
    std::vector<utilization_group> finish();

  private:
    void close_device();
    void account(const std::string& city, const std::string& cls, const std::string& state,
                 clock_ms begin, clock_ms end);
    void count_return(const std::string& city, const std::string& cls, clock_ms due,
                      clock_ms returned);
    utilization_group& group(const std::string& city, const std::string& cls);
    int day_of(clock_ms t) const;

    utilization_query q_;
    clock_ms start_{}, end_{};
    std::unordered_map<std::string, const device_brief*> devices_;
    std::unordered_map<std::string, bool> seen_;
    std::map<std::pair<std::string, std::string>, utilization_group> groups_;
    struct walk_state {
        const device_brief* device = nullptr;
        std::string state, city;
        clock_ms since{};
        std::optional<clock_ms> due;
        clock_ms last_custody{};
        bool ever_out = false;
    };
    std::optional<walk_state> walk_;
};

/// The report as JSON: `{from, to, utc_offset, items: [{city, class, devices, idle_30d,
/// custody_hours, available_hours, utilization, overdue_returns, days?: [...]}]}`.
nlohmann::json utilization_json(const utilization_query& q,
                                const std::vector<utilization_group>& groups);
/// The report as CSV: a row per day (per_day) or per city and class.
std::string utilization_csv(const utilization_query& q,
                            const std::vector<utilization_group>& groups);

}  // namespace eqm::server
