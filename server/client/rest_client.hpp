#pragma once
/// A small synchronous HTTP/1.1 client for the eqm REST API, over TCP or TLS (Beast and OpenSSL
/// inside, none in this header). Used by the `eqm` CLI and by the integration tests.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eqm/domain/error.hpp"

namespace eqm::client {

/// "http://host:port" or "https://host:port" split up.
struct server_url {
    std::string host = "127.0.0.1";
    std::string port = "8080";
    bool tls = false;  ///< https://: TLS, with the server's certificate checked (tls_trust)
};

/// Parses "http://HOST[:PORT][/]" or "https://HOST[:PORT][/]" (default ports 80 and 443; an
/// IPv6 host in brackets); errc::bad_field (field "server") when it is not one.
result<server_url> parse_server_url(std::string_view text);

/// How an https:// server is checked: its certificate must chain to a CA of `ca_file` (PEM, e.g.
/// the region's ca.crt from scripts/gen-region-pki), or to the system's trusted CAs when it is
/// empty, and must name the host of the URL (DNS name or IP address). TLS 1.2 at least.
struct tls_trust {
    std::string ca_file;
};

/// A response: status, content type and the whole body.
struct http_reply {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

/// Extra header fields.
using header_fields = std::vector<std::pair<std::string, std::string>>;

/// Called while a request body is written: bytes sent so far and the total.
using progress_fn = std::function<void(std::size_t sent, std::size_t total)>;

/// One keep-alive connection; reconnects once when the server closed it in between.
class rest_connection {
  public:
    explicit rest_connection(server_url url, tls_trust trust = {});
    ~rest_connection();
    rest_connection(rest_connection&&) noexcept;
    rest_connection& operator=(rest_connection&&) noexcept;

    /// Sends one request and reads the answer. errc::unavailable when the server cannot be
    /// reached, its certificate is not trusted, or the connection breaks; errc::bad_field
    /// (field "ca_file") when the CA file cannot be read.
    result<http_reply> call(std::string_view method, std::string_view target,
                            std::string_view body = {}, const header_fields& headers = {},
                            const progress_fn& progress = {});

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// One request on a fresh connection.
result<http_reply> http_call(const server_url& url, std::string_view method,
                             std::string_view target, std::string_view body = {},
                             const header_fields& headers = {}, const tls_trust& trust = {});

}  // namespace eqm::client
