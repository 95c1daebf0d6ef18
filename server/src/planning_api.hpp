#pragma once
/// The planning side of the REST API (docs/allocation.md, docs/server.md): standard-issue
/// quotas (PUT/GET /quotas, POST /quotas/import), the quota-gap and utilization reports, and
/// the allocation plan made from live data, kept, and approved into transfers.
#include <vector>

#include "api.hpp"

namespace eqm::server {

/// Adds the planning routes to `r`; returns them (for the route list of add_routes).
std::vector<route_entry> add_planning_routes(http::router& r, api_context& ctx);

}  // namespace eqm::server
