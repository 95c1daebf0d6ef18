#pragma once
/// The routing table: method + path pattern -> handler, WebSocket upgrade paths, and static
/// directories. Built once before server construction and immutable afterwards (the server
/// takes it by value), so lookups need no locks.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "eqm/http/message.hpp"
#include "eqm/http/ws_hub.hpp"

namespace eqm::http {

/// A synchronous handler. It runs on an I/O thread, so it must be quick; anything that waits
/// (a gateway round trip, a slow query) belongs in an async_handler. Exceptions become 500.
using handler = std::function<response(const request&)>;

/// An asynchronous handler: it gets its own copy of the request and answers through the
/// responder whenever it is ready, from any thread. Exceptions thrown before answering become 500.
using async_handler = std::function<void(request, responder)>;

/// What a route may take beyond the server's defaults.
struct route_options {
    /// The largest body this route reads from a request that carries an Authorization header
    /// (CSV imports, batch plans); 0 keeps the server's body_limit. A request without one is
    /// held to server_options::body_limit whatever the route says, so an anonymous client can
    /// never make the server buffer a large body.
    std::size_t body_limit = 0;
};

namespace detail {
struct router_table;
struct router_access;
}  // namespace detail

/// Routes. Patterns are absolute paths whose segments are literals or `{name}` parameters, e.g.
/// "/api/v1/devices/{id}/checkout". A parameter matches one non-empty segment (percent-decoded).
/// When several patterns match, the one with a literal at the first differing segment wins, so
/// "/devices/new" beats "/devices/{id}". Trailing slashes are ignored. A path that matches no
/// route gives 404; a path that matches only with other methods gives 405 with an Allow header.
///
/// Misuse at configuration time (a malformed pattern, the same method+pattern twice) throws
/// std::invalid_argument: it is a programmer error that must stop the program at start-up.
class router {
  public:
    router();
    ~router();
    router(router&&) noexcept;
    router& operator=(router&&) noexcept;
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    /// Adds a synchronous route.
    router& add(method m, std::string_view pattern, handler h, route_options options = {});

    /// Adds an asynchronous route (see async_handler and responder).
    router& add_async(method m, std::string_view pattern, async_handler h,
                      route_options options = {});

    /// Upgrades GET requests on `pattern` to WebSocket connections registered in `hub`.
    /// `accept` sees the upgrade request (token, filter query parameters) and returns the
    /// connection's filter, or an error that refuses the upgrade with its problem response
    /// (errc::unauthorized -> 401). Without `accept` every upgrade is taken, unfiltered.
    /// The hub must outlive the server.
    router& add_websocket(std::string_view pattern, ws_hub& hub, ws_accept accept = {});

    /// Serves files under `root` for GET/HEAD paths below `prefix` ("/" or "/dashboards")
    /// that no route matches. "/" and directories give their index.html. Paths with "..",
    /// "." or dot-file segments, and anything resolving outside `root`, are 404.
    router& serve_directory(std::string_view prefix, std::filesystem::path root);

  private:
    friend struct detail::router_access;
    std::unique_ptr<detail::router_table> table_;
};

}  // namespace eqm::http
