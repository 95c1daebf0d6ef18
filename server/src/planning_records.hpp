#pragma once
/// What the planning side keeps and reads through region_store: standard-issue quotas, stock
/// counts for the quota-gap report and the allocation plan, stored plans with their approval,
/// and the custody history the utilization report walks (docs/allocation.md).
#include <cstdint>
#include <optional>
#include <string>

#include "eqm/domain/time.hpp"

namespace eqm::server {

/// One standard-issue quota: at least `min_ready` ready units of `cls` (and, for analyzers,
/// optionally one analyte) in `city`.
struct quota_entry {
    std::string city;
    std::string cls;
    std::optional<std::string> analyte;
    std::int64_t min_ready = 0;
    bool operator==(const quota_entry&) const = default;
};

/// Registered units of one class (and analyte) in one city, by what they are doing. Retired
/// and lost units are not stock.
struct stock_count {
    std::string city;
    std::string cls;
    std::optional<std::string> analyte;
    std::int64_t stock = 0;   ///< registered here, not retired or lost
    std::int64_t ready = 0;   ///< available and not locked
    std::int64_t in_use = 0;  ///< checked out
};

/// Units of one class (and analyte) on their way to `to_city` under a transfer.
struct transit_count {
    std::string to_city;
    std::string cls;
    std::optional<std::string> analyte;
    std::int64_t count = 0;
};

/// Units that approved class bookings of a city still need (bookings not ended yet), per class
/// and analyte: the `reserved` demand of a plan made from live data.
struct booked_count {
    std::string city;
    std::string cls;
    std::optional<std::string> analyte;
    std::int64_t count = 0;
};

/// An allocation plan as kept: its input and answer (JSON texts), who asked and when, and
/// once approved, who approved it, when, and what the approval made (JSON text
/// `{moves: [...], transfers: [...]}`).
struct stored_plan {
    std::string id;
    std::string input;
    std::string plan;
    std::string requested_by;
    clock_ms created_at{};
    std::optional<std::string> approved_by;
    std::optional<clock_ms> approved_at;
    std::optional<std::string> approval;
};

/// A registered device as the utilization report counts it.
struct device_brief {
    std::string id;
    std::string city;
    std::string cls;
    clock_ms created_at{};
    bool retired = false;
};

/// One custody record as the utilization report reads it: the state it put the device in, in
/// which city, when, and the due time of a check-out.
struct custody_state_row {
    std::string device_id;
    clock_ms ts{};
    std::string to_state;
    std::string city;
    std::optional<clock_ms> due;
};

}  // namespace eqm::server
