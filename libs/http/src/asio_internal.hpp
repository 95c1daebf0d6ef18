#pragma once
// Private to eqm_http: the Beast/Asio side. Only the .cpp files of this library include it.

// g++ 12 at -O3 reports "potential null pointer dereference" inside Asio's scheduler after
// inlining it into our code; the system-header exemption does not reach such late warnings.
// The pragma applies to the rest of each translation unit that includes this header.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "eqm/http/metrics.hpp"
#include "eqm/http/server.hpp"
#include "internal.hpp"

namespace eqm::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
namespace ssl = boost::asio::ssl;

/// The two transports one server may speak: plain TCP, or TLS over TCP (HTTPS and WSS).
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

inline std::string_view to_sv(beast::string_view s) noexcept {
    return {s.data(), s.size()};
}

/// Guards posting into a server's io_context from foreign threads (responders, broadcasters).
/// The server closes it (exclusive lock) before it destroys the io_context; a poster holds the
/// shared lock for as long as it touches a connection, so no post can land in a dead context.
struct executor_gate {
    std::shared_mutex mutex;
    bool open = true;

    void close() {
        std::unique_lock lock(mutex);
        open = false;
    }
};

/// Anything stop() must close: HTTP sessions and WebSocket connections.
struct connection {
    virtual ~connection() = default;
    /// Thread-safe; posts the close onto the connection's strand.
    virtual void shutdown() = 0;
};

/// What every connection of one server shares. Held by shared_ptr so connections that outlive
/// the server object (queued in the io_context) still find it.
struct server_state {
    server_state(server_options opts, router r);

    server_options options;
    router routes;
    /// Set by start() when options.tls is: every connection is then a TLS one.
    std::unique_ptr<ssl::context> tls;
    std::shared_ptr<executor_gate> gate = std::make_shared<executor_gate>();
    std::atomic<bool> stopping{false};

    void log(std::string_view line) const;

    // The registry of open connections, for stop() and the connections gauge.
    void add(const std::shared_ptr<connection>& c);
    void remove(const connection* c);
    /// `next` takes `prev`'s place in one step (a WebSocket upgrade hands its socket over), so
    /// one client is never counted twice against max_connections.
    void replace(const connection* prev, const std::shared_ptr<connection>& next);
    void shutdown_all();
    bool wait_until_empty(std::chrono::milliseconds timeout);
    std::size_t connection_count();

    void record(std::string_view route, std::string_view verb, unsigned status, double seconds);
    std::atomic<std::uint64_t> connections_refused{0};
    std::atomic<std::uint64_t> tls_handshake_failures{0};
    void write_metrics(prometheus_writer& out);

  private:
    std::mutex conn_mutex_;
    std::condition_variable conn_cv_;
    std::unordered_map<const connection*, std::weak_ptr<connection>> conns_;

    std::mutex metrics_mutex_;
    std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests_;
    std::map<std::pair<std::string, std::string>, histogram_data> durations_;
};

/// What a responder talks to: the session waiting for an async handler's answer.
class reply_target : public connection {
  public:
    /// On the strand: the answer for request `serial` (a responder's, or the timeout's).
    virtual void deliver(std::uint64_t serial, response r) = 0;
    virtual asio::any_io_executor executor() = 0;
};

struct pending_reply {
    std::atomic<bool> claimed{false};
    std::shared_ptr<executor_gate> gate;
    std::weak_ptr<reply_target> session;
    std::uint64_t serial = 0;
};

/// The methods the server routes by their names, anything else as "other": the label values of
/// the request metrics stay a fixed set whatever clients send.
std::string method_label(std::string_view token);

/// Makes the TLS context for options.tls: TLS 1.2 or 1.3 only, forward-secret AEAD ciphers.
/// Errors name the file (field "tls_cert_file" or "tls_key_file") and what is wrong with it.
eqm::result<std::unique_ptr<ssl::context>> make_tls_context(const tls_files& files);

/// One HTTP/1.1 keep-alive connection over `Stream` (plain_stream or tls_stream).
template <class Stream>
class http_session : public reply_target,
                     public std::enable_shared_from_this<http_session<Stream>> {
  public:
    /// Plain: `socket` is the accepted connection. TLS: the handshake runs first, with `tls`.
    http_session(tcp::socket&& socket, std::shared_ptr<server_state> state);
    ~http_session() override;
    http_session(const http_session&) = delete;
    http_session& operator=(const http_session&) = delete;

    void run();
    void shutdown() override;
    void deliver(std::uint64_t serial, response r) override;
    asio::any_io_executor executor() override { return executor_; }

  private:
    static constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

    void on_handshake(beast::error_code ec);
    void do_read();
    void on_header(beast::error_code ec);
    void on_read(beast::error_code ec);
    void refuse_read(beast::error_code ec);
    void plan_body();
    void begin_answer();
    void handle(bhttp::request<bhttp::string_body>&& req);
    void answer_route(const route& r, request&& req);
    void start_async(const async_handler& h, request&& req);
    void upgrade(const ws_route& route, bhttp::request<bhttp::string_body>&& beast_req,
                 const request& req);
    void send(response r, bool force_close = false);
    void on_write(bool close, beast::error_code ec);
    void close_now();
    void lingering_close();
    void drain();
    tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

    Stream stream_;
    // The connection's strand, kept apart from the stream: after a WebSocket upgrade the stream
    // is moved out, and stop() may still post a shutdown here.
    asio::any_io_executor executor_;
    bool handed_over_ = false;  // the stream went to a ws_connection: nothing left to close
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    std::shared_ptr<server_state> state_;
    std::string remote_;

    bool busy_ = false;         // a request is being handled or answered
    bool close_after_ = false;  // stop() asked: close once the current answer is written
    bool keep_alive_ = true;
    bool head_ = false;
    unsigned version_ = 11;
    std::string route_label_;
    std::string method_label_;
    std::size_t body_limit_ = 0;  // of the request being read
    std::chrono::steady_clock::time_point started_;

    std::uint64_t serial_ = 0;
    std::shared_ptr<pending_reply> pending_;
    asio::steady_timer handler_timer_;
    std::optional<bhttp::response<bhttp::string_body>> res_;
    std::array<char, 4096> drain_buffer_{};
};

extern template class http_session<plain_stream>;
extern template class http_session<tls_stream>;

using shared_message = std::shared_ptr<const ws_message>;

/// What the hub sees of a WebSocket connection, whatever its transport.
class ws_peer : public connection {
  public:
    /// Any thread: true when the filter takes the message.
    virtual bool wants(const ws_message& m) const noexcept = 0;
    /// The labels it was admitted with (never changed).
    virtual const ws_labels& labels() const noexcept = 0;
    /// Any thread: sends a close frame with `code` and `reason` once the current write is done.
    virtual void close_with(std::uint16_t code, std::string reason) = 0;

    enum class enqueue_result { queued, dropped, closed };
    /// Any thread, never blocks on the network.
    virtual enqueue_result enqueue(const shared_message& m) = 0;
};

struct hub_entry {
    std::weak_ptr<ws_peer> conn;
    std::shared_ptr<executor_gate> gate;
};

struct hub_state {
    explicit hub_state(ws_hub_options o) : options(o) {}

    ws_hub_options options;
    std::mutex mutex;
    std::unordered_map<const ws_peer*, hub_entry> conns;
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> messages_sent{0};
    std::atomic<std::uint64_t> clients_dropped{0};

    void add(const std::shared_ptr<ws_peer>& c, std::shared_ptr<executor_gate> gate);
    void remove(const ws_peer* c);
};

/// One WebSocket connection over `Stream` (plain_stream or tls_stream), taken over from the
/// HTTP session that read its upgrade request.
template <class Stream>
class ws_connection : public ws_peer, public std::enable_shared_from_this<ws_connection<Stream>> {
  public:
    ws_connection(Stream&& stream, std::shared_ptr<server_state> state,
                  std::shared_ptr<hub_state> hub, ws_admission admission);
    ~ws_connection() override;
    ws_connection(const ws_connection&) = delete;
    ws_connection& operator=(const ws_connection&) = delete;

    void run(bhttp::request<bhttp::string_body> req);
    void shutdown() override;
    bool wants(const ws_message& m) const noexcept override;
    const ws_labels& labels() const noexcept override { return labels_; }
    void close_with(std::uint16_t code, std::string reason) override;
    enqueue_result enqueue(const shared_message& m) override;

  private:
    void on_accept(beast::error_code ec);
    void do_read();
    void do_write();
    void hard_close();
    void start_close();
    void finish();

    websocket::stream<Stream> ws_;
    std::shared_ptr<server_state> state_;
    std::shared_ptr<hub_state> hub_;
    ws_filter filter_;
    ws_labels labels_;
    beast::flat_buffer read_buffer_;

    std::mutex mutex_;  // guards the queue: broadcasters push from their own threads
    std::deque<shared_message> queue_;  // the front is the one being written
    bool writing_ = false;
    bool closed_ = false;
    std::optional<websocket::close_reason> close_reason_;  // set by close_with
};

extern template class ws_connection<plain_stream>;
extern template class ws_connection<tls_stream>;

}  // namespace eqm::http::detail
