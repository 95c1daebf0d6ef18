#pragma once
/// A thread-safe bounded queue that moves work off Paho's callback thread: the session's
/// on_message pushes, the gateway drains on its own thread.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
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

/// What a full queue does with a new item.
enum class overflow_policy {
    drop_oldest,  ///< make room by discarding the oldest item (counted in dropped())
    block,        ///< the producer waits for room (back-pressure onto the broker)
};

/// Bounded multi-producer multi-consumer FIFO.
template <class T>
class bounded_queue {
  public:
    /// `capacity` of at least 1 (0 is treated as 1).
    explicit bounded_queue(std::size_t capacity,
                           overflow_policy policy = overflow_policy::drop_oldest)
        : capacity_(capacity == 0 ? 1 : capacity), policy_(policy) {}

    bounded_queue(const bounded_queue&) = delete;
    bounded_queue& operator=(const bounded_queue&) = delete;

    /// Adds an item. drop_oldest: always accepted. block: waits for room. Returns false
    /// (and drops the item) only once the queue is closed.
    bool push(T item) {
        std::unique_lock lock(mutex_);
        if (policy_ == overflow_policy::block) {
            not_full_.wait(lock, [this] { return closed_ || items_.size() < capacity_; });
        }
        if (closed_) return false;
        if (items_.size() >= capacity_) {
            items_.pop_front();
            ++dropped_;
        }
        items_.push_back(std::move(item));
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
        std::unique_lock lock(mutex_);
        std::size_t n = 0;
        while (n < max_items && !items_.empty()) {
            out.push_back(std::move(items_.front()));
            items_.pop_front();
            ++n;
        }
        lock.unlock();
        if (n > 0) not_full_.notify_all();
        return n;
    }

    /// Refuses further pushes and wakes every waiter; queued items can still be popped.
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        not_empty_.notify_all();
        not_full_.notify_all();
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return items_.size();
    }
    std::size_t capacity() const noexcept { return capacity_; }
    /// Items discarded by drop_oldest since construction.
    std::uint64_t dropped() const {
        std::lock_guard lock(mutex_);
        return dropped_;
    }
    bool closed() const {
        std::lock_guard lock(mutex_);
        return closed_;
    }

  private:
    std::optional<T> take(std::unique_lock<std::mutex>& lock) {
        if (items_.empty()) return std::nullopt;
        T item = std::move(items_.front());
        items_.pop_front();
        lock.unlock();
        not_full_.notify_one();
        return item;
    }

    const std::size_t capacity_;
    const overflow_policy policy_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<T> items_;
    std::uint64_t dropped_ = 0;
    bool closed_ = false;
};

/// The queue the gateway drains: incoming MQTT messages.
using message_queue = bounded_queue<inbound_message>;

}  // namespace eqm::mqtt
