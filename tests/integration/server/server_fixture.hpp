#pragma once
/// What the eqm-server integration tests share: a region (a real Mosquitto, the real
/// eqm-server binary on a real SQLite file), a REST client that logs in, a WebSocket listener,
/// and `fake_gateway`, an in-test MQTT client that plays a city gateway with contract payloads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/mqtt/session.hpp"
#include "eqm/test/support.hpp"
#include "rest_client.hpp"

namespace eqm::server_test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

/// Time allowed for anything that should be quick (a message round trip through the broker).
inline constexpr std::chrono::milliseconds quick = 5s;

std::string now_ts();
clock_ms now_ms();

/// The eqm-server binary under test: $EQM_TEST_SERVER_BIN when set (to run these tests against
/// another build, e.g. the one before a fix), else the one of this build.
std::string server_bin();

/// `eqm-server user add ...` with the password on stdin; returns the exit status.
int add_user(const fs::path& db, const std::string& name, const std::string& role,
             const std::string& city, const std::string& badge, const std::string& password);

/// The eqm-server binary running on `db` against `broker_uri`, on a free port.
class server_process {
  public:
    server_process(std::string broker_uri, fs::path db, fs::path log,
                   std::vector<std::string> extra_args = {});
    ~server_process();
    void start();
    void stop();
    /// Kills the server (SIGKILL), as a power cut would: nothing of stop() runs.
    void kill();
    std::uint16_t port() const noexcept { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    const fs::path& log() const noexcept { return log_; }

  private:
    std::string broker_uri_;
    fs::path db_;
    fs::path log_;
    std::vector<std::string> extra_args_;
    std::unique_ptr<test::child_process> process_;
    std::uint16_t port_ = 0;
    int starts_ = 0;
};

/// A reply with its body parsed (null when it was not JSON).
struct api_reply {
    unsigned status = 0;
    std::string content_type;
    json body;
    std::string text;
};

/// A logged-in REST client on one keep-alive connection. Every exchange (method, target,
/// status, content type, body) is appended to the exchange record that the ctest
/// `server.openapi_answers` checks against the served OpenAPI document.
class api_client {
  public:
    api_client(std::uint16_t port, std::string token = "");
    api_reply call(std::string_view method, const std::string& target, const std::string& body = "",
                   const std::string& content_type = "");
    api_reply get(const std::string& target) { return call("GET", target); }
    api_reply post(const std::string& target, const json& body) {
        return call("POST", target, body.dump());
    }
    const std::string& token() const noexcept { return token_; }

  private:
    client::rest_connection conn_;
    std::string token_;
};

/// Every item of a paged list (`{items, next_cursor}`), following next_cursor from `target`
/// (which may carry `limit=`); fails the test when a page is not 200.
json all_items(api_client& c, const std::string& target);

/// Logs in; fails the test when it does not work.
std::string login(std::uint16_t port, const std::string& name, const std::string& password);

/// A WebSocket client of /api/v1/events collecting every message on a thread.
class ws_listener {
  public:
    ws_listener(std::uint16_t port, const std::string& target);
    ~ws_listener();
    /// True once a message matching `pred` has arrived (within `timeout`).
    bool wait_for(const std::function<bool(const json&)>& pred, std::chrono::milliseconds timeout);
    std::vector<json> messages() const;
    /// True once the server has closed the connection (within `timeout`).
    bool wait_closed(std::chrono::milliseconds timeout);
    /// The close frame's code and reason, once closed by the server.
    std::optional<std::pair<std::uint16_t, std::string>> close_frame() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Plays a city gateway on the central broker: birth on connect, batches of events with its own
/// seq and custody hash chain, and a record of every srv/ack and srv/cmd it receives. An optional
/// responder answers commands (on a worker thread, like a real gateway).
class fake_gateway {
  public:
    /// What to do with a received command: events to publish (e.g. a custody record and the
    /// command_result), or nothing.
    using responder = std::function<std::vector<gw_event_body>(fake_gateway&, const srv_cmd&)>;

    fake_gateway(std::string broker_uri, std::string city, std::string gw_id,
                 std::uint64_t bd_seq = 1);
    ~fake_gateway();

    /// Connects and publishes the (retained) birth.
    void connect();
    /// Disconnects cleanly (no will).
    void disconnect();
    /// Publishes the Last Will the broker would send for `bd_seq` (retained, as the broker does).
    void publish_will(std::uint64_t bd_seq);

    void set_responder(responder r);
    /// The `version` its birth announces (default "test-1"); set before connect().
    void set_version(std::string version) { version_ = std::move(version); }

    /// A custody record sealed onto this gateway's chain.
    custody_record next_custody(const std::string& device_id, custody_action action,
                                custody_state from, custody_state to,
                                std::optional<std::string> holder,
                                std::optional<std::string> request_id = std::nullopt,
                                std::optional<std::string> transfer_id = std::nullopt);
    /// A record the test wrote (its own ts, due, ...) sealed onto this gateway's chain.
    custody_record seal_custody(custody_record draft);
    /// An event with the next seq (not published).
    gw_event make_event(gw_event_body body);
    /// Publishes a batch of events (as given: seqs may be replayed or skipped by the caller).
    void publish(const std::vector<gw_event>& events,
                 const std::vector<std::pair<std::uint64_t, std::uint64_t>>& skipped = {});
    /// Publishes raw text on this city's gw/events.
    void publish_raw(const std::string& text);
    /// make_event + publish for each body, in one batch; returns the events.
    std::vector<gw_event> send(std::vector<gw_event_body> bodies);

    /// Waits for a srv/ack matching `pred`.
    std::optional<srv_ack> wait_ack(const std::function<bool(const srv_ack&)>& pred,
                                    std::chrono::milliseconds timeout = quick);
    /// Waits for a srv/cmd matching `pred`.
    std::optional<srv_cmd> wait_cmd(const std::function<bool(const srv_cmd&)>& pred,
                                    std::chrono::milliseconds timeout = quick);
    std::vector<srv_cmd> commands() const;
    std::vector<srv_ack> acks() const;
    void clear_received();

    std::uint64_t next_seq() const noexcept { return next_seq_; }
    void set_next_seq(std::uint64_t s) noexcept { next_seq_ = s; }
    const std::string& city() const noexcept { return city_; }
    const std::string& gw_id() const noexcept { return gw_id_; }
    std::uint64_t bd_seq() const noexcept { return bd_seq_; }

  private:
    void on_message(const std::string& topic, const std::string& payload);
    void work();

    std::string broker_uri_, city_, gw_id_;
    std::uint64_t bd_seq_;
    std::string version_ = "test-1";
    std::unique_ptr<mqtt::session> session_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<srv_ack> acks_;
    std::vector<srv_cmd> cmds_;
    std::deque<srv_cmd> to_answer_;
    responder responder_;
    std::mutex publish_mutex_;  // seq and chain are advanced by the test and the worker
    std::uint64_t next_seq_ = 1;
    std::uint64_t next_index_ = 0;
    std::string head_hash_{genesis_prev_hash};
    std::atomic<bool> stopping_{false};
    std::thread worker_;
};

/// A broker, a region database with users, and the server. Users (password = name + "-pw"):
/// admin; disp (dispatcher); cust-nn (custodian 450100, badge B-CUST-NN); cust-lz (custodian
/// 450200); off-nn (officer 450100, badge B-OFF-NN).
struct region_fixture {
    /// `server_args` are added to the server's command line; `broker` configures the broker.
    explicit region_fixture(std::vector<std::string> server_args = {},
                            test::broker_options broker_options = {});
    ~region_fixture();

    fs::path db() const { return dir.path() / "region.db"; }
    std::uint16_t port() const { return server->port(); }
    api_client as(const std::string& name);
    /// Registers a device through the API as admin; fails the test when refused.
    void register_device(const std::string& id, const std::string& cls, const std::string& city);

    test::temp_dir dir{"eqm-server-it"};
    test::mosquitto_broker broker;
    std::unique_ptr<server_process> server;
    std::map<std::string, std::string> tokens;
};

/// A responder that accepts every custody_request (custody record + command_result ok) and
/// every other command (command_result ok), like a gateway whose devices are all ready.
std::vector<gw_event_body> accept_everything(fake_gateway& gw, const srv_cmd& cmd);

/// The device resource, or null json when not found.
json device(api_client& c, const std::string& id);

}  // namespace eqm::server_test
