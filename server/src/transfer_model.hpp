#pragma once
/// Transfers between cities (ARCHITECTURE.md, `POST /transfers`; docs/transfers.md): what a
/// dispatcher asks for, the units a transfer moves, and their states. The server is the single
/// writer of transfers; the gateways carry out the hand-over and the arrival.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/time.hpp"

namespace eqm::server {

/// Units one count line may ask for.
inline constexpr std::uint32_t max_transfer_count = 500;
/// Lines one transfer may have.
inline constexpr std::size_t max_transfer_items = 500;
/// Characters of a transfer's reason.
inline constexpr std::size_t max_transfer_reason_chars = 512;

/// requested → approved → in_transit → completed; cancelled before the hand-over; overdue when
/// the due time passes before every unit arrived (it still completes when they do).
enum class transfer_status { requested, approved, in_transit, completed, cancelled, overdue };
std::string_view to_string(transfer_status s) noexcept;
std::optional<transfer_status> parse_transfer_status(std::string_view s) noexcept;
/// Open: not completed and not cancelled.
bool is_open(transfer_status s) noexcept;

/// One line of a transfer: a named device, or `count` units of a class (and analyte).
struct transfer_item {
    std::optional<std::string> device_id;
    std::optional<device_class> cls;
    std::optional<analyte> analyte_type;
    std::uint32_t count = 1;
    bool operator==(const transfer_item&) const = default;
};

/// Where one device of a transfer is.
enum class transfer_unit_state { ordered, in_transit, arrived, cancelled };
std::string_view to_string(transfer_unit_state s) noexcept;
std::optional<transfer_unit_state> parse_transfer_unit_state(std::string_view s) noexcept;

/// A device a transfer moves: named at creation, or picked by the source gateway for a count.
struct transfer_unit {
    std::string device_id;
    device_class cls = device_class::body_camera;
    std::optional<analyte> analyte_type;
    transfer_unit_state state = transfer_unit_state::ordered;
    std::optional<std::string> courier;  ///< who took it at the source
    std::optional<clock_ms> handed_over_at;
    std::optional<clock_ms> arrived_at;
};

/// A transfer as the server keeps it.
struct transfer_view {
    std::string id;
    std::string from_city;
    std::string to_city;
    std::vector<transfer_item> items;
    clock_ms due{};
    std::string reason;
    transfer_status status = transfer_status::requested;
    std::string created_by;
    clock_ms created_at{};
    clock_ms updated_at{};
    std::optional<std::string> approved_by;
    std::optional<clock_ms> approved_at;
    std::optional<std::string> cancelled_by;
    std::optional<clock_ms> completed_at;
    std::vector<transfer_unit> units;

    /// Units the items ask for in all (named devices and counts).
    std::uint32_t units_asked() const noexcept;
};

/// A `POST /transfers` body, read and checked for shape (not yet against the registry).
struct transfer_request {
    std::string from_city;
    std::string to_city;
    std::vector<transfer_item> items;
    clock_ms due{};
    std::string reason;
};

/// Reads a `POST /transfers` body: `{from_city, to_city, items: [{device_id} | {class, count,
/// analyte?}], due, reason}`. errc::bad_field naming the field (`items[2].count`) and the rule;
/// errc::unknown_field for a member the contract does not know. Cities must be the region's,
/// different from each other; `due` after `now`.
result<transfer_request> parse_transfer_request(const nlohmann::json& body, clock_ms now);

/// `{device_id}` or `{class, count, analyte?}`.
nlohmann::json to_json(const transfer_item& item);
/// Reads an item as to_json wrote it (or as a client sent it); `path` prefixes field names.
result<transfer_item> transfer_item_from_json(const nlohmann::json& j, const std::string& path);
/// `{device_id, class, analyte?, state, courier?, handed_over_at?, arrived_at?}`.
nlohmann::json to_json(const transfer_unit& unit);
/// The REST and feed shape: `{id, status, from_city, to_city, items, due, reason, created_by,
/// created_at, updated_at, approved_by?, approved_at?, cancelled_by?, completed_at?, units}`.
nlohmann::json to_json(const transfer_view& t);

/// Filters of GET /transfers; empty fields match everything.
struct transfer_filter {
    std::optional<transfer_status> status;
    std::optional<std::string> city;  ///< from or to this city
    std::optional<std::string> from_city;
    std::optional<std::string> to_city;
};

/// A custody record that moved a unit of a transfer (the ingest reports them after commit).
struct transfer_move {
    std::string transfer_id;
    std::string device_id;
    custody_action action = custody_action::transfer_out;
};

}  // namespace eqm::server
