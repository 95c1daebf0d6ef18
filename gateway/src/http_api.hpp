#pragma once
/// The gateway's HTTP surface on eqm_http: /healthz, /metrics (Prometheus text) and the
/// city-scoped custody API of ARCHITECTURE.md under /api/v1, used by the custodian kiosk:
///
///   POST /api/v1/auth/login                 {name, password} -> {token, expires_at, role, ...}
///   GET  /api/v1/devices?class=&status=     device resources (a page, by id)
///   GET  /api/v1/devices/{id}               one device
///   GET  /api/v1/devices/{id}/custody       its ledger records (a page, oldest first)
///   POST /api/v1/devices/{id}/checkout      {badge, due?}
///   POST /api/v1/devices/{id}/checkin       {condition?, note?, badge?}
///   GET  /api/v1/alerts?all=true            active alerts, all: with history (a page, newest
///                                           first)
///   POST /api/v1/alerts/{id}/ack            {}
///
/// Lists are pages (paging.hpp): `?limit=&cursor=` in, `{items, next_cursor}` out.
///
/// Every /api/v1 route but the login needs `Authorization: Bearer <token>` (kiosk_auth.hpp) and
/// passes eqm::http::check_origin; bodies are JSON only (eqm::http::read_json_object). /healthz
/// and /metrics change nothing and need no token.
///
/// One named handler per route, shaped like the server's (server/src/api.cpp): check who asks,
/// read the request, decide on the core thread, answer. A check-out's answer is sent after its
/// commit. Errors are application/problem+json from eqm_http's one errc table, naming the
/// field (400 bad input, 401/403, 404, 409 refusals, 415 not JSON, 429 too many failed
/// logins, 503 when the ledger cannot be written or the core cannot take more work now).
#include <atomic>

#include "eqm/http/origin.hpp"
#include "eqm/http/router.hpp"
#include "eqm/http/server.hpp"
#include "gateway_core.hpp"
#include "kiosk_auth.hpp"

namespace eqm::gateway {

/// What every handler works with. Outlives the router built from it.
struct api_context {
    gateway_core& core;
    /// Set once the server runs (its request counters join /metrics then).
    const std::atomic<const http::server*>& server;
    /// Host names and origins accepted by /api/v1 (eqm/http/origin.hpp).
    http::origin_policy origins;
    /// Login throttle, password checks and login counters.
    login_desk& logins;
};

/// Builds the routes (and the static files of `static_dir`, when given).
http::router make_routes(api_context& ctx);

}  // namespace eqm::gateway
