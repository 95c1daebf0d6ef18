#pragma once
/// JSON shapes of the read model for REST and the WebSocket feed (see docs/server.md).
#include <nlohmann/json.hpp>
#include <optional>

#include "eqm/domain/time.hpp"
#include "region.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// `{id, class, model, city, ...class fields, status, holder, due?, online, locked, last_seen,
/// fw?, readiness: {ready, problems}, telemetry?}`; readiness is judged at `now`.
nlohmann::json device_json(const device_view& d, clock_ms now);
/// `{id, city, type, state, severity, detail, device_id?, raised_at, updated_at, acked_by?,
/// acked_at?}`.
nlohmann::json alert_json(const alert_view& a);
/// `{code, name, lat, lon, online, last_seen, gw_id?, version?, bd_seq, applied_seq}`.
nlohmann::json city_json(const city_info& c, const std::optional<gateway_view>& g);
/// `{city, verified, record}`.
nlohmann::json custody_json(const custody_entry& e);

}  // namespace eqm::server
