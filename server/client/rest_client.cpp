// The REST client: plain Asio writes for the request (so a big body can report progress) and
// Beast's parser for the response, over a TCP socket or a TLS stream on one.
#include "rest_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>

#include "eqm/domain/try.hpp"

namespace eqm::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

/// Answers up to this size are read (a full device list of a region is far below it).
constexpr std::size_t reply_limit = std::size_t{256} << 20;
/// Request bodies are written in pieces of this size, so progress can be shown.
constexpr std::size_t write_chunk = 64 * 1024;

}  // namespace

result<server_url> parse_server_url(std::string_view text) {
    server_url u;
    if (text.starts_with("https://")) {
        u.tls = true;
        text.remove_prefix(8);
    } else if (text.starts_with("http://")) {
        text.remove_prefix(7);
    } else {
        return fail(errc::bad_field, "server",
                    "must start with http:// or https://, e.g. http://127.0.0.1:8080");
    }
    while (text.ends_with('/')) text.remove_suffix(1);
    if (text.empty() || text.find('/') != std::string_view::npos)
        return fail(errc::bad_field, "server", "must be http[s]://HOST[:PORT]");
    const auto bracket = text.rfind(']');
    const auto colon = text.rfind(':');
    std::string_view host = text;
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        host = text.substr(0, colon);
        u.port = std::string(text.substr(colon + 1));
        if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
            return fail(errc::bad_field, "server", "the port must be a number");
    } else {
        u.port = u.tls ? "443" : "80";
    }
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    if (host.empty()) return fail(errc::bad_field, "server", "has no host");
    u.host = std::string(host);
    return u;
}

struct rest_connection::impl {
    server_url url;
    tls_trust trust;
    asio::io_context io;
    std::optional<ssl::context> tls_context;
    std::optional<tcp::socket> socket;                   // plain http://
    std::optional<ssl::stream<tcp::socket>> tls_stream;  // https://
    beast::flat_buffer buffer;

    bool connected() const { return socket.has_value() || tls_stream.has_value(); }

    void disconnect() {
        tls_stream.reset();
        socket.reset();
    }

    /// Runs `f` on the open stream, whichever kind it is.
    template <class F>
    auto with_stream(F&& f) {
        if (tls_stream) return f(*tls_stream);
        return f(*socket);
    }

    result<void> make_tls_context() {
        if (tls_context) return {};
        ssl::context ctx(ssl::context::tls_client);
        SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
        boost::system::error_code ec;
        if (trust.ca_file.empty()) {
            ctx.set_default_verify_paths(ec);
        } else {
            ctx.load_verify_file(trust.ca_file, ec);
        }
        if (ec)
            return fail(errc::bad_field, "ca_file",
                        "cannot use the CA file '" + trust.ca_file + "': " + ec.message());
        ctx.set_verify_mode(ssl::verify_peer);
        tls_context.emplace(std::move(ctx));
        return {};
    }

    result<void> handshake() {
        boost::system::error_code ec;
        // SNI for a DNS name; an IP address is checked against the certificate's IP entries.
        asio::ip::make_address(url.host, ec);
        if (ec) {
            SSL_ctrl(tls_stream->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                     TLSEXT_NAMETYPE_host_name, const_cast<char*>(url.host.c_str()));
        }
        tls_stream->set_verify_callback(ssl::host_name_verification(url.host));
        tls_stream->handshake(ssl::stream_base::client, ec);
        if (ec) {
            disconnect();
            return fail(errc::unavailable, "server",
                        "TLS handshake with " + url.host + ":" + url.port +
                            " failed: " + ec.message() +
                            (trust.ca_file.empty()
                                 ? " (give the CA that signed the server's certificate with "
                                   "--ca-file)"
                                 : " (is " + trust.ca_file + " the CA of that server?)"));
        }
        return {};
    }

    result<void> connect() {
        if (url.tls) {
            if (auto made = make_tls_context(); !made) return made;
        }
        boost::system::error_code ec;
        tcp::resolver resolver(io);
        auto endpoints = resolver.resolve(url.host, url.port, ec);
        if (ec)
            return fail(errc::unavailable, "server",
                        "cannot resolve " + url.host + ": " + ec.message());
        tcp::socket& lowest =
            url.tls ? tls_stream.emplace(io, *tls_context).next_layer() : socket.emplace(io);
        asio::connect(lowest, endpoints, ec);
        if (ec) {
            disconnect();
            return fail(errc::unavailable, "server",
                        "cannot connect to " + url.host + ":" + url.port + ": " + ec.message());
        }
        lowest.set_option(tcp::no_delay(true), ec);
        buffer.clear();
        if (url.tls) return handshake();
        return {};
    }

    std::string request_head(std::string_view method, std::string_view target,
                             std::size_t body_size, bool has_body,
                             const header_fields& headers) const {
        std::string head;
        head.reserve(256);
        head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
        head.append(url.host).append(":").append(url.port).append("\r\n");
        bool has_type = false;
        for (const auto& [k, v] : headers) {
            head.append(k).append(": ").append(v).append("\r\n");
            if (beast::iequals(k, "Content-Type")) has_type = true;
        }
        if (has_body && !has_type) head.append("Content-Type: application/json\r\n");
        head.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n\r\n");
        return head;
    }

    result<http_reply> once(std::string_view method, std::string_view target, std::string_view body,
                            const header_fields& headers, const progress_fn& progress) {
        const auto head = request_head(method, target, body.size(), !body.empty(), headers);
        boost::system::error_code ec;
        with_stream([&](auto& s) { asio::write(s, asio::buffer(head), ec); });
        if (ec) return fail(errc::unavailable, "server", "write failed: " + ec.message());
        for (std::size_t sent = 0; sent < body.size();) {
            const auto n = std::min(write_chunk, body.size() - sent);
            with_stream([&](auto& s) { asio::write(s, asio::buffer(body.data() + sent, n), ec); });
            if (ec) return fail(errc::unavailable, "server", "write failed: " + ec.message());
            sent += n;
            if (progress) progress(sent, body.size());
        }
        beast::http::response_parser<beast::http::string_body> parser;
        parser.body_limit(reply_limit);
        if (method == "HEAD") parser.skip(true);
        with_stream([&](auto& s) { beast::http::read(s, buffer, parser, ec); });
        if (ec) return fail(errc::unavailable, "server", "read failed: " + ec.message());
        auto res = parser.release();
        http_reply out;
        out.status = res.result_int();
        out.content_type = std::string(res[beast::http::field::content_type]);
        out.body = std::move(res.body());
        if (!res.keep_alive()) disconnect();
        return out;
    }
};

rest_connection::rest_connection(server_url url, tls_trust trust)
    : impl_(std::make_unique<impl>()) {
    impl_->url = std::move(url);
    impl_->trust = std::move(trust);
}
rest_connection::~rest_connection() = default;
rest_connection::rest_connection(rest_connection&&) noexcept = default;
rest_connection& rest_connection::operator=(rest_connection&&) noexcept = default;

result<http_reply> rest_connection::call(std::string_view method, std::string_view target,
                                         std::string_view body, const header_fields& headers,
                                         const progress_fn& progress) {
    try {
        const bool reused = impl_->connected();
        if (!reused) {
            EQM_TRY(impl_->connect());
        }
        auto r = impl_->once(method, target, body, headers, progress);
        if (!r && reused) {
            // The server may have closed an idle keep-alive connection: try once more afresh.
            impl_->disconnect();
            EQM_TRY(impl_->connect());
            r = impl_->once(method, target, body, headers, progress);
        }
        if (!r) impl_->disconnect();
        return r;
    } catch (const std::exception& e) {
        impl_->disconnect();
        return fail(errc::unavailable, "server", e.what());
    }
}

result<http_reply> http_call(const server_url& url, std::string_view method,
                             std::string_view target, std::string_view body,
                             const header_fields& headers, const tls_trust& trust) {
    rest_connection c(url, trust);
    return c.call(method, target, body, headers);
}

}  // namespace eqm::client
