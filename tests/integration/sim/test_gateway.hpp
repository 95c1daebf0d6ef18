#pragma once
// Plays the gateway's part for the device-side tests: subscribes to device and dock events and
// births, counts every receipt, and (when told to) acks each event on eqm/v1/ack/{client_id}
// per the contract, applying it at most once by event_id.
#include <mqtt/async_client.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace eqm::test {

class test_gateway {
  public:
    explicit test_gateway(const std::string& uri) : client_(uri, "test-gateway", nullptr) {
        client_.set_message_callback([this](mqtt::const_message_ptr m) {
            try {
                on_message(m->get_topic(), m->to_string());
            } catch (...) {
            }
        });
        client_.connect()->wait();
        client_.subscribe("eqm/v1/dev/+/event", 1)->wait();
        client_.subscribe("eqm/v1/dock/+/event", 1)->wait();
        client_.subscribe("eqm/v1/dev/+/state", 1)->wait();
    }
    ~test_gateway() {
        try {
            client_.disconnect()->wait();
        } catch (...) {
        }
    }

    std::atomic<bool> acking{false};

    /// How many times each event id arrived.
    std::map<std::string, int> receipts() {
        std::lock_guard lock(mutex_);
        return receipts_;
    }
    /// Event ids applied (acked), each once.
    std::set<std::string> applied() {
        std::lock_guard lock(mutex_);
        return applied_;
    }
    /// bd_seq of every birth seen, in order.
    std::vector<std::uint64_t> births() {
        std::lock_guard lock(mutex_);
        return births_;
    }
    /// Publishes raw text on a topic (for bad-input tests).
    void publish(const std::string& topic, const std::string& text) {
        client_.publish(topic, text, 1, false)->wait();
    }

  private:
    void on_message(const std::string& topic, const std::string& text) {
        const auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) return;
        // topic: eqm/v1/{dev|dock}/{id}/{event|state}
        const auto first = topic.find('/', 7) + 1;
        const auto id = topic.substr(first, topic.find('/', first) - first);
        std::lock_guard lock(mutex_);
        if (topic.ends_with("/state")) {
            if (j.value("online", false)) births_.push_back(j["bd_seq"].get<std::uint64_t>());
            return;
        }
        const auto event_id = j["event_id"].get<std::string>();
        ++receipts_[event_id];
        if (!acking) return;
        applied_.insert(event_id);  // idempotent: a replay changes nothing
        const nlohmann::json ack{{"ts", "2026-03-02T00:00:00.000Z"},
                                 {"event_ids", {event_id}},
                                 {"results", {{event_id, "ok"}}}};
        client_.publish("eqm/v1/ack/" + id, ack.dump(), 1, false);
    }

    mqtt::async_client client_;
    std::mutex mutex_;
    std::map<std::string, int> receipts_;
    std::set<std::string> applied_;
    std::vector<std::uint64_t> births_;
};

}  // namespace eqm::test
