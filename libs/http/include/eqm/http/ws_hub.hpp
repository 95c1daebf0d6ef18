#pragma once
/// A broadcast hub for WebSocket connections: every connection has a filter and a bounded
/// outgoing queue; broadcast() never waits for a client.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/http/message.hpp"

namespace eqm::http {

class prometheus_writer;

/// Labels a broadcaster attaches to a message so filters need not parse its text,
/// e.g. {{"city", "450100"}, {"kind", "custody"}}.
using ws_labels = std::map<std::string, std::string, std::less<>>;

/// One outgoing text message.
struct ws_message {
    std::string text;
    ws_labels labels;
};

/// Per-connection predicate: true when the connection wants the message. It is called on the
/// broadcasting thread, possibly from several threads at once, so it must only read captured
/// values. A filter that throws counts as "no".
using ws_filter = std::function<bool(const ws_message&)>;

/// What an accepted upgrade gets: its filter (an empty one accepts everything) and labels that
/// say who the connection is (a user, a token) for close_where. A filter alone converts to one.
struct ws_admission {
    ws_admission(ws_filter f = {}, ws_labels l = {})  // NOLINT: implicit on purpose
        : filter(std::move(f)), labels(std::move(l)) {}
    ws_filter filter;
    ws_labels labels;
};

/// Decides an upgrade: an admission, or an error whose problem response refuses it
/// (errc::unauthorized -> 401, errc::bad_field -> 400, ...).
using ws_accept = std::function<eqm::result<ws_admission>(const request&)>;

/// A connection's fate, from the labels it was admitted with: nullopt keeps it, a reason closes it.
using ws_verdict = std::function<std::optional<std::string>(const ws_labels&)>;

/// RFC 6455 close code "policy violation": what close_where sends by default (a login ended).
constexpr std::uint16_t ws_close_policy_violation = 1008;

/// Default number of messages a connection may have queued (including the one being written)
/// before it counts as too slow and is dropped.
constexpr std::size_t default_ws_queue_limit = 256;

/// Largest message a client may send us; clients only need control frames, so this is small.
constexpr std::size_t default_ws_incoming_limit = 4096;

struct ws_hub_options {
    std::size_t queue_limit = default_ws_queue_limit;
    std::size_t incoming_limit = default_ws_incoming_limit;
};

/// Counters, readable at any time.
struct ws_stats {
    std::uint64_t connections = 0;        ///< open now
    std::uint64_t connections_total = 0;  ///< accepted since the hub was made
    std::uint64_t messages_sent = 0;      ///< messages fully written to a client
    std::uint64_t clients_dropped = 0;    ///< connections closed because their queue was full
};

namespace detail {
struct hub_state;
struct hub_access;
}  // namespace detail

/// Thread-safe: broadcast() and stats() may be called from any thread.
class ws_hub {
  public:
    explicit ws_hub(ws_hub_options options = {});
    ~ws_hub();
    ws_hub(const ws_hub&) = delete;
    ws_hub& operator=(const ws_hub&) = delete;

    /// Queues the message for every connection whose filter accepts it and returns how many
    /// that was. A connection whose queue is already full is dropped (closed) instead; the
    /// others are not delayed. The text is shared, not copied, between connections.
    std::size_t broadcast(ws_message message);

    /// Shorthand for broadcast(ws_message{text, labels}).
    std::size_t broadcast(std::string text, ws_labels labels = {});

    /// Closes every open connection whose verdict gives a reason: a close frame with `code` and
    /// the reason (cut to the 123 bytes a close frame holds) after any message being written,
    /// and nothing more is queued to it. The verdict runs on the calling thread. Returns how
    /// many connections it closed.
    std::size_t close_where(const ws_verdict& verdict,
                            std::uint16_t code = ws_close_policy_violation);

    ws_stats stats() const noexcept;

    /// Writes the counters as `<prefix>_connections` (gauge), `<prefix>_connections_total`,
    /// `<prefix>_messages_sent_total`, `<prefix>_clients_dropped_total` (counters).
    void write_metrics(prometheus_writer& out, std::string_view prefix = "eqm_ws") const;

  private:
    friend struct detail::hub_access;
    std::shared_ptr<detail::hub_state> state_;
};

}  // namespace eqm::http
