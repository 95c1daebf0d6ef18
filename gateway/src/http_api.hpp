#pragma once
/// The gateway's HTTP surface on eqm_http: /healthz, /metrics (Prometheus text) and the
/// city-scoped custody API of ARCHITECTURE.md under /api/v1, used by the custodian kiosk:
///
///   GET  /api/v1/devices?class=&status=     device resources
///   GET  /api/v1/devices/{id}               one device
///   GET  /api/v1/devices/{id}/custody       its ledger records
///   POST /api/v1/devices/{id}/checkout      {badge, due?}
///   POST /api/v1/devices/{id}/checkin       {condition?, note?}
///   GET  /api/v1/alerts?all=true            active alerts (all: with history)
///   POST /api/v1/alerts/{id}/ack            {by?}
///
/// Handlers post their work to the core thread and answer through the async responder; a
/// check-out's answer is sent after its commit. Errors are application/problem+json naming
/// the field (400 bad input, 404, 409 refusals, 503 when the ledger cannot be written).
#include <atomic>

#include "eqm/http/router.hpp"
#include "eqm/http/server.hpp"
#include "gateway_core.hpp"

namespace eqm::gateway {

/// Builds the routes. `server` may be set later (its metrics join /metrics once it is).
http::router make_routes(gateway_core& core, const std::atomic<const http::server*>& server);

}  // namespace eqm::gateway
