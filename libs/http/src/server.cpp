// The listener, the server's shared state and its lifetime: start binds and spins up the I/O
// threads, stop closes gracefully and joins them. The listener holds the connection limit.
#include <array>
#include <charconv>
#include <future>
#include <thread>

#include "asio_internal.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::http {
namespace detail {
namespace {

// Upper bounds (seconds) of the request latency histogram's buckets.
constexpr std::array<double, 12> latency_buckets{0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25,  0.5,   1.0,  2.5,   5.0,  10.0};
// Pause after a failed accept (e.g. out of file descriptors) so we do not spin on it.
constexpr std::chrono::milliseconds accept_retry_delay{100};
// What a connection beyond the limit gets before it is closed: a fresh socket's send buffer
// takes it whole, so writing it never waits (and over TLS the client just sees the close).
constexpr std::string_view busy_answer =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 44\r\n\r\n"
    "too many open connections; try again shortly";

}  // namespace

server_state::server_state(server_options opts, router r)
    : options(std::move(opts)), routes(std::move(r)) {
    if (options.threads == 0) options.threads = 1;
}

void server_state::log(std::string_view line) const {
    if (options.log) {
        try {
            options.log(line);
        } catch (...) {
            // A logger that throws must not take the connection down with it.
        }
        return;
    }
    // No sink given: the house logger's line on stderr, like every other component's.
    log_warn("http", line);
}

void server_state::add(const std::shared_ptr<connection>& c) {
    std::lock_guard lock(conn_mutex_);
    conns_[c.get()] = c;
}

void server_state::replace(const connection* prev, const std::shared_ptr<connection>& next) {
    std::lock_guard lock(conn_mutex_);
    conns_.erase(prev);
    conns_[next.get()] = next;
}

void server_state::remove(const connection* c) {
    {
        std::lock_guard lock(conn_mutex_);
        conns_.erase(c);
    }
    conn_cv_.notify_all();
}

void server_state::shutdown_all() {
    std::vector<std::weak_ptr<connection>> all;
    {
        std::lock_guard lock(conn_mutex_);
        for (const auto& [key, weak] : conns_) all.push_back(weak);
    }
    for (const auto& weak : all) {
        if (auto c = weak.lock()) c->shutdown();
    }
}

bool server_state::wait_until_empty(std::chrono::milliseconds timeout) {
    std::unique_lock lock(conn_mutex_);
    return conn_cv_.wait_for(lock, timeout, [this] { return conns_.empty(); });
}

std::size_t server_state::connection_count() {
    std::lock_guard lock(conn_mutex_);
    return conns_.size();
}

void server_state::record(std::string_view route, std::string_view verb, unsigned status,
                          double seconds) {
    std::lock_guard lock(metrics_mutex_);
    ++requests_[{std::string{route}, std::string{verb}, status}];
    auto& h = durations_[{std::string{route}, std::string{verb}}];
    if (h.bounds.empty()) {
        h.bounds.assign(latency_buckets.begin(), latency_buckets.end());
        h.counts.assign(latency_buckets.size() + 1, 0);
    }
    std::size_t i = 0;
    while (i < h.bounds.size() && seconds > h.bounds[i]) ++i;
    ++h.counts[i];
    h.sum += seconds;
    ++h.count;
}

void server_state::write_metrics(prometheus_writer& out) {
    decltype(requests_) requests;
    decltype(durations_) durations;
    {
        std::lock_guard lock(metrics_mutex_);
        requests = requests_;
        durations = durations_;
    }
    for (const auto& [key, n] : requests) {
        const auto& [route, verb, status] = key;
        out.counter("eqm_http_requests_total",
                    "HTTP requests answered, by route pattern, method and status",
                    static_cast<double>(n),
                    {{"route", route}, {"method", verb}, {"status", std::to_string(status)}});
    }
    for (const auto& [key, h] : durations) {
        out.histogram("eqm_http_request_duration_seconds",
                      "Time from request read to answer queued", h,
                      {{"route", key.first}, {"method", key.second}});
    }
    out.gauge("eqm_http_connections", "Open HTTP and WebSocket connections",
              static_cast<double>(connection_count()));
    out.counter("eqm_http_connections_refused_total",
                "Connections closed at once because max_connections were open",
                static_cast<double>(connections_refused.load()));
    if (tls) {
        out.counter("eqm_http_tls_handshake_failures_total",
                    "Connections that never completed the TLS handshake",
                    static_cast<double>(tls_handshake_failures.load()));
    }
}

class listener : public std::enable_shared_from_this<listener> {
  public:
    listener(asio::io_context& ioc, std::shared_ptr<server_state> state)
        : ioc_(ioc),
          acceptor_(asio::make_strand(ioc)),
          retry_timer_(acceptor_.get_executor()),
          state_(std::move(state)) {}

    eqm::result<std::uint16_t> open(const tcp::endpoint& ep, const std::string& text) {
        beast::error_code ec;
        acceptor_.open(ep.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(ep, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            const std::string why = ec == asio::error::address_in_use
                                        ? "address already in use (another process "
                                          "is listening on this port)"
                                    : ec == boost::system::errc::address_not_available
                                        ? "address is not available on this machine"
                                        : ec.message();
            return eqm::fail(eqm::errc::unavailable, "listen",
                             "cannot listen on " + text + ": " + why);
        }
        const auto port = acceptor_.local_endpoint(ec).port();
        if (ec)
            return eqm::fail(eqm::errc::unavailable, "listen",
                             "cannot read the bound port: " + ec.message());
        return port;
    }

    void start() {
        asio::dispatch(acceptor_.get_executor(),
                       [self = shared_from_this()] { self->do_accept(); });
    }

    /// Closes the acceptor on its strand and waits until that happened.
    void close() {
        std::promise<void> done;
        auto future = done.get_future();
        asio::post(acceptor_.get_executor(), [this, &done] {
            beast::error_code ec;
            acceptor_.close(ec);
            retry_timer_.cancel();
            done.set_value();
        });
        future.wait();
    }

  private:
    void do_accept() {
        acceptor_.async_accept(
            asio::make_strand(ioc_),
            [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                self->on_accept(ec, std::move(socket));
            });
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
        if (ec) {
            state_->log("accept failed: " + ec.message());
            retry_timer_.expires_after(accept_retry_delay);
            retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
                if (!wait_ec) self->do_accept();
            });
            return;
        }
        if (!state_->stopping) serve(std::move(socket));
        do_accept();
    }

    void serve(tcp::socket socket) {
        if (state_->connection_count() >= state_->options.max_connections) {
            refuse(socket);
            return;
        }
        // An answer is written whole; without TCP_NODELAY Nagle holds its last partial
        // segment back until the client ACKs the rest, which delayed ACKs can stretch to
        // tens of milliseconds on a keep-alive connection.
        beast::error_code nodelay_ec;
        socket.set_option(tcp::no_delay(true), nodelay_ec);
        if (state_->tls) {
            start_session<tls_stream>(std::move(socket));
        } else {
            start_session<plain_stream>(std::move(socket));
        }
    }

    template <class Stream>
    void start_session(tcp::socket socket) {
        auto session = std::make_shared<http_session<Stream>>(std::move(socket), state_);
        state_->add(session);
        session->run();
    }

    /// Beyond max_connections: a 503 if the socket takes it at once, then the close. The
    /// connections already open are not touched, so they keep being served.
    void refuse(tcp::socket& socket) {
        state_->connections_refused.fetch_add(1);
        beast::error_code ec;
        if (!state_->tls) {
            socket.non_blocking(true, ec);
            if (!ec) socket.write_some(asio::buffer(busy_answer), ec);
        }
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
    }

    asio::io_context& ioc_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::shared_ptr<server_state> state_;
};

struct server_runtime {
    asio::io_context ioc;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    std::shared_ptr<listener> acceptor;  // declared after ioc: released before ioc is destroyed
    bool started = false;
    bool stopped = false;
    std::uint16_t port = 0;
};

}  // namespace detail

eqm::result<listen_address> parse_listen_address(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return eqm::fail(eqm::errc::bad_field, "listen",
                         "'" + std::string{text} + "' " + std::string{why} +
                             " (expected HOST:PORT, e.g. 127.0.0.1:8080)");
    };
    listen_address out;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return bad("has an unterminated [IPv6] host or no port");
        }
        out.host = std::string{text.substr(1, close - 1)};
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return bad("has no port");
        out.host = std::string{text.substr(0, colon)};
        port_text = text.substr(colon + 1);
        if (out.host.find(':') != std::string::npos)
            return bad("needs brackets around an IPv6 host");
    }
    if (out.host.empty()) return bad("has no host");
    if (port_text.empty()) return bad("has no port");
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
        return bad("has a port that is not a number in 0..65535");
    }
    out.port = static_cast<std::uint16_t>(port);
    if (out.host != "localhost") {
        boost::system::error_code addr_ec;
        boost::asio::ip::make_address(out.host, addr_ec);
        if (addr_ec) return bad("has a host that is not an IP address or localhost");
    }
    return out;
}

server::server(server_options options, router routes)
    : state_(std::make_shared<detail::server_state>(std::move(options), std::move(routes))),
      runtime_(std::make_unique<detail::server_runtime>()) {}

server::~server() {
    stop();
    // The io_context goes with runtime_; connections still queued in it are destroyed there.
    // Close the gate first (stop() did, unless the server never started) so no foreign thread posts
    // into it.
    state_->gate->close();
}

eqm::result<void> server::start() {
    auto& rt = *runtime_;
    if (rt.started) return eqm::fail(eqm::errc::conflict, "", "the server was already started");
    if (state_->options.tls) {
        EQM_TRY_LET(context, detail::make_tls_context(*state_->options.tls));
        state_->tls = std::move(context);
    }
    EQM_TRY_LET(addr, parse_listen_address(state_->options.listen));
    const std::string host = addr.host == "localhost" ? "127.0.0.1" : addr.host;
    const detail::tcp::endpoint ep{boost::asio::ip::make_address(host), addr.port};

    auto l = std::make_shared<detail::listener>(rt.ioc, state_);
    EQM_TRY_LET(port, l->open(ep, state_->options.listen));
    rt.port = port;
    rt.acceptor = l;
    rt.started = true;
    rt.work.emplace(rt.ioc.get_executor());
    for (unsigned i = 0; i < state_->options.threads; ++i) {
        rt.threads.emplace_back([this] {
            for (;;) {
                try {
                    runtime_->ioc.run();
                    return;
                } catch (const std::exception& e) {
                    state_->log(std::string{"I/O thread caught: "} + e.what());
                } catch (...) {
                    state_->log("I/O thread caught a non-exception");
                }
            }
        });
    }
    l->start();
    return {};
}

std::uint16_t server::port() const noexcept {
    return runtime_->port;
}

void server::stop() {
    auto& rt = *runtime_;
    if (!rt.started || rt.stopped) return;
    rt.stopped = true;
    state_->stopping = true;
    rt.acceptor->close();
    state_->shutdown_all();
    if (!state_->wait_until_empty(state_->options.shutdown_grace)) {
        state_->log("stop: " + std::to_string(state_->connection_count()) +
                    " connection(s) still open after the grace period; cutting them");
    }
    state_->gate->close();
    rt.work.reset();
    rt.ioc.stop();
    for (auto& t : rt.threads) t.join();
    rt.threads.clear();
}

void server::write_metrics(prometheus_writer& out) const {
    state_->write_metrics(out);
}

}  // namespace eqm::http
