#pragma once
/// A thread-safe bounded queue that moves work off Paho's callback thread: the session's
/// on_message pushes, the gateway or the server drains on its own thread.
///
/// push() NEVER waits. Paho calls on_message while holding its own lock, and the thread that
/// drains the queue publishes (which needs that lock): a producer that waited for room would
/// wait forever. The queue is bounded by items and by bytes, and a full queue either drops its
/// oldest item or refuses the new one. Refusing is safe for every message eqm sends at QoS 1,
/// because each sender keeps its message until an application-level ack (a dock event until
/// its ack, a gateway batch until srv/ack, a server command until its command_result) and sends
/// it again: the refusal is back-pressure by redelivery, counted in rejected().
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace eqm::mqtt {

/// An incoming message as the queue stores it.
struct inbound_message {
    std::string topic;
    std::string payload;
};

/// The bytes an inbound message holds (what the queue's byte bound counts).
inline std::size_t weigh(const inbound_message& m) noexcept {
    return m.topic.size() + m.payload.size();
}

/// What a full queue does with a new item.
enum class overflow_policy {
    drop_oldest,  ///< make room by discarding the oldest items (counted in dropped())
    reject,       ///< refuse the new item: push() returns false (counted in rejected())
};

/// The bounds of a queue. An item larger than max_bytes on its own is still taken into an
/// empty queue, so one big message can never be refused forever.
struct queue_limits {
    std::size_t max_items = 10'000;
    std::size_t max_bytes = std::size_t{64} << 20;
};

/// Bounded multi-producer multi-consumer FIFO.
template <class T>
class bounded_queue {
  public:
    /// `weigh_item` gives an item's size in bytes (default: every item weighs nothing, so only
    /// max_items bounds the queue). A max_items of 0 is treated as 1.
    explicit bounded_queue(queue_limits limits, overflow_policy policy = overflow_policy::reject,
                           std::function<std::size_t(const T&)> weigh_item = {})
        : limits_{limits.max_items == 0 ? 1 : limits.max_items, limits.max_bytes},
          policy_(policy),
          weigh_(std::move(weigh_item)) {}

    bounded_queue(const bounded_queue&) = delete;
    bounded_queue& operator=(const bounded_queue&) = delete;

    /// Adds an item without waiting. drop_oldest: always accepted while open. reject: false
    /// when the item does not fit (the item is discarded). False once the queue is closed.
    bool push(T item) {
        const std::size_t bytes = weigh_ ? weigh_(item) : 0;
        std::unique_lock lock(mutex_);
        if (closed_) return false;
        if (!fits(bytes)) {
            if (policy_ == overflow_policy::reject) {
                ++rejected_;
                return false;
            }
            while (!items_.empty() && !fits(bytes)) {
                bytes_ -= items_.front().second;
                items_.pop_front();
                ++dropped_;
            }
        }
        items_.emplace_back(std::move(item), bytes);
        bytes_ += bytes;
        lock.unlock();
        not_empty_.notify_one();
        return true;
    }

    /// Takes the oldest item without waiting.
    std::optional<T> try_pop() {
        std::unique_lock lock(mutex_);
        return take(lock);
    }

    /// Waits up to `timeout` for an item; nullopt on timeout or when closed and empty.
    std::optional<T> pop(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        not_empty_.wait_for(lock, timeout, [this] { return closed_ || !items_.empty(); });
        return take(lock);
    }

    /// Moves up to `max_items` items into `out` without waiting; returns how many.
    std::size_t drain(std::vector<T>& out, std::size_t max_items = SIZE_MAX) {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        while (n < max_items && !items_.empty()) {
            bytes_ -= items_.front().second;
            out.push_back(std::move(items_.front().first));
            items_.pop_front();
            ++n;
        }
        return n;
    }

    /// Refuses further pushes and wakes the consumer; queued items can still be popped.
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        not_empty_.notify_all();
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return items_.size();
    }
    /// Bytes held by the queued items (by the weigh function).
    std::size_t bytes() const {
        std::lock_guard lock(mutex_);
        return bytes_;
    }
    const queue_limits& limits() const noexcept { return limits_; }
    /// Items discarded by drop_oldest since construction.
    std::uint64_t dropped() const {
        std::lock_guard lock(mutex_);
        return dropped_;
    }
    /// Items refused by reject since construction.
    std::uint64_t rejected() const {
        std::lock_guard lock(mutex_);
        return rejected_;
    }
    bool closed() const {
        std::lock_guard lock(mutex_);
        return closed_;
    }

  private:
    bool fits(std::size_t bytes) const noexcept {
        if (items_.empty()) return true;
        return items_.size() < limits_.max_items && bytes_ + bytes <= limits_.max_bytes;
    }

    std::optional<T> take(std::unique_lock<std::mutex>&) {
        if (items_.empty()) return std::nullopt;
        T item = std::move(items_.front().first);
        bytes_ -= items_.front().second;
        items_.pop_front();
        return item;
    }

    const queue_limits limits_;
    const overflow_policy policy_;
    const std::function<std::size_t(const T&)> weigh_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_;
    std::deque<std::pair<T, std::size_t>> items_;
    std::size_t bytes_ = 0;
    std::uint64_t dropped_ = 0;
    std::uint64_t rejected_ = 0;
    bool closed_ = false;
};

/// Incoming MQTT messages, weighed by topic and payload bytes.
class message_queue : public bounded_queue<inbound_message> {
  public:
    explicit message_queue(queue_limits limits, overflow_policy policy = overflow_policy::reject)
        : bounded_queue<inbound_message>(limits, policy,
                                         [](const inbound_message& m) { return weigh(m); }) {}
};

}  // namespace eqm::mqtt
