#pragma once
/// A person's check-out or check-in request as the REST body carries it, at the gateway
/// (`POST /api/v1/devices/{id}/checkout|checkin` of the city) and at the server (the same paths
/// for the region). One reader, so both answer the same body the same way; the server turns the
/// result into a custody_request_cmd for the owning gateway, the gateway decides it.
///
/// | action   | fields                                                                 |
/// | -------- | ---------------------------------------------------------------------- |
/// | checkout | `badge` (required, an id), `due` (optional, RFC 3339 ms UTC)            |
/// | checkin  | `condition` (good, damaged, needs_service), `note` (at most 512         |
/// |          | characters, counted in Unicode code points as on MQTT), `badge` (the    |
/// |          | returner, optional)                                                     |
///
/// Any other member is errc::unknown_field; every refusal names its field.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/time.hpp"

namespace eqm {

struct custody_request_body {
    std::optional<std::string> badge{};
    std::optional<clock_ms> due{};
    std::optional<item_condition> condition{};
    std::optional<std::string> note{};
    bool operator==(const custody_request_body&) const = default;
};

/// Reads a check-out (`action` checkout) or check-in (checkin) body; see the table above.
result<custody_request_body> parse_custody_request(const nlohmann::json& body,
                                                   custody_action action);

}  // namespace eqm
