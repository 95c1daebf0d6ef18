// One HTTP/1.1 keep-alive connection, over TCP or TLS: read a request's header, decide how much
// body it may bring, read it, route it, answer (now, or later through a responder), repeat.
// Everything here runs on the connection's strand except responder::send.
#include <algorithm>
#include <exception>
#include <limits>

#include "asio_internal.hpp"
#include "eqm/http/problem.hpp"

namespace eqm::http {

responder::responder(std::shared_ptr<detail::pending_reply> state) noexcept
    : state_(std::move(state)) {}

bool responder::answered() const noexcept {
    return !state_ || state_->claimed.load();
}

bool responder::send(response r) const {
    if (!state_ || state_->claimed.exchange(true)) return false;
    // Hold the gate for as long as we touch the session so the server cannot destroy its
    // io_context under us; the shared_ptr we take is released before the lock is.
    std::shared_lock lock(state_->gate->mutex);
    if (!state_->gate->open) return false;
    std::shared_ptr<detail::reply_target> session = state_->session.lock();
    if (!session) return false;
    detail::asio::post(session->executor(),
                       [session, serial = state_->serial, r = std::move(r)]() mutable {
                           session->deliver(serial, std::move(r));
                       });
    return true;
}

namespace detail {
namespace {

// Beast's default is 8 KiB; bearer tokens and cookies fit comfortably in this.
constexpr std::uint32_t header_limit_bytes = 16 * 1024;
// After answering with Connection: close we read and discard what the client still sends for
// this long, so an unread request body does not turn our close into a reset that eats the answer.
constexpr std::chrono::milliseconds lingering_close_time{1000};

std::string endpoint_text(const tcp::socket& s) {
    beast::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

template <class Stream>
Stream open_stream(tcp::socket&& socket, server_state& state) {
    if constexpr (std::is_same_v<Stream, tls_stream>) {
        return Stream(std::move(socket), *state.tls);
    } else {
        return Stream(std::move(socket));
    }
}

bool ends_connection(beast::error_code ec) {
    return ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
           ec == asio::error::operation_aborted || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

std::string method_label(std::string_view token) {
    const auto verb = method_from_string(token);
    return verb ? std::string{to_string(*verb)} : std::string{"other"};
}

template <class Stream>
http_session<Stream>::http_session(tcp::socket&& socket, std::shared_ptr<server_state> state)
    : stream_(open_stream<Stream>(std::move(socket), *state)),
      executor_(stream_.get_executor()),
      state_(std::move(state)),
      remote_(endpoint_text(beast::get_lowest_layer(stream_).socket())),
      handler_timer_(executor_) {}

template <class Stream>
http_session<Stream>::~http_session() {
    state_->remove(this);
}

template <class Stream>
void http_session<Stream>::run() {
    asio::dispatch(executor_, [self = this->shared_from_this()] {
        if constexpr (is_tls) {
            // The handshake is bounded like a request: a client that connects and says nothing
            // holds its place for read_timeout at most.
            beast::get_lowest_layer(self->stream_)
                .expires_after(self->state_->options.read_timeout);
            self->stream_.async_handshake(ssl::stream_base::server,
                                          [self](beast::error_code ec) { self->on_handshake(ec); });
        } else {
            self->do_read();
        }
    });
}

template <class Stream>
void http_session<Stream>::on_handshake(beast::error_code ec) {
    if (ec) {
        // Scanners, plain HTTP on this port, clients that do not trust our certificate: counted,
        // not logged one by one (a handshake cut by stop() is none of those).
        if (!close_after_ && !state_->stopping) state_->tls_handshake_failures.fetch_add(1);
        close_now();
        return;
    }
    do_read();
}

template <class Stream>
void http_session<Stream>::shutdown() {
    asio::post(executor_, [self = this->shared_from_this()] {
        self->close_after_ = true;
        if (!self->busy_) self->close_now();
    });
}

template <class Stream>
void http_session<Stream>::do_read() {
    if (close_after_ || state_->stopping) {
        close_now();
        return;
    }
    parser_.emplace();
    parser_->header_limit(header_limit_bytes);
    // How much body a request may bring depends on its route and its credentials, known once
    // the header is in (plan_body); until then the parser must not judge Content-Length.
    // (Beast 1.74 compares a Content-Length against an empty limit as if it were 0, so "no
    // limit" is spelled as the largest one.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    route_label_ = "unmatched";
    method_label_ = "other";
    beast::get_lowest_layer(stream_).expires_after(state_->options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                 self->on_header(ec);
                             });
}

template <class Stream>
void http_session<Stream>::on_header(beast::error_code ec) {
    if (ends_connection(ec)) {
        close_now();
        return;
    }
    if (ec) {
        refuse_read(ec);
        return;
    }
    method_label_ = method_label(to_sv(parser_->get().method_string()));
    plan_body();
    const auto length = parser_->content_length();
    if (length && *length > body_limit_) {
        // Refused from the header: the body is never read, let alone buffered.
        refuse_read(bhttp::error::body_limit);
        return;
    }
    parser_->body_limit(body_limit_);  // chunked bodies are counted as they arrive
    if (parser_->is_done()) {
        on_read({});
        return;
    }
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code read_ec, std::size_t) {
                          self->on_read(read_ec);
                      });
}

template <class Stream>
void http_session<Stream>::plan_body() {
    const auto& req = parser_->get();
    body_limit_ = state_->options.body_limit;
    const auto verb = method_from_string(to_sv(req.method_string()));
    const auto target = parse_target(to_sv(req.target()));
    if (!verb || !target) return;
    const auto match = resolve(router_access::table(state_->routes), *verb, target->segments,
                               websocket::is_upgrade(req));
    if (match.kind != match_kind::route) return;
    route_label_ = match.matched_route->pattern;
    const auto raised = match.matched_route->options.body_limit;
    if (raised == 0) return;
    const bool has_credentials = !req[bhttp::field::authorization].empty();
    body_limit_ = has_credentials ? raised : std::min(raised, body_limit_);
}

template <class Stream>
void http_session<Stream>::begin_answer() {
    busy_ = true;
    started_ = std::chrono::steady_clock::now();
    head_ = false;
}

template <class Stream>
void http_session<Stream>::on_read(beast::error_code ec) {
    if (ends_connection(ec)) {
        close_now();
        return;
    }
    if (ec) {
        refuse_read(ec);
        return;
    }
    begin_answer();
    handle(parser_->release());
}

template <class Stream>
void http_session<Stream>::refuse_read(beast::error_code ec) {
    begin_answer();
    keep_alive_ = false;
    if (parser_ && parser_->is_header_done()) {
        version_ = parser_->get().version();
        method_label_ = method_label(to_sv(parser_->get().method_string()));
    }
    if (ec == bhttp::error::body_limit) {
        send(problem_response(eqm::error{
                 eqm::errc::too_large, "",
                 "request body is over the limit of " + std::to_string(body_limit_) + " bytes"}),
             true);
    } else if (ec == bhttp::error::header_limit) {
        send(problem_response(
                 431, "bad_request", "Request header fields too large",
                 "request headers are over " + std::to_string(header_limit_bytes) + " bytes"),
             true);
    } else {
        send(problem_response(400, "bad_request", "Malformed request", ec.message()), true);
    }
}

template <class Stream>
void http_session<Stream>::handle(bhttp::request<bhttp::string_body>&& beast_req) {
    version_ = beast_req.version();
    keep_alive_ = beast_req.keep_alive();
    const auto verb = method_from_string(to_sv(beast_req.method_string()));
    if (!verb) {
        keep_alive_ = false;
        send(problem_response(
            501, "not_implemented", "Method not implemented",
            "method " + std::string{to_sv(beast_req.method_string())} + " is not supported"));
        return;
    }
    head_ = *verb == method::head;
    auto target = parse_target(to_sv(beast_req.target()));
    if (!target) {
        send(problem_response(
            400, "bad_request", "Malformed request target",
            "the request target is not an absolute path with valid percent-escapes"));
        return;
    }

    const auto& table = router_access::table(state_->routes);
    auto match = resolve(table, *verb, target->segments, websocket::is_upgrade(beast_req));

    request req;
    req.method = *verb;
    req.target = std::string{to_sv(beast_req.target())};
    req.path = std::move(target->path);
    req.query = std::move(target->query);
    req.path_params = std::move(match.params);
    req.remote_address = remote_;
    for (const auto& field : beast_req) {
        req.headers.emplace_back(std::string{to_sv(field.name_string())},
                                 std::string{to_sv(field.value())});
    }

    switch (match.kind) {
        case match_kind::route:
            route_label_ = match.matched_route->pattern;
            req.body = std::move(beast_req.body());
            answer_route(*match.matched_route, std::move(req));
            return;
        case match_kind::websocket:
            route_label_ = "websocket";
            upgrade(*match.matched_ws, std::move(beast_req), req);
            return;
        case match_kind::static_file: {
            route_label_ = "static";
            auto file = load_static(*match.mount, match.rest);
            if (!file) {
                send(problem_response(
                    eqm::error{eqm::errc::not_found, "", "no file at " + req.path}));
                return;
            }
            send(std::move(*file));
            return;
        }
        case match_kind::method_not_allowed: {
            auto r = problem_response(
                405, "method_not_allowed", "Method not allowed",
                method_label_ + " is not allowed on " + req.path + "; allowed: " + match.allow);
            r.headers.emplace_back("Allow", match.allow);
            send(std::move(r));
            return;
        }
        case match_kind::upgrade_required: {
            auto r = problem_response(426, "upgrade_required", "WebSocket upgrade required",
                                      req.path + " only takes WebSocket upgrade requests (GET)");
            r.headers.emplace_back("Upgrade", "websocket");
            send(std::move(r));
            return;
        }
        case match_kind::not_found:
            break;
    }
    send(problem_response(
        eqm::error{eqm::errc::not_found, "", "no route for " + method_label_ + " " + req.path}));
}

template <class Stream>
void http_session<Stream>::answer_route(const route& r, request&& req) {
    if (r.async) {
        start_async(r.async, std::move(req));
        return;
    }
    response answer;
    try {
        answer = r.sync(req);
    } catch (const std::exception& e) {
        state_->log("handler " + method_label_ + " " + route_label_ + " threw: " + e.what());
        answer = problem_response(eqm::error{eqm::errc::internal, "", "the handler failed"});
    } catch (...) {
        state_->log("handler " + method_label_ + " " + route_label_ + " threw a non-exception");
        answer = problem_response(eqm::error{eqm::errc::internal, "", "the handler failed"});
    }
    send(std::move(answer));
}

template <class Stream>
void http_session<Stream>::start_async(const async_handler& h, request&& req) {
    auto pending = std::make_shared<pending_reply>();
    pending->gate = state_->gate;
    pending->session = this->weak_from_this();
    pending->serial = ++serial_;
    pending_ = pending;

    // The timer's handler holds the session alive until an answer is chosen.
    handler_timer_.expires_after(state_->options.handler_timeout);
    handler_timer_.async_wait([self = this->shared_from_this(), pending](beast::error_code ec) {
        if (ec || pending->claimed.exchange(true)) return;
        self->state_->log("handler " + self->method_label_ + " " + self->route_label_ +
                          " did not answer within " +
                          std::to_string(self->state_->options.handler_timeout.count()) + " ms");
        self->deliver(
            pending->serial,
            problem_response(504, "gateway_timeout", "Handler timed out",
                             "no answer within " +
                                 std::to_string(self->state_->options.handler_timeout.count()) +
                                 " ms"));
    });

    const std::string label = route_label_;
    try {
        h(std::move(req), responder{pending});
        return;
    } catch (const std::exception& e) {
        state_->log("async handler " + method_label_ + " " + label + " threw: " + e.what());
    } catch (...) {
        state_->log("async handler " + method_label_ + " " + label + " threw a non-exception");
    }
    if (!pending->claimed.exchange(true)) {
        deliver(pending->serial,
                problem_response(eqm::error{eqm::errc::internal, "", "the handler failed"}));
    }
}

template <class Stream>
void http_session<Stream>::deliver(std::uint64_t serial, response r) {
    if (!pending_ || serial != serial_) return;  // a late answer for a request already closed
    pending_.reset();
    handler_timer_.cancel();
    send(std::move(r));
}

template <class Stream>
void http_session<Stream>::upgrade(const ws_route& route,
                                   bhttp::request<bhttp::string_body>&& beast_req,
                                   const request& req) {
    ws_admission admission;
    if (route.accept) {
        eqm::result<ws_admission> decision =
            eqm::fail(eqm::errc::internal, "", "the accept hook failed");
        try {
            decision = route.accept(req);
        } catch (const std::exception& e) {
            state_->log("websocket accept hook for " + route.pattern + " threw: " + e.what());
        } catch (...) {
            state_->log("websocket accept hook for " + route.pattern + " threw a non-exception");
        }
        if (!decision) {
            send(problem_response(decision.error()));
            return;
        }
        admission = std::move(*decision);
    }
    state_->record(
        route_label_, method_label_, 101,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    busy_ = false;
    beast::get_lowest_layer(stream_).expires_never();
    // The WebSocket takes the stream over as it is: for TLS, the session keys go with it.
    handed_over_ = true;
    auto conn = std::make_shared<ws_connection<Stream>>(std::move(stream_), state_, route.hub,
                                                        std::move(admission));
    state_->replace(this, conn);
    conn->run(std::move(beast_req));
}

template <class Stream>
void http_session<Stream>::send(response r, bool force_close) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version_};
    res.set(bhttp::field::server, state_->options.server_name);
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res.insert(name, value);
    const bool keep = keep_alive_ && !force_close && !close_after_ && !state_->stopping;
    res.keep_alive(keep);
    if (head_) {
        res.content_length(r.body.size());  // what a GET would carry, without the bytes
    } else {
        res.body() = std::move(r.body);
        res.prepare_payload();
    }
    state_->record(
        route_label_, method_label_, r.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());

    res_.emplace(std::move(res));
    // A client that never reads is cut.
    beast::get_lowest_layer(stream_).expires_after(state_->options.read_timeout);
    bhttp::async_write(stream_, *res_,
                       [self = this->shared_from_this(), keep](beast::error_code ec, std::size_t) {
                           self->on_write(!keep, ec);
                       });
}

template <class Stream>
void http_session<Stream>::on_write(bool close, beast::error_code ec) {
    busy_ = false;
    res_.reset();
    if (ec) {
        close_now();
        return;
    }
    if (close_after_ || state_->stopping) {
        // stop() came while this answer was in flight: the client has its answer, so close now
        // as for an idle connection; lingering would hold stop() for its whole grace period.
        close_now();
        return;
    }
    if (close) {
        lingering_close();
        return;
    }
    do_read();
}

template <class Stream>
void http_session<Stream>::close_now() {
    // TLS too: the socket is closed under it without a close_notify, which costs the client
    // nothing once it has its answer (every answer carries its length).
    if (handed_over_) return;
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
}

template <class Stream>
void http_session<Stream>::lingering_close() {
    beast::error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    beast::get_lowest_layer(stream_).expires_after(lingering_close_time);
    drain();
}

template <class Stream>
void http_session<Stream>::drain() {
    // Below TLS: what is left is thrown away undecrypted.
    beast::get_lowest_layer(stream_).async_read_some(
        asio::buffer(drain_buffer_),
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) {
                self->close_now();
                return;
            }
            self->drain();
        });
}

template class http_session<plain_stream>;
template class http_session<tls_stream>;

}  // namespace detail
}  // namespace eqm::http
