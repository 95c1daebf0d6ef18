// The REST client: plain Asio writes for the request (so a big body can report progress)
// and Beast's parser for the response.
#include "rest_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>

namespace eqm::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

result<server_url> parse_server_url(std::string_view text) {
    constexpr std::string_view scheme = "http://";
    if (!text.starts_with(scheme))
        return fail(errc::bad_field, "server",
                    "must start with http://, e.g. http://127.0.0.1:8080");
    text.remove_prefix(scheme.size());
    while (text.ends_with('/')) text.remove_suffix(1);
    if (text.empty() || text.find('/') != std::string_view::npos)
        return fail(errc::bad_field, "server", "must be http://HOST[:PORT]");
    server_url u;
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        u.host = std::string(text);
        u.port = "80";
    } else {
        u.host = std::string(text.substr(0, colon));
        u.port = std::string(text.substr(colon + 1));
        if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
            return fail(errc::bad_field, "server", "the port must be a number");
    }
    return u;
}

struct rest_connection::impl {
    server_url url;
    asio::io_context io;
    std::optional<tcp::socket> socket;
    beast::flat_buffer buffer;

    result<void> connect() {
        boost::system::error_code ec;
        tcp::resolver resolver(io);
        auto endpoints = resolver.resolve(url.host, url.port, ec);
        if (ec)
            return fail(errc::unavailable, "server",
                        "cannot resolve " + url.host + ": " + ec.message());
        socket.emplace(io);
        asio::connect(*socket, endpoints, ec);
        if (ec) {
            socket.reset();
            return fail(errc::unavailable, "server",
                        "cannot connect to " + url.host + ":" + url.port + ": " + ec.message());
        }
        socket->set_option(tcp::no_delay(true), ec);
        buffer.clear();
        return {};
    }

    result<http_reply> once(std::string_view method, std::string_view target, std::string_view body,
                            const header_fields& headers, const progress_fn& progress) {
        std::string head;
        head.reserve(256);
        head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
        head.append(url.host).append(":").append(url.port).append("\r\n");
        bool has_type = false;
        for (const auto& [k, v] : headers) {
            head.append(k).append(": ").append(v).append("\r\n");
            if (beast::iequals(k, "Content-Type")) has_type = true;
        }
        if (!body.empty() && !has_type) head.append("Content-Type: application/json\r\n");
        head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
        boost::system::error_code ec;
        asio::write(*socket, asio::buffer(head), ec);
        if (ec) return fail(errc::unavailable, "server", "write failed: " + ec.message());
        constexpr std::size_t chunk = 64 * 1024;
        for (std::size_t sent = 0; sent < body.size();) {
            const auto n = std::min(chunk, body.size() - sent);
            asio::write(*socket, asio::buffer(body.data() + sent, n), ec);
            if (ec) return fail(errc::unavailable, "server", "write failed: " + ec.message());
            sent += n;
            if (progress) progress(sent, body.size());
        }
        beast::http::response_parser<beast::http::string_body> parser;
        parser.body_limit(std::size_t{256} << 20);
        if (method == "HEAD") parser.skip(true);
        beast::http::read(*socket, buffer, parser, ec);
        if (ec) return fail(errc::unavailable, "server", "read failed: " + ec.message());
        auto res = parser.release();
        http_reply out;
        out.status = res.result_int();
        out.content_type = std::string(res[beast::http::field::content_type]);
        out.body = std::move(res.body());
        if (!res.keep_alive()) socket.reset();
        return out;
    }
};

rest_connection::rest_connection(server_url url) : impl_(std::make_unique<impl>()) {
    impl_->url = std::move(url);
}
rest_connection::~rest_connection() = default;
rest_connection::rest_connection(rest_connection&&) noexcept = default;
rest_connection& rest_connection::operator=(rest_connection&&) noexcept = default;

result<http_reply> rest_connection::call(std::string_view method, std::string_view target,
                                         std::string_view body, const header_fields& headers,
                                         const progress_fn& progress) {
    try {
        const bool reused = impl_->socket.has_value();
        if (!reused) {
            if (auto c = impl_->connect(); !c) return std::unexpected(c.error());
        }
        auto r = impl_->once(method, target, body, headers, progress);
        if (!r && reused) {
            // The server may have closed an idle keep-alive connection: try once more afresh.
            impl_->socket.reset();
            if (auto c = impl_->connect(); !c) return std::unexpected(c.error());
            r = impl_->once(method, target, body, headers, progress);
        }
        if (!r) impl_->socket.reset();
        return r;
    } catch (const std::exception& e) {
        impl_->socket.reset();
        return fail(errc::unavailable, "server", e.what());
    }
}

result<http_reply> http_call(const server_url& url, std::string_view method,
                             std::string_view target, std::string_view body,
                             const header_fields& headers) {
    rest_connection c(url);
    return c.call(method, target, body, headers);
}

}  // namespace eqm::client
