#pragma once
/// REST routes of transfers (docs/transfers.md): POST and GET /api/v1/transfers,
/// GET /api/v1/transfers/{id}, POST /api/v1/transfers/{id}/approve and /cancel.
#include <vector>

#include "api.hpp"

namespace eqm::server {

/// Adds the transfer routes to `r` and notes them in `routes`; installs the transfer hooks on
/// `ctx.link` when there is one (see watch_transfers).
void add_transfers_routes(http::router& r, api_context& ctx, std::vector<route_entry>& routes);

}  // namespace eqm::server
