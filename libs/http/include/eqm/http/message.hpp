#pragma once
/// The request and response values that handlers see. Plain structs with no Beast in them:
/// the session converts to and from Beast's types in src/, so including this costs nothing.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eqm::http {

/// The HTTP methods eqm routes. Anything else is answered 501 by the server.
enum class method { get, head, post, put, patch, delete_, options };

/// "GET", "POST", ...
std::string_view to_string(method m) noexcept;

/// Parses an upper-case method token; nullopt when it is not one of ours.
std::optional<method> method_from_string(std::string_view token) noexcept;

/// Header fields in arrival order. Names keep their case; lookups ignore it.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// Decoded path parameters or query parameters, by name.
using param_map = std::map<std::string, std::string, std::less<>>;

/// One parsed HTTP request, as a handler sees it.
struct request {
    http::method method = http::method::get;
    std::string target;          ///< as received: path plus "?query"
    std::string path;            ///< percent-decoded path without the query
    param_map path_params;       ///< `{name}` segments of the matched route, decoded
    param_map query;             ///< `?a=1&b=x%20y` decoded; the first occurrence of a name wins
    header_list headers;         ///< every header field
    std::string body;            ///< the whole body (bounded by server_options::body_limit)
    std::string remote_address;  ///< peer "ip:port", for logs

    /// The value of a header (case-insensitive name); empty when absent.
    std::string_view header(std::string_view name) const noexcept;

    /// A path parameter by name; empty when the route has no such parameter.
    std::string_view path_param(std::string_view name) const noexcept;

    /// A query parameter by name; nullopt when absent (present but empty gives "").
    std::optional<std::string_view> query_param(std::string_view name) const noexcept;

    /// The token of an `Authorization: Bearer <token>` header; empty when there is none.
    std::string_view bearer_token() const noexcept;
};

/// What a handler answers. The server adds Content-Length, Server, Date-less keep-alive headers.
struct response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    header_list headers;  ///< extra fields, e.g. {"Location", "/api/v1/devices/cam-1"}

    /// A JSON body (already serialised) with the given status.
    static response json(unsigned status, std::string body);
    /// A text/plain; charset=utf-8 body.
    static response text(unsigned status, std::string body);
    /// 204 with no body.
    static response no_content();
};

namespace detail {
struct pending_reply;
}

/// The callback an async handler answers through. Copyable and movable; it may be called from
/// any thread, later. The first answer wins; answers after the handler timeout (when the client
/// already got a 504) or after the server stopped are dropped and send() returns false. If no
/// copy is ever called, the client gets a 504 problem when server_options::handler_timeout passes.
class responder {
  public:
    /// Sends `r` to the waiting client. True when this call delivered the answer.
    bool send(response r) const;
    /// Same as send().
    bool operator()(response r) const { return send(std::move(r)); }
    /// True once an answer (this one's, or the timeout's) has been chosen.
    bool answered() const noexcept;

    /// Used by the session; handlers receive ready-made responders.
    explicit responder(std::shared_ptr<detail::pending_reply> state) noexcept;

  private:
    std::shared_ptr<detail::pending_reply> state_;
};

}  // namespace eqm::http
