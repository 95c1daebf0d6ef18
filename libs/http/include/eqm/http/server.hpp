#pragma once
/// The HTTP/1.1 + WebSocket server. It owns its io_context and runs it on `threads` threads
/// from start() to stop(), so a program only builds a router, starts, and stops. Every
/// connection is served on its own strand; handlers for different connections run in parallel.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/http/router.hpp"

namespace eqm::http {

class prometheus_writer;

/// Largest request body read by default (64 KiB); bigger ones get a 413 problem. Routes that
/// take more (CSV imports, batch plans) say so with route_options::body_limit.
constexpr std::size_t default_body_limit = std::size_t{64} << 10;
/// Open HTTP and WebSocket connections a server holds at most; beyond it a new connection is
/// answered 503 and closed at once, so the connections in progress keep their share.
constexpr std::size_t default_max_connections = 512;
/// How long a connection may take to send a request (and how long an idle keep-alive lasts).
constexpr std::chrono::milliseconds default_read_timeout{30'000};
/// How long an async handler may take before the client gets 504. Above the 3 s a server waits
/// for a gateway, so a gateway timeout is reported by the handler, not by this.
constexpr std::chrono::milliseconds default_handler_timeout{10'000};
/// How long stop() lets open requests finish before it cuts connections.
constexpr std::chrono::milliseconds default_shutdown_grace{2'000};

/// A parsed "host:port" ("127.0.0.1:8080", "[::1]:0", "localhost:8080").
struct listen_address {
    std::string host;
    std::uint16_t port = 0;
};

/// Parses a listen address; errc::bad_field (field "listen") says what is wrong.
/// The host must be an IP literal or "localhost"; port 0 asks for any free port.
eqm::result<listen_address> parse_listen_address(std::string_view text);

/// A certificate chain and its private key (PEM files) for HTTPS and WSS.
struct tls_files {
    std::string cert_file;
    std::string key_file;
};

struct server_options {
    std::string listen = "127.0.0.1:8080";
    /// Serve HTTPS (and WSS) with this certificate; plain HTTP when empty.
    std::optional<tls_files> tls;
    unsigned threads = 2;
    /// Largest body of any request without credentials, and of every request on a route that
    /// does not raise it (route_options::body_limit).
    std::size_t body_limit = default_body_limit;
    /// Open connections (HTTP and WebSocket together) beyond which new ones are refused.
    std::size_t max_connections = default_max_connections;
    std::chrono::milliseconds read_timeout = default_read_timeout;
    std::chrono::milliseconds handler_timeout = default_handler_timeout;
    std::chrono::milliseconds shutdown_grace = default_shutdown_grace;
    std::string server_name = "eqm";
    /// One line per event worth an operator's attention (handler exceptions, accept errors).
    /// Called from I/O threads. Defaults to stderr.
    std::function<void(std::string_view line)> log;
};

namespace detail {
struct server_state;
struct server_runtime;
}  // namespace detail

class server {
  public:
    server(server_options options, router routes);
    /// Stops (as stop()) if still running.
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds, listens and starts the I/O threads. Errors: errc::bad_field (field "listen") for an
    /// unparsable address, errc::unavailable when the address cannot be bound (port in use,
    /// address not local), errc::bad_field (field "tls_cert_file" or "tls_key_file") when a TLS
    /// file is missing, unreadable, not PEM, or the key is not the certificate's. A server
    /// starts at most once.
    eqm::result<void> start();

    /// The bound port (the real one when the address said 0); 0 before start().
    std::uint16_t port() const noexcept;

    /// Graceful close: stops accepting, closes idle keep-alive connections, lets requests in
    /// progress send their answer (with Connection: close), sends WebSocket close frames, waits up
    /// to shutdown_grace, then cuts what is left and joins the threads. Idempotent. Must not be
    /// called from a handler (it waits for the I/O threads).
    void stop();

    /// `eqm_http_requests_total{route,method,status}`,
    /// `eqm_http_request_duration_seconds{route,method}`, `eqm_http_connections` (open HTTP +
    /// WebSocket connections), `eqm_http_connections_refused_total` and, with TLS,
    /// `eqm_http_tls_handshake_failures_total`. `route` is the matched pattern, "static",
    /// "websocket" or "unmatched", and `method` one of eqm::http::method or "other", so
    /// cardinality stays bounded whatever clients send.
    void write_metrics(prometheus_writer& out) const;

  private:
    std::shared_ptr<detail::server_state> state_;      // shared with every connection
    std::unique_ptr<detail::server_runtime> runtime_;  // io_context, threads, listener
};

}  // namespace eqm::http
