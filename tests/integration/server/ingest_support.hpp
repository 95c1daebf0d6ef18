#pragma once
/// What the ingest tests share beyond server_fixture.hpp: metrics and lists read from a running
/// server, the dead-letter and outbox tables read straight from its SQLite file, and
/// `outbox_gateway`, an in-test gateway that keeps its events until srv/ack and resends them the
/// way eqm-gateway's outbox pump does (gateway/src/outbox_pump.cpp).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server_fixture.hpp"

namespace eqm::server_test {

/// The value of an unlabelled metric of GET /metrics; nullopt when it is not there.
std::optional<double> metric(api_client& c, const std::string& name);

/// The `items` of a page (every list answer is one); fails the test on anything else.
json items(const json& body);

/// The city entry of GET /api/v1/cities.
json city_entry(api_client& c, const std::string& city);

/// One row of the server's dead-letter table.
struct dead_letter_row {
    std::string kind;
    std::string topic;
    std::string reason;
    std::optional<std::string> gw_id;
    std::optional<std::int64_t> from_seq;
    std::optional<std::int64_t> to_seq;
    std::int64_t occurrences = 0;
    std::string payload;
};
/// Every dead letter, oldest first, read from the server's database file (WAL: while it runs).
std::vector<dead_letter_row> dead_letters(const fs::path& db);

/// One row of the server's command outbox.
struct outbox_row {
    std::string cmd_id;
    std::string city;
    std::string type;
    std::string state;
    std::optional<std::string> result;
};
std::vector<outbox_row> outbox_rows(const fs::path& db);

/// Runs one SQL script on the server's database file (a test that needs a fault inside the
/// store, or a row another feature would write).
void execute_sql(const fs::path& db, const std::string& sql);

/// A gateway's outbox as eqm-gateway keeps it: `count` events numbered 1..count, published in
/// one-event batches, kept until srv/ack covers them. A resend_from rewinds to that seq; no ack
/// progress for `retransmit` rewinds to the first unacked event (eqm-gateway waits 10 s; tests
/// pass less). At most `window` events are in flight unacked. Runs on its own thread once
/// started; its session is clean, like the fake gateway's.
class outbox_gateway {
  public:
    using body_fn = std::function<gw_event_body(std::uint64_t seq)>;
    outbox_gateway(std::string broker_uri, std::string city, std::string gw_id, std::uint64_t count,
                   body_fn body, std::chrono::milliseconds retransmit = std::chrono::seconds{2},
                   std::uint64_t window = 20'000);
    ~outbox_gateway();
    /// Starts connecting; its birth (version "0.1.0") follows the connection.
    void start();
    /// Waits until connected (birth sent); false after `quick`.
    bool wait_connected();
    /// Starts sending its events (on its own thread).
    void produce();
    /// True once every event is acked.
    bool done() const { return acked_ >= count_; }
    std::uint64_t acked() const { return acked_; }
    std::uint64_t published() const { return published_; }
    const std::string& city() const noexcept { return city_; }

  private:
    void on_message(const std::string& topic, const std::string& payload);
    void work();

    std::string broker_uri_, city_, gw_id_;
    std::uint64_t count_;
    body_fn body_;
    std::chrono::milliseconds retransmit_;
    std::uint64_t window_;
    std::unique_ptr<mqtt::session> session_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::atomic<std::uint64_t> acked_{0};
    std::atomic<std::uint64_t> published_{0};
    std::uint64_t next_ = 1;
    std::optional<std::uint64_t> resend_from_;
    std::chrono::steady_clock::time_point last_progress_;
    std::atomic<bool> stopping_{false};
    std::thread worker_;
};

}  // namespace eqm::server_test
