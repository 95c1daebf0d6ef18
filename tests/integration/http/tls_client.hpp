#pragma once
// Blocking HTTPS and WSS clients for the tests (Beast and OpenSSL inside tls_client.cpp), and a
// region PKI made once per test process by scripts/gen-region-pki.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "test_client.hpp"

namespace eqm_test {

/// How a test client checks the server: the CA it trusts and the name it expects.
struct tls_peer {
    std::filesystem::path ca_file;
    std::string host = "127.0.0.1";  ///< what the certificate must name (an IP or a DNS name)
};

/// One HTTPS request on a fresh connection. Throws when the handshake or the exchange fails
/// (an untrusted certificate, a wrong name, a closed port).
http_reply https_once(std::uint16_t port, const tls_peer& peer, const std::string& method,
                      const std::string& target, const std::string& body = {},
                      const headers& extra = {});

/// True when a TLS handshake with the server succeeds with the client limited to at most
/// `max_version` (an OpenSSL TLS1_x_VERSION); the client trusts `peer.ca_file`.
bool tls_handshake_succeeds(std::uint16_t port, const tls_peer& peer, int max_version);

/// A WSS client that reads on a thread of its own into a queue.
class wss_client {
  public:
    /// Throws when the handshake (TLS or WebSocket) fails.
    wss_client(std::uint16_t port, const tls_peer& peer, const std::string& target);
    ~wss_client();
    wss_client(const wss_client&) = delete;
    wss_client& operator=(const wss_client&) = delete;

    /// The next message, or nullopt after `timeout` (or when the connection closed).
    std::optional<std::string> next(std::chrono::milliseconds timeout = std::chrono::milliseconds{
                                        5000});

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The certificates scripts/gen-region-pki writes (city 450100 only), made once per process in a
/// temporary directory removed at exit.
struct region_pki {
    std::filesystem::path dir;
    std::filesystem::path ca() const { return dir / "ca.crt"; }
    std::filesystem::path cert(const std::string& name) const { return dir / (name + ".crt"); }
    std::filesystem::path key(const std::string& name) const { return dir / (name + ".key"); }
};

/// The process's PKI; `second` is another, unrelated CA with the same names.
const region_pki& test_pki(bool second = false);

}  // namespace eqm_test
