#include "tls_client.hpp"

// g++ 12 at -O3 reports "potential null pointer dereference" inside Asio after inlining; the
// system-header exemption does not reach such late warnings.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace eqm_test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

ssl::context client_context(const tls_peer& peer) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(peer.ca_file.string());
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
}

/// Connects to 127.0.0.1:port and completes the TLS handshake, checking the certificate
/// against the CA and `peer.host`.
void connect_tls(beast::ssl_stream<beast::tcp_stream>& stream, std::uint16_t port,
                 const tls_peer& peer) {
    beast::get_lowest_layer(stream).connect(
        tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
    boost::system::error_code ec;
    asio::ip::make_address(peer.host, ec);
    if (ec) {
        // SNI for a DNS name (SSL_set_tlsext_host_name, without the macro's C cast).
        SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(peer.host.c_str()));
    }
    stream.set_verify_callback(ssl::host_name_verification(peer.host));
    stream.handshake(ssl::stream_base::client);
}

}  // namespace

http_reply https_once(std::uint16_t port, const tls_peer& peer, const std::string& method,
                      const std::string& target, const std::string& body, const headers& extra) {
    asio::io_context ioc;
    auto ctx = client_context(peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    connect_tls(stream, port, peer);
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, peer.host);
    for (const auto& [k, v] : extra) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.body() = body;
        req.prepare_payload();
    }
    bhttp::write(stream, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t{64} << 20);
    bhttp::read(stream, buffer, parser);
    const auto& res = parser.get();
    http_reply out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) {
        out.fields.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    }
    beast::error_code ec;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    return out;
}

bool tls_handshake_succeeds(std::uint16_t port, const tls_peer& peer, int max_version) {
    asio::io_context ioc;
    auto ctx = client_context(peer);
    // Let the client offer old versions at all: OpenSSL 3 refuses them below security level 0.
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
    SSL_CTX_set_cipher_list(ctx.native_handle(), "ALL:@SECLEVEL=0");
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    try {
        connect_tls(stream, port, peer);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

struct wss_client::impl {
    asio::io_context ioc;
    ssl::context ctx;
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws;
    std::thread reader;
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::string> messages;
    bool done = false;

    explicit impl(const tls_peer& peer) : ctx(client_context(peer)), ws(ioc, ctx) {}
};

wss_client::wss_client(std::uint16_t port, const tls_peer& peer, const std::string& target)
    : impl_(std::make_unique<impl>(peer)) {
    connect_tls(impl_->ws.next_layer(), port, peer);
    impl_->ws.handshake(peer.host, target);
    impl_->reader = std::thread([state = impl_.get()] {
        for (;;) {
            beast::flat_buffer buf;
            beast::error_code ec;
            state->ws.read(buf, ec);
            std::lock_guard lock(state->mutex);
            if (ec) {
                state->done = true;
                state->cv.notify_all();
                return;
            }
            state->messages.push_back(beast::buffers_to_string(buf.data()));
            state->cv.notify_all();
        }
    });
}

wss_client::~wss_client() {
    // Shut the descriptor down directly: that wakes the blocked reader without touching the
    // stream it is using.
    ::shutdown(beast::get_lowest_layer(impl_->ws).socket().native_handle(), SHUT_RDWR);
    if (impl_->reader.joinable()) impl_->reader.join();
}

std::optional<std::string> wss_client::next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    impl_->cv.wait_for(lock, timeout, [this] { return !impl_->messages.empty() || impl_->done; });
    if (impl_->messages.empty()) return std::nullopt;
    auto m = std::move(impl_->messages.front());
    impl_->messages.pop_front();
    return m;
}

const region_pki& test_pki(bool second) {
    static temp_dir dirs[2];
    static region_pki pkis[2];
    static std::once_flag made[2];
    const int i = second ? 1 : 0;
    std::call_once(made[i], [&] {
        pkis[i].dir = dirs[i].path() / "pki";
        const std::string command = std::string{"'"} + EQM_SOURCE_DIR +
                                    "/scripts/gen-region-pki' '" + pkis[i].dir.string() +
                                    "' --cities 450100 >/dev/null";
        if (std::system(command.c_str()) != 0)
            throw std::runtime_error("scripts/gen-region-pki failed: " + command);
    });
    return pkis[i];
}

}  // namespace eqm_test
