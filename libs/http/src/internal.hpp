#pragma once
// Private to eqm_http: the router's table, target parsing and static file lookup. No Beast here
// either; the Beast-facing internals are in asio_internal.hpp.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/http/message.hpp"
#include "eqm/http/router.hpp"
#include "eqm/http/ws_hub.hpp"

namespace eqm::http::detail {

struct hub_state;

struct route_segment {
    std::string text;  // the literal, or the parameter name
    bool is_param = false;
};

struct route {
    std::string pattern;
    std::vector<route_segment> segments;
    http::method verb = http::method::get;
    handler sync;
    async_handler async;  // exactly one of sync/async is set
    route_options options;
};

struct ws_route {
    std::string pattern;
    std::vector<route_segment> segments;
    std::shared_ptr<hub_state> hub;
    ws_accept accept;
};

struct static_mount {
    std::string prefix;
    std::vector<std::string> prefix_segments;
    std::filesystem::path root;
};

struct router_table {
    std::vector<route> routes;
    std::vector<ws_route> ws_routes;
    std::vector<static_mount> mounts;
};

struct router_access {
    static const router_table& table(const router& r) { return *r.table_; }
};

struct hub_access {
    static std::shared_ptr<hub_state> state(const ws_hub& h) { return h.state_; }
};

enum class match_kind {
    route,
    websocket,
    static_file,
    not_found,
    method_not_allowed,
    upgrade_required
};

struct match_result {
    match_kind kind = match_kind::not_found;
    const route* matched_route = nullptr;
    const ws_route* matched_ws = nullptr;
    const static_mount* mount = nullptr;
    param_map params;
    std::vector<std::string> rest;  // static: segments below the mount prefix
    std::string allow;              // 405: "GET, POST"
};

/// Resolves a decoded path. `is_upgrade` is true for a WebSocket upgrade request.
match_result resolve(const router_table& table, http::method verb,
                     const std::vector<std::string>& segments, bool is_upgrade);

/// Percent-decodes; nullopt on a malformed escape. `plus_is_space` for query strings.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

struct parsed_target {
    std::string path;                   // decoded
    std::vector<std::string> segments;  // decoded, empty segments dropped
    param_map query;
};

/// Splits and decodes an origin-form target ("/a/b?x=1"); nullopt when malformed.
std::optional<parsed_target> parse_target(std::string_view target);

/// The file a static request names: the response (200 with the file) or nullopt for 404.
/// `head` leaves the body empty but keeps the content type.
std::optional<response> load_static(const static_mount& mount,
                                    const std::vector<std::string>& rest);

/// Content-Type for a file name by its extension.
std::string_view content_type_for(const std::filesystem::path& file);

}  // namespace eqm::http::detail
