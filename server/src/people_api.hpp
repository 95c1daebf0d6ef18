#pragma once
/// People over REST (docs/server.md, "People"): an admin lists, creates, edits, deactivates
/// people and resets their password; a dispatcher reads the region's people, a custodian their
/// city's; everyone reads themselves and changes their own password.
///
/// - GET /api/v1/people?role=&city=&active=&limit=&cursor=: admin, dispatcher; a custodian
///   for their city
/// - GET /api/v1/people/{id}: the same, and anyone for themselves
/// - POST /api/v1/people, PATCH /api/v1/people/{id}, POST /api/v1/people/{id}/password-reset:
///   admin
/// - POST /api/v1/auth/password: anyone logged in (also with a one-time password)
///
/// A change reaches the gateways that hold the person at once (people_sync.hpp): those that
/// keep them get the new record, those that no longer may get them withdrawn. Deactivating ends
/// the person's tokens and closes their WebSocket feed in the same request.
#include <vector>

#include "api.hpp"

namespace eqm::server {

/// Adds the people routes and the password change to `r`; returns the routes added.
std::vector<route_entry> add_people_routes(http::router& r, api_context& ctx);

}  // namespace eqm::server
