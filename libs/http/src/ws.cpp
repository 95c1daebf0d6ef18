// WebSocket connections and the broadcast hub. Broadcasters run on their own threads (MQTT
// callbacks, timers); they only push onto a bounded queue and post a write, never wait.
#include <exception>

#include "asio_internal.hpp"

namespace eqm::http {
namespace detail {

void hub_state::add(const std::shared_ptr<ws_peer>& c, std::shared_ptr<executor_gate> gate) {
    std::lock_guard lock(mutex);
    conns[c.get()] = hub_entry{c, std::move(gate)};
    connections_total.fetch_add(1);
}

void hub_state::remove(const ws_peer* c) {
    std::lock_guard lock(mutex);
    conns.erase(c);
}

template <class Stream>
ws_connection<Stream>::ws_connection(Stream&& stream, std::shared_ptr<server_state> state,
                                     std::shared_ptr<hub_state> hub, ws_admission admission)
    : ws_(std::move(stream)),
      state_(std::move(state)),
      hub_(std::move(hub)),
      filter_(std::move(admission.filter)),
      labels_(std::move(admission.labels)) {}

template <class Stream>
ws_connection<Stream>::~ws_connection() {
    hub_->remove(this);
    state_->remove(this);
}

template <class Stream>
void ws_connection<Stream>::run(bhttp::request<bhttp::string_body> req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [name = state_->options.server_name](websocket::response_type& res) {
            res.set(bhttp::field::server, name);
        }));
    ws_.read_message_max(hub_->options.incoming_limit);
    ws_.async_accept(
        req, [self = this->shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
}

template <class Stream>
void ws_connection<Stream>::on_accept(beast::error_code ec) {
    if (ec) {
        finish();
        return;
    }
    hub_->add(std::static_pointer_cast<ws_peer>(this->shared_from_this()), state_->gate);
    do_read();
}

template <class Stream>
void ws_connection<Stream>::do_read() {
    // Clients have nothing to tell us; reading keeps control frames (ping, close) flowing.
    ws_.async_read(read_buffer_,
                   [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) {
                           self->finish();
                           return;
                       }
                       self->read_buffer_.consume(self->read_buffer_.size());
                       self->do_read();
                   });
}

template <class Stream>
bool ws_connection<Stream>::wants(const ws_message& m) const noexcept {
    if (!filter_) return true;
    try {
        return filter_(m);
    } catch (...) {
        return false;
    }
}

template <class Stream>
ws_peer::enqueue_result ws_connection<Stream>::enqueue(const shared_message& m) {
    {
        std::lock_guard lock(mutex_);
        if (closed_) return enqueue_result::closed;
        if (queue_.size() < hub_->options.queue_limit) {
            queue_.push_back(m);
            if (writing_) return enqueue_result::queued;
            writing_ = true;
        } else {
            closed_ = true;  // too slow: no more messages, and close it below
            hub_->clients_dropped.fetch_add(1);
            asio::post(ws_.get_executor(),
                       [self = this->shared_from_this()] { self->hard_close(); });
            return enqueue_result::dropped;
        }
    }
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] { self->do_write(); });
    return enqueue_result::queued;
}

template <class Stream>
void ws_connection<Stream>::do_write() {
    shared_message front;
    {
        std::unique_lock lock(mutex_);
        if (closed_ || queue_.empty()) {
            writing_ = false;
            const bool close = closed_ && close_reason_.has_value();
            lock.unlock();
            if (close) start_close();
            return;
        }
        front = queue_.front();
    }
    ws_.text(true);
    ws_.async_write(asio::buffer(front->text),
                    [self = this->shared_from_this(), front](beast::error_code ec, std::size_t) {
                        if (ec) {
                            self->finish();
                            return;
                        }
                        self->hub_->messages_sent.fetch_add(1);
                        {
                            std::lock_guard lock(self->mutex_);
                            if (!self->queue_.empty()) self->queue_.pop_front();
                        }
                        self->do_write();
                    });
}

template <class Stream>
void ws_connection<Stream>::shutdown() {
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
        bool busy = false;
        {
            std::lock_guard lock(self->mutex_);
            self->closed_ = true;
            busy = self->writing_;
        }
        if (busy || !self->ws_.is_open()) {
            self->hard_close();
            return;
        }
        self->ws_.async_close(websocket::close_code::going_away,
                              [self](beast::error_code) { self->finish(); });
    });
}

template <class Stream>
void ws_connection<Stream>::close_with(std::uint16_t code, std::string reason) {
    // A close frame's reason holds at most 123 bytes.
    constexpr std::size_t max_close_reason = 123;
    if (reason.size() > max_close_reason) reason.resize(max_close_reason);
    asio::post(
        ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)] {
            bool busy = false;
            {
                std::lock_guard lock(self->mutex_);
                if (self->close_reason_) return;
                self->closed_ = true;
                self->close_reason_ =
                    websocket::close_reason(static_cast<websocket::close_code>(code), reason);
                busy = self->writing_;
            }
            // While a message is being written, do_write closes once it is out.
            if (!busy) self->start_close();
        });
}

template <class Stream>
void ws_connection<Stream>::start_close() {
    if (!ws_.is_open()) {
        finish();
        return;
    }
    ws_.async_close(*close_reason_,
                    [self = this->shared_from_this()](beast::error_code) { self->finish(); });
}

template <class Stream>
void ws_connection<Stream>::hard_close() {
    beast::error_code ec;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    finish();
}

template <class Stream>
void ws_connection<Stream>::finish() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        queue_.clear();
    }
    hub_->remove(this);
}

template class ws_connection<plain_stream>;
template class ws_connection<tls_stream>;

}  // namespace detail

ws_hub::ws_hub(ws_hub_options options) : state_(std::make_shared<detail::hub_state>(options)) {}

ws_hub::~ws_hub() = default;

std::size_t ws_hub::broadcast(std::string text, ws_labels labels) {
    return broadcast(ws_message{std::move(text), std::move(labels)});
}

std::size_t ws_hub::broadcast(ws_message message) {
    auto shared = std::make_shared<const ws_message>(std::move(message));
    std::vector<detail::hub_entry> targets;
    {
        std::lock_guard lock(state_->mutex);
        targets.reserve(state_->conns.size());
        for (const auto& [key, entry] : state_->conns) targets.push_back(entry);
    }
    std::size_t queued = 0;
    for (const auto& entry : targets) {
        std::shared_lock gate_lock(entry.gate->mutex);
        if (!entry.gate->open) continue;
        auto conn = entry.conn.lock();
        if (!conn || !conn->wants(*shared)) continue;
        if (conn->enqueue(shared) == detail::ws_peer::enqueue_result::queued) ++queued;
    }
    return queued;
}

std::size_t ws_hub::close_where(const ws_verdict& verdict, std::uint16_t code) {
    std::vector<detail::hub_entry> targets;
    {
        std::lock_guard lock(state_->mutex);
        targets.reserve(state_->conns.size());
        for (const auto& [key, entry] : state_->conns) targets.push_back(entry);
    }
    std::size_t closed = 0;
    for (const auto& entry : targets) {
        std::shared_lock gate_lock(entry.gate->mutex);
        if (!entry.gate->open) continue;
        auto conn = entry.conn.lock();
        if (!conn) continue;
        if (auto reason = verdict(conn->labels())) {
            conn->close_with(code, std::move(*reason));
            ++closed;
        }
    }
    return closed;
}

ws_stats ws_hub::stats() const noexcept {
    ws_stats s;
    {
        std::lock_guard lock(state_->mutex);
        s.connections = state_->conns.size();
    }
    s.connections_total = state_->connections_total.load();
    s.messages_sent = state_->messages_sent.load();
    s.clients_dropped = state_->clients_dropped.load();
    return s;
}

void ws_hub::write_metrics(prometheus_writer& out, std::string_view prefix) const {
    const auto s = stats();
    const std::string p{prefix};
    out.gauge(p + "_connections", "Open WebSocket connections", static_cast<double>(s.connections));
    out.counter(p + "_connections_total", "WebSocket connections accepted",
                static_cast<double>(s.connections_total));
    out.counter(p + "_messages_sent_total", "WebSocket messages written to clients",
                static_cast<double>(s.messages_sent));
    out.counter(p + "_clients_dropped_total",
                "WebSocket clients closed because their queue was full",
                static_cast<double>(s.clients_dropped));
}

}  // namespace eqm::http
