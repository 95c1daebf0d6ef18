// One HTTP/1.1 keep-alive connection: read a request, route it, answer (now, or later through a
// responder), repeat. Everything here runs on the connection's strand except responder::send.
#include <exception>

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
    auto session = state_->session.lock();
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

}  // namespace

http_session::http_session(tcp::socket&& socket, std::shared_ptr<server_state> state)
    : stream_(std::move(socket)),
      state_(std::move(state)),
      remote_(endpoint_text(stream_.socket())),
      handler_timer_(stream_.get_executor()) {}

http_session::~http_session() {
    state_->remove(this);
}

void http_session::run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void http_session::shutdown() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
        self->close_after_ = true;
        if (!self->busy_) self->close_now();
    });
}

void http_session::do_read() {
    if (close_after_ || state_->stopping) {
        close_now();
        return;
    }
    parser_.emplace();
    parser_->body_limit(state_->options.body_limit);
    parser_->header_limit(header_limit_bytes);
    stream_.expires_after(state_->options.read_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void http_session::on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
        close_now();
        return;
    }
    busy_ = true;
    started_ = std::chrono::steady_clock::now();
    route_label_ = "unmatched";
    method_label_ = "OTHER";
    head_ = false;
    if (ec) {
        keep_alive_ = false;
        if (parser_ && parser_->is_header_done()) {
            version_ = parser_->get().version();
            method_label_ = std::string{to_sv(parser_->get().method_string())};
        }
        if (ec == bhttp::error::body_limit) {
            send(problem_response(eqm::error{eqm::errc::too_large, "",
                                             "request body is over the limit of " +
                                                 std::to_string(state_->options.body_limit) +
                                                 " bytes"}),
                 true);
        } else if (ec == bhttp::error::header_limit) {
            send(problem_response(
                     431, "bad_request", "Request header fields too large",
                     "request headers are over " + std::to_string(header_limit_bytes) + " bytes"),
                 true);
        } else {
            send(problem_response(400, "bad_request", "Malformed request", ec.message()), true);
        }
        return;
    }
    handle(parser_->release());
}

void http_session::handle(bhttp::request<bhttp::string_body>&& beast_req) {
    version_ = beast_req.version();
    keep_alive_ = beast_req.keep_alive();
    method_label_ = std::string{to_sv(beast_req.method_string())};

    const auto verb = method_from_string(method_label_);
    if (!verb) {
        keep_alive_ = false;
        send(problem_response(501, "not_implemented", "Method not implemented",
                              "method " + method_label_ + " is not supported"));
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
        case match_kind::route: {
            route_label_ = match.matched_route->pattern;
            req.body = std::move(beast_req.body());
            if (match.matched_route->async) {
                start_async(match.matched_route->async, std::move(req));
                return;
            }
            response r;
            try {
                r = match.matched_route->sync(req);
            } catch (const std::exception& e) {
                state_->log("handler " + method_label_ + " " + route_label_ +
                            " threw: " + e.what());
                r = problem_response(eqm::error{eqm::errc::internal, "", "the handler failed"});
            } catch (...) {
                state_->log("handler " + method_label_ + " " + route_label_ +
                            " threw a non-exception");
                r = problem_response(eqm::error{eqm::errc::internal, "", "the handler failed"});
            }
            send(std::move(r));
            return;
        }
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

void http_session::start_async(const async_handler& h, request&& req) {
    auto pending = std::make_shared<pending_reply>();
    pending->gate = state_->gate;
    pending->session = weak_from_this();
    pending->serial = ++serial_;
    pending_ = pending;

    // The timer's handler holds the session alive until an answer is chosen.
    handler_timer_.expires_after(state_->options.handler_timeout);
    handler_timer_.async_wait([self = shared_from_this(), pending](beast::error_code ec) {
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

void http_session::deliver(std::uint64_t serial, response r) {
    if (!pending_ || serial != serial_) return;  // a late answer for a request already closed
    pending_.reset();
    handler_timer_.cancel();
    send(std::move(r));
}

void http_session::upgrade(const ws_route& route, bhttp::request<bhttp::string_body>&& beast_req,
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
    auto conn = std::make_shared<ws_connection>(stream_.release_socket(), state_, route.hub,
                                                std::move(admission));
    state_->add(conn);
    conn->run(std::move(beast_req));
}

void http_session::send(response r, bool force_close) {
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
    stream_.expires_after(state_->options.read_timeout);  // a client that never reads is cut
    bhttp::async_write(stream_, *res_,
                       [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
                           self->on_write(!keep, ec);
                       });
}

void http_session::on_write(bool close, beast::error_code ec) {
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

void http_session::close_now() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
}

void http_session::lingering_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(lingering_close_time);
    drain();
}

void http_session::drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec) {
                                    self->close_now();
                                    return;
                                }
                                self->drain();
                            });
}

}  // namespace detail
}  // namespace eqm::http
