#include "test_client.hpp"

// g++ 12 at -O3 reports "potential null pointer dereference" inside Asio after inlining; the
// system-header exemption does not reach such late warnings.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

namespace eqm_test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

tcp::endpoint local(std::uint16_t port) {
    return {asio::ip::make_address("127.0.0.1"), port};
}

bhttp::request<bhttp::string_body> make_request(const std::string& method,
                                                const std::string& target, const std::string& body,
                                                const headers& extra) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : extra) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req.body() = body;
        req.prepare_payload();
    }
    return req;
}

http_reply to_reply(const bhttp::response<bhttp::string_body>& res) {
    http_reply out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) {
        out.fields.emplace_back(std::string{f.name_string()}, std::string{f.value()});
    }
    return out;
}

}  // namespace

std::string http_reply::header(std::string_view name) const {
    for (const auto& [k, v] : fields) {
        if (iequals(k, name)) return v;
    }
    return {};
}

struct http_connection::impl {
    asio::io_context ioc;
    tcp::socket socket{ioc};
    beast::flat_buffer buffer;
};

http_connection::http_connection(std::uint16_t port) : impl_(std::make_unique<impl>()) {
    impl_->socket.connect(local(port));
}

http_connection::~http_connection() {
    beast::error_code ec;
    impl_->socket.shutdown(tcp::socket::shutdown_both, ec);
    impl_->socket.close(ec);
}

http_reply http_connection::request(const std::string& method, const std::string& target,
                                    const std::string& body, const headers& extra) {
    auto req = make_request(method, target, body, extra);
    bhttp::write(impl_->socket, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t{64} << 20);
    parser.skip(method == "HEAD");
    bhttp::read(impl_->socket, impl_->buffer, parser);
    return to_reply(parser.get());
}

http_reply http_once(std::uint16_t port, const std::string& method, const std::string& target,
                     const std::string& body, const headers& extra) {
    http_connection c(port);
    return c.request(method, target, body, extra);
}

struct ws_client::impl {
    asio::io_context ioc;
    websocket::stream<tcp::socket> ws{ioc};
    std::thread reader;
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::string> messages;
    bool done = false;
    std::optional<websocket::close_reason> close;
};

ws_client::ws_client(std::uint16_t port, const std::string& target, const headers& extra,
                     bool reader)
    : impl_(std::make_unique<impl>()) {
    auto& sock = impl_->ws.next_layer();
    sock.open(tcp::v4());
    if (!reader) {
        // A tiny receive window makes the kernel stop absorbing data early, so the server's
        // queue for this client fills after a few messages instead of many megabytes.
        sock.set_option(asio::socket_base::receive_buffer_size(4096));
    }
    sock.connect(local(port));
    impl_->ws.set_option(websocket::stream_base::decorator([extra](websocket::request_type& req) {
        for (const auto& [k, v] : extra) req.set(k, v);
    }));
    impl_->ws.read_message_max(std::size_t{64} << 20);
    impl_->ws.handshake("127.0.0.1", target);
    if (reader) {
        impl_->reader = std::thread([state = impl_.get()] {
            for (;;) {
                beast::flat_buffer buf;
                beast::error_code ec;
                state->ws.read(buf, ec);
                std::lock_guard lock(state->mutex);
                if (ec) {
                    if (ec == websocket::error::closed) state->close = state->ws.reason();
                    state->done = true;
                    state->cv.notify_all();
                    return;
                }
                state->messages.push_back(beast::buffers_to_string(buf.data()));
                state->cv.notify_all();
            }
        });
    }
}

ws_client::~ws_client() {
    // Shut the descriptor down directly: that wakes the blocked reader without touching the
    // stream object it is using.
    ::shutdown(impl_->ws.next_layer().native_handle(), SHUT_RDWR);
    if (impl_->reader.joinable()) impl_->reader.join();
}

std::optional<std::string> ws_client::next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    impl_->cv.wait_for(lock, timeout, [this] { return !impl_->messages.empty() || impl_->done; });
    if (impl_->messages.empty()) return std::nullopt;
    auto m = std::move(impl_->messages.front());
    impl_->messages.pop_front();
    return m;
}

bool ws_client::closed() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->done;
}

std::optional<std::pair<std::uint16_t, std::string>> ws_client::close_frame() const {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->close) return std::nullopt;
    return std::pair<std::uint16_t, std::string>{impl_->close->code,
                                                 std::string(impl_->close->reason.c_str())};
}

raw_reply raw_exchange(std::uint16_t port, const std::string& bytes,
                       std::chrono::milliseconds timeout) {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(local(port));
    beast::error_code ec;
    asio::write(socket, asio::buffer(bytes), ec);
    raw_reply out;
    std::array<char, 4096> chunk{};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    socket.non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
        const auto n = socket.read_some(asio::buffer(chunk), ec);
        if (ec == asio::error::would_block) {
            std::this_thread::sleep_for(std::chrono::milliseconds{5});
            continue;
        }
        if (ec) {
            out.closed = true;
            break;
        }
        out.text.append(chunk.data(), n);
    }
    return out;
}

double metric_value(const std::string& text, const std::string& series) {
    std::size_t at = 0;
    while ((at = text.find(series + " ", at)) != std::string::npos) {
        if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
        at += series.size();
    }
    return -1;
}

unsigned ws_upgrade_status(std::uint16_t port, const std::string& target, const headers& extra) {
    headers h{{"Connection", "Upgrade"},
              {"Upgrade", "websocket"},
              {"Sec-WebSocket-Version", "13"},
              {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    h.insert(h.end(), extra.begin(), extra.end());
    return http_once(port, "GET", target, {}, h).status;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    return condition();
}

temp_dir::temp_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("eqm_http_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void temp_dir::write(const std::filesystem::path& relative, const std::string& content) const {
    const auto file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << content;
}

eqm::http::server_options test_options() {
    eqm::http::server_options o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.shutdown_grace = std::chrono::milliseconds{500};
    o.log = [](std::string_view) {};
    return o;
}

std::unique_ptr<eqm::http::server> start_server(eqm::http::router routes,
                                                eqm::http::server_options options) {
    auto s = std::make_unique<eqm::http::server>(std::move(options), std::move(routes));
    auto started = s->start();
    if (!started)
        throw std::runtime_error("test server did not start: " + started.error().describe());
    return s;
}

}  // namespace eqm_test
