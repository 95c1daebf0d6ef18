#pragma once
/// The REST API and the WebSocket feed of eqm-server (paths of ARCHITECTURE.md under /api/v1,
/// plus /healthz and /metrics). docs/server.md describes every route; schemas/openapi.json is
/// its machine-readable form and must list every route added here.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "auth.hpp"
#include "body_cache.hpp"
#include "eqm/http/router.hpp"
#include "eqm/http/server.hpp"
#include "eqm/http/ws_hub.hpp"
#include "eqm/runtime/clock.hpp"
#include "gateway_link.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// What the handlers use. Pointers, so a route list can be built without running anything.
struct api_context {
    region_store* store = nullptr;
    gateway_link* link = nullptr;
    auth_service* auth = nullptr;
    http::ws_hub* hub = nullptr;
    /// Set once the server exists (for its HTTP metrics); may stay null.
    const http::server* server = nullptr;
    eqm::clock_fn clock = eqm::system_now;
    std::chrono::milliseconds gateway_timeout = default_gateway_timeout;
    /// Serialized GET /devices answers; shared so copies of the context share one cache.
    std::shared_ptr<body_cache> cache = std::make_shared<body_cache>();
};

/// A served route: method and pattern, e.g. {"POST", "/api/v1/devices/{id}/checkout"}.
using route_entry = std::pair<std::string, std::string>;

/// Adds every route to `r`; `ctx` must outlive the server. Returns the routes added.
std::vector<route_entry> add_routes(http::router& r, api_context& ctx);

/// The OpenAPI document served at /api/v1/openapi.json (schemas/openapi.json, built in).
std::string_view openapi_document() noexcept;

}  // namespace eqm::server
