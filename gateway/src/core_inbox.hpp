#pragma once
/// Where work waits for the core thread. Paho's callbacks and the HTTP handlers put work here
/// and never wait: Paho calls on_message while holding its own lock, and the core publishes
/// acks (which needs that lock), so a producer that waited for room could wait forever.
///
/// Three lanes, each bounded, so one kind of traffic cannot crowd out another:
/// - tasks: HTTP requests (and the bd_seq copy); a full lane answers 503 with Retry-After;
/// - events: dock and device events, device states, server commands and acks: QoS 1 messages
///   that their senders keep until an application-level ack and send again;
/// - telemetry: QoS 0 readings, the bulk of the traffic, with the smaller share (half the
///   items, a quarter of the bytes), so a telemetry flood never refuses a dock event.
/// A message that does not fit is refused and counted by kind: that is the back-pressure (the
/// dock redelivers its event; a lost reading is replaced by the next one). Device states
/// (births and Last Wills) and server commands are not sent again soon: they may exceed a full
/// events lane by a quarter of it, in order, before one is refused.
///
/// The state of the two broker links is not queued at all: an up or down can never be
/// refused, and the core reads the latest state (and whether it changed) every round.
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gateway_config.hpp"

namespace eqm::gateway {

class gateway_core;
struct unit_of_work;

/// Which broker a message or a connection change came from.
enum class broker { local, central };
std::string_view to_string(broker b) noexcept;

/// A task for the core thread (HTTP handlers, bd_seq persistence).
using core_task = std::function<void(gateway_core&, unit_of_work&)>;

/// A message from a broker, as it waits for the core.
struct inbound {
    broker from = broker::local;
    std::string topic;
    std::string payload;
};

/// What a queued item is, for the refusal counters.
enum class work_kind {
    telemetry,
    dock_event,
    device_event,
    device_state,
    srv_cmd,
    srv_ack,
    other,
    http
};
inline constexpr std::size_t work_kind_count = 8;
std::string_view to_string(work_kind k) noexcept;
/// The kind of a message by its topic (cheap: no parsing beyond the topic's shape).
work_kind kind_of(broker from, std::string_view topic) noexcept;

/// A broker link as the core last saw it: `generation` grows with every change, so the core
/// sees a down-and-up it was too busy to watch as a change too (it must resend after it).
struct link_state {
    bool up = false;
    std::uint64_t generation = 0;
};

/// One round of work for the core.
struct inbox_round {
    std::vector<core_task> tasks;
    std::vector<inbound> events;
    std::vector<inbound> telemetry;
    bool empty() const noexcept { return tasks.empty() && events.empty() && telemetry.empty(); }
    void clear() {
        tasks.clear();
        events.clear();
        telemetry.clear();
    }
};

class core_inbox {
  public:
    explicit core_inbox(const queue_config& limits);

    /// Queues a broker message in its lane; false when it does not fit (counted).
    bool push_message(broker from, std::string topic, std::string payload);
    /// Queues a task; false when the task lane is full (counted as http) or closed.
    bool push_task(core_task task);
    /// Records a link going up or down. Never refused.
    void set_link(broker which, bool up);
    link_state link(broker which) const;

    /// Waits up to `timeout` until there is work, a link change or close().
    void wait(std::chrono::milliseconds timeout);
    /// Moves up to `max_items` items into `round`: every waiting task, then events, then
    /// telemetry; telemetry keeps at least a quarter of the round when it has that many.
    void take(inbox_round& round, std::size_t max_items);

    /// Refuses further work and wakes the core.
    void close();
    bool closed() const;

    /// Items refused since start, by kind.
    std::array<std::uint64_t, work_kind_count> refused() const;
    /// Items waiting now: tasks, events, telemetry.
    std::array<std::size_t, 3> depths() const;

  private:
    struct lane {
        std::size_t max_items = 0;
        std::size_t max_bytes = 0;
        std::size_t bytes = 0;
        std::deque<inbound> items;
        bool fits(std::size_t weight) const noexcept;
    };
    lane& lane_for(work_kind k) noexcept {
        return k == work_kind::telemetry ? telemetry_ : events_;
    }
    static void move_from(lane& l, std::vector<inbound>& out, std::size_t n);

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    lane events_;
    lane telemetry_;
    std::size_t max_tasks_ = 0;
    std::deque<core_task> tasks_;
    std::array<link_state, 2> links_{};
    std::uint64_t link_changes_ = 0;  ///< wakes the core once per change
    std::uint64_t link_changes_seen_ = 0;
    std::array<std::uint64_t, work_kind_count> refused_{};
    bool closed_ = false;
};

}  // namespace eqm::gateway
