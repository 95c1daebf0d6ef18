#pragma once
/// A city for one test: a city Mosquitto, a central Mosquitto, the real eqm-gateway binary on
/// a temp SQLite file, a "dock" client on the city broker that collects acks, and a "server"
/// client on the central broker that collects gw/events batches and acks them like the real
/// server would (upto the highest contiguous seq, counting announced skips).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eqm/domain/payloads.hpp"
#include "eqm/mqtt/session.hpp"
#include "eqm/test/support.hpp"

namespace eqm::gwtest {

using namespace std::chrono_literals;
using json = nlohmann::json;

inline constexpr const char* city = "450100";
inline constexpr std::chrono::milliseconds wait_timeout{10'000};

std::string now_ts(std::chrono::milliseconds offset = {});

struct http_reply {
    int status = 0;
    std::string content_type;
    std::string head;  ///< the status line and header fields as received
    std::string body;
    json as_json() const { return json::parse(body, nullptr, false); }
};

/// Header fields to send.
using header_fields = std::vector<std::pair<std::string, std::string>>;

/// One HTTP/1.1 request on a fresh connection (Connection: close). A body is sent as
/// application/json unless `headers` names another Content-Type; Host is 127.0.0.1 unless
/// `headers` names one.
http_reply http_call(std::uint16_t port, const std::string& method, const std::string& path,
                     const std::string& body = "", const header_fields& headers = {});

/// An argon2id hash of `password` as the server sends it in person records
/// (crypto_pwhash_str), at libsodium's minimum cost so that tests stay quick.
std::string password_hash(const std::string& password);

/// The custodian every city_fixture logs in as for its /api/v1 calls (password
/// "kiosk-password"). Tests whose full sync lists the city's people include it.
json kiosk_custodian();

/// A test's MQTT client that records what it receives.
class mqtt_probe {
  public:
    /// Creates the client; start() connects it (so a derived probe is complete first).
    mqtt_probe(const std::string& uri, const std::string& client_id,
               std::vector<mqtt::subscription> subs);
    virtual ~mqtt_probe();
    mqtt_probe(const mqtt_probe&) = delete;
    mqtt_probe& operator=(const mqtt_probe&) = delete;
    /// Connects and waits until subscribed; throws when it cannot.
    void start();
    void publish(const std::string& topic, const std::string& payload, int qos = 1);
    /// Every (topic, payload) received so far.
    std::vector<std::pair<std::string, std::string>> received() const;
    bool wait_connected() const;

  protected:
    virtual void on_receive(const std::string&, const std::string&) {}
    std::unique_ptr<mqtt::session> session_;
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> messages_;
};

/// Plays the central server: records every gw/events event and acks contiguous seqs.
class server_probe : public mqtt_probe {
  public:
    explicit server_probe(const std::string& uri);
    ~server_probe();
    /// Every event in arrival order (duplicates included).
    std::vector<gw_event> events() const;
    /// Distinct events by seq.
    std::map<std::uint64_t, gw_event> by_seq() const;
    std::uint64_t contiguous_upto() const;
    /// The `skipped` ranges announced so far.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> skipped() const {
        std::lock_guard lock(mutex_);
        return skipped_;
    }
    /// Batches that did not parse as gw_events (a contract violation by the gateway).
    int bad_batches() const {
        std::lock_guard lock(mutex_);
        return bad_batches_;
    }
    bool acking = true;
    /// Waits for a command_result of `cmd_id`; returns its result text.
    std::optional<std::string> wait_command(const std::string& cmd_id,
                                            std::chrono::milliseconds timeout = wait_timeout);

  private:
    void on_receive(const std::string& topic, const std::string& payload) override;
    std::vector<gw_event> events_;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> skipped_;
    std::uint64_t acked_ = 0;
    int bad_batches_ = 0;
    std::thread acker_;
    std::atomic<bool> stop_{false};
};

/// Floods a broker with QoS 0 telemetry of `devices` devices (flood-0 ... flood-N) from its own
/// connection and thread, as fast as the broker takes it, until stopped or destroyed.
class telemetry_flood {
  public:
    telemetry_flood(const std::string& uri, int devices);
    ~telemetry_flood();
    telemetry_flood(const telemetry_flood&) = delete;
    telemetry_flood& operator=(const telemetry_flood&) = delete;
    void stop();
    std::uint64_t sent() const { return sent_; }

  private:
    std::unique_ptr<mqtt::session> session_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> sent_{0};
    std::thread thread_;
};

/// Options for starting the gateway.
struct gateway_options {
    std::vector<std::string> extra_args;
    /// Where city.db goes; empty: the fixture's own temporary folder.
    std::filesystem::path db_dir{};
};

class city_fixture {
  public:
    explicit city_fixture(gateway_options options = {});
    ~city_fixture();

    void start_gateway();
    /// SIGKILL, as a power cut would.
    void kill_gateway();
    void stop_gateway();
    /// Waits until /healthz says both brokers are connected.
    bool wait_ready(std::chrono::milliseconds timeout = wait_timeout);

    /// registry_upsert of devices and people; waits for the command_result.
    void register_fleet(const json& devices, const json& people);
    /// Sends a server command (cmd_id and ts filled in when missing); returns its result once
    /// reported.
    std::string command(const json& cmd);
    /// The detail of the (first) command_result of `cmd_id` seen so far.
    std::optional<std::string> command_detail(const std::string& cmd_id) const;
    /// Publishes telemetry with the given battery (and extra fields) and waits until the
    /// gateway shows it.
    void telemetry(const std::string& device_id, double battery,
                   const json& extra = json::object());
    /// Publishes a dock event and returns the ack's result for it.
    std::string dock_event(const std::string& event_id, const std::string& type,
                           const std::string& device_id, std::optional<std::string> badge,
                           const std::string& dock_id = "dock-1");
    /// Publishes a raw payload on a dock topic without waiting.
    void publish_dock(const std::string& dock_id, const std::string& payload);
    /// The result of `event_id` in the acks seen so far.
    std::optional<std::string> ack_result(const std::string& dock_id,
                                          const std::string& event_id) const;
    std::optional<std::string> wait_ack(const std::string& dock_id, const std::string& event_id,
                                        std::chrono::milliseconds timeout = wait_timeout);
    /// How many acks mention `event_id`.
    int ack_count(const std::string& dock_id, const std::string& event_id) const;

    /// POST /api/v1/auth/login; the whole reply.
    http_reply login(const std::string& name, const std::string& password);
    /// A bearer token of kiosk_custodian(), registered and logged in on first use.
    const std::string& token();
    /// /api/v1 calls as kiosk_custodian().
    http_reply get(const std::string& path);
    http_reply post(const std::string& path, const std::string& body = "{}");

    /// A metric's value from /metrics (sum over label sets matching `labels`).
    double metric(const std::string& name, const std::string& labels = "");

    /// Number of rows of a query on the gateway's database (read through a second connection).
    std::int64_t db_count(const std::string& sql);

    std::uint16_t http_port() const { return http_port_; }
    const std::filesystem::path& db_path() const { return db_; }
    const std::filesystem::path& log_path() const { return log_; }
    std::string log() const { return test::read_file(log_); }
    test::mosquitto_broker& local() { return *local_; }
    test::mosquitto_broker& central() { return *central_; }
    mqtt_probe& dock() { return *dock_; }
    server_probe& server() { return *server_; }

  private:
    gateway_options options_;
    test::temp_dir dir_{"eqm-gw-test"};
    std::unique_ptr<test::mosquitto_broker> local_, central_;
    std::uint16_t http_port_ = 0;
    std::filesystem::path db_, log_;
    std::unique_ptr<test::child_process> gateway_;
    std::unique_ptr<mqtt_probe> dock_;
    std::unique_ptr<server_probe> server_;
    int cmd_counter_ = 0;
    int starts_ = 0;
    std::string token_;
};

/// The standard fleet used by several tests.
json device(const std::string& id, const std::string& cls = "body_camera",
            const json& extra = json::object());
json person(const std::string& id, const std::string& badge, const std::string& home = city,
            const std::string& role = "officer");

}  // namespace eqm::gwtest
