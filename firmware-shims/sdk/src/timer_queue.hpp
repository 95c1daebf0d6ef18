#pragma once
/// One background thread that runs delayed work for every device session in the process
/// (reconnect backoff, resend ticks), so a fleet of a thousand devices needs one timer thread,
/// not a thousand. Tasks must not block; they hold weak references to their owners.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace eqm::device::detail {

class timer_queue {
  public:
    using clock = std::chrono::steady_clock;

    /// The process-wide queue (started on first use, joined at exit).
    static timer_queue& instance() {
        static timer_queue q;
        return q;
    }

    /// Runs `task` on the timer thread after `delay`.
    void after(std::chrono::milliseconds delay, std::function<void()> task) {
        {
            std::lock_guard lock(mutex_);
            tasks_.push(entry{clock::now() + delay, next_order_++, std::move(task)});
        }
        cv_.notify_one();
    }

    ~timer_queue() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_one();
        if (thread_.joinable()) thread_.join();
    }

  private:
    struct entry {
        clock::time_point at;
        std::uint64_t order;  // FIFO among tasks due at the same instant
        std::function<void()> task;
        bool operator>(const entry& o) const { return at != o.at ? at > o.at : order > o.order; }
    };

    timer_queue() : thread_([this] { run(); }) {}

    void run() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            if (tasks_.empty()) {
                cv_.wait(lock);
                continue;
            }
            const auto at = tasks_.top().at;
            if (clock::now() < at) {
                cv_.wait_until(lock, at);
                continue;
            }
            auto task = std::move(const_cast<entry&>(tasks_.top()).task);
            tasks_.pop();
            lock.unlock();
            try {
                task();
            } catch (...) {
                // A task's failure must not stop every other device's timers.
            }
            lock.lock();
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::priority_queue<entry, std::vector<entry>, std::greater<>> tasks_;
    std::uint64_t next_order_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace eqm::device::detail
