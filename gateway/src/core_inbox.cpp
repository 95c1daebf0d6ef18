#include "core_inbox.hpp"

#include <algorithm>

namespace eqm::gateway {
namespace {

/// The task lane holds this share of the queue's items, at least min_tasks.
constexpr std::size_t task_share_divisor = 64;
constexpr std::size_t min_tasks = 16;
/// Telemetry keeps at least this share of a round when it has that much waiting.
constexpr std::size_t telemetry_round_divisor = 4;
/// Device states (births and Last Wills) and server commands may exceed a full events lane by
/// this share of it: a device does not send its birth again, and the server sends a pending
/// command again only when the link comes back, so refusing one would lose state.
constexpr std::size_t state_reserve_divisor = 4;

bool ends_with(std::string_view s, std::string_view tail) noexcept {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

std::string_view to_string(broker b) noexcept {
    return b == broker::central ? "central" : "local";
}

std::string_view to_string(work_kind k) noexcept {
    switch (k) {
        case work_kind::telemetry:
            return "telemetry";
        case work_kind::dock_event:
            return "dock_event";
        case work_kind::device_event:
            return "device_event";
        case work_kind::device_state:
            return "device_state";
        case work_kind::srv_cmd:
            return "srv_cmd";
        case work_kind::srv_ack:
            return "srv_ack";
        case work_kind::other:
            return "other";
        case work_kind::http:
            return "http";
    }
    return "other";
}

work_kind kind_of(broker from, std::string_view topic) noexcept {
    if (from == broker::central) {
        if (ends_with(topic, "/srv/cmd")) return work_kind::srv_cmd;
        if (ends_with(topic, "/srv/ack")) return work_kind::srv_ack;
        return work_kind::other;
    }
    if (topic.starts_with("eqm/v1/dock/")) return work_kind::dock_event;
    if (!topic.starts_with("eqm/v1/dev/")) return work_kind::other;
    if (ends_with(topic, "/telemetry")) return work_kind::telemetry;
    if (ends_with(topic, "/event")) return work_kind::device_event;
    if (ends_with(topic, "/state")) return work_kind::device_state;
    return work_kind::other;
}

bool core_inbox::lane::fits(std::size_t weight) const noexcept {
    // One message larger than the whole byte bound still gets into an empty lane, so it can
    // never be refused forever.
    if (items.empty()) return true;
    return items.size() < max_items && bytes + weight <= max_bytes;
}

core_inbox::core_inbox(const queue_config& limits) {
    telemetry_.max_items = std::max<std::size_t>(1, limits.max_items / 2);
    telemetry_.max_bytes = limits.max_bytes / 4;
    events_.max_items = std::max<std::size_t>(1, limits.max_items - telemetry_.max_items);
    events_.max_bytes = limits.max_bytes - telemetry_.max_bytes;
    max_tasks_ = std::max(min_tasks, limits.max_items / task_share_divisor);
}

bool core_inbox::push_message(broker from, std::string topic, std::string payload) {
    const work_kind kind = kind_of(from, topic);
    const std::size_t weight = topic.size() + payload.size();
    std::unique_lock lock(mutex_);
    lane& l = lane_for(kind);
    const bool state_room = (kind == work_kind::device_state || kind == work_kind::srv_cmd) &&
                            l.items.size() < l.max_items + l.max_items / state_reserve_divisor;
    if (closed_ || (!l.fits(weight) && !state_room)) {
        ++refused_[static_cast<std::size_t>(kind)];
        return false;
    }
    l.items.push_back(inbound{from, std::move(topic), std::move(payload)});
    l.bytes += weight;
    lock.unlock();
    wake_.notify_one();
    return true;
}

bool core_inbox::push_task(core_task task) {
    std::unique_lock lock(mutex_);
    if (closed_ || tasks_.size() >= max_tasks_) {
        ++refused_[static_cast<std::size_t>(work_kind::http)];
        return false;
    }
    tasks_.push_back(std::move(task));
    lock.unlock();
    wake_.notify_one();
    return true;
}

void core_inbox::set_link(broker which, bool up) {
    {
        std::lock_guard lock(mutex_);
        auto& l = links_[static_cast<std::size_t>(which)];
        l.up = up;
        ++l.generation;
        ++link_changes_;
    }
    wake_.notify_one();
}

link_state core_inbox::link(broker which) const {
    std::lock_guard lock(mutex_);
    return links_[static_cast<std::size_t>(which)];
}

void core_inbox::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, timeout, [this] {
        return closed_ || !tasks_.empty() || !events_.items.empty() || !telemetry_.items.empty() ||
               link_changes_ != link_changes_seen_;
    });
    link_changes_seen_ = link_changes_;
}

void core_inbox::move_from(lane& l, std::vector<inbound>& out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        l.bytes -= l.items.front().topic.size() + l.items.front().payload.size();
        out.push_back(std::move(l.items.front()));
        l.items.pop_front();
    }
}

void core_inbox::take(inbox_round& round, std::size_t max_items) {
    std::lock_guard lock(mutex_);
    while (!tasks_.empty()) {
        round.tasks.push_back(std::move(tasks_.front()));
        tasks_.pop_front();
    }
    const std::size_t telemetry_reserve =
        std::min(telemetry_.items.size(), max_items / telemetry_round_divisor);
    const std::size_t events = std::min(events_.items.size(), max_items - telemetry_reserve);
    move_from(events_, round.events, events);
    move_from(telemetry_, round.telemetry, std::min(telemetry_.items.size(), max_items - events));
}

void core_inbox::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    wake_.notify_all();
}

bool core_inbox::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

std::array<std::uint64_t, work_kind_count> core_inbox::refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
}

std::array<std::size_t, 3> core_inbox::depths() const {
    std::lock_guard lock(mutex_);
    return {tasks_.size(), events_.items.size(), telemetry_.items.size()};
}

}  // namespace eqm::gateway
