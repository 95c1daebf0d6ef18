#pragma once
/// The core thread. Paho callbacks and HTTP handlers only push work into the inbox (three bounded
/// lanes, see core_inbox.hpp); this thread owns the SQLite connection and every piece of mutable
/// state, and drains the inbox in rounds. A round handles many telemetry messages in memory and
/// many custody decisions in ONE transaction (group commit): it commits once, and only then
/// publishes the acks and answers the HTTP requests of that round, so an ack never precedes its
/// commit.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alert_desk.hpp"
#include "city_ledger.hpp"
#include "command_handler.hpp"
#include "core_inbox.hpp"
#include "custody_desk.hpp"
#include "gateway_clock.hpp"
#include "gateway_config.hpp"
#include "gateway_metrics.hpp"
#include "outbox_pump.hpp"
#include "telemetry_cache.hpp"

namespace eqm::gateway {

class gateway_core;

/// The transaction of one round plus everything that waits for its commit.
struct unit_of_work {
    struct pending_ack {
        std::string client_id;
        std::string event_id;
        outcome result;
        bool durable = false;  ///< decided in this transaction (fails with it)
    };
    std::optional<store::transaction> tx;
    std::optional<error> failure;  ///< set once something in the round failed to write
    std::vector<pending_ack> acks;
    /// Called after the commit with the failure (if any): HTTP answers.
    std::vector<std::function<void(const std::optional<error>&)>> after;
    std::vector<std::pair<std::string, std::string>> local_messages;
    std::vector<std::string> alert_devices;
    std::size_t decisions = 0;
};

/// Publishes on a broker; false when it is not connected.
using publisher = std::function<bool(const std::string& topic, const std::string& payload)>;

class gateway_core {
  public:
    /// Opens the ledger and loads the state. Fails when the database cannot be opened.
    static result<std::unique_ptr<gateway_core>> open(gateway_config config,
                                                      gateway_clock clock = {});
    ~gateway_core();

    // --- called from any thread ---
    /// A message from a broker (Paho's thread). Never waits: a message that does not fit in
    /// its lane is refused (false; its sender redelivers it) and counted.
    bool on_message(broker from, std::string topic, std::string payload);
    /// A broker link went up or down. Never refused, never waits.
    void on_connection(broker which, bool up);
    /// Queues a task; false when the task lane is full (or the core is stopping).
    bool post(core_task task);
    /// bd_seq for the next central connect: bumped and made durable (written and fsynced to
    /// `<db>-bd_seq`) before it returns, i.e. before the CONNECT that carries it, so a power
    /// cut can never make a later start hand out the same value. Called on Paho's thread.
    std::uint64_t next_bd_seq();
    std::uint64_t current_bd_seq() const noexcept { return bd_seq_; }
    void stop();

    /// Set before run(): how to publish on each broker.
    void set_publishers(publisher local, publisher central);

    /// Runs the core loop on the calling thread until stop().
    void run();

    // --- core thread only (tasks) ---
    city_ledger& ledger() noexcept { return ledger_; }
    custody_desk& desk() noexcept { return desk_; }
    gateway_metrics& metrics() noexcept { return metrics_; }
    const gateway_config& config() const noexcept { return config_; }
    const telemetry_cache& telemetry() const noexcept { return telemetry_; }
    /// The wall clock the core decides with (callable from any thread: the clock is fixed at
    /// open and thread-safe).
    clock_ms now() const { return clock_.now(); }
    /// Begins the round's transaction if needed; false (with u.failure set) when it cannot.
    bool ensure_tx(unit_of_work& u);
    /// Marks the round failed and rolls back at once.
    void fail_round(unit_of_work& u, const error& e);
    /// Alert facts of one device (custody + registry + telemetry).
    result<alert_facts> facts_for(const std::string& device_id);

  private:
    gateway_core(gateway_config config, gateway_clock clock, city_ledger ledger);
    result<void> load();
    result<void> verify_chain();
    void reload_after_rollback();

    // gateway_core.cpp: the loop
    void process(inbox_round& round);
    /// Applies link changes since the last round (a reconnect restarts the outbox).
    void apply_links();
    void finish(unit_of_work& u);
    void evaluate_alerts(unit_of_work& u);
    void publish_acks(unit_of_work& u);
    void periodic();
    void flush_telemetry();
    void sweep_alerts();
    void prune();
    /// Runs `work` in a transaction of its own; false (logged as `what`) when it failed.
    bool run_maintenance(std::string_view what, const std::function<result<void>()>& work);

    // gateway_input.cpp: what arrives on the brokers
    void handle(const inbound& m, unit_of_work& u);
    void handle_local(const topic& t, const std::string& payload, unit_of_work& u);
    void handle_central(const topic& t, const std::string& payload, unit_of_work& u);
    /// The reason to refuse a telemetry `ts` that far from the gateway's clock, if any.
    std::optional<std::string_view> clock_check(clock_ms ts, clock_ms now) const;
    void on_telemetry(const topic& t, const std::string& payload);
    void on_dock_event(const topic& t, const std::string& payload, unit_of_work& u);
    void on_device_event(const topic& t, const std::string& payload, unit_of_work& u);
    void on_device_state(const topic& t, const std::string& payload, unit_of_work& u);
    void on_srv_cmd(const topic& t, const std::string& payload, unit_of_work& u);
    void answer_unreadable_cmd(const std::string& payload, const error& e, unit_of_work& u);
    void on_srv_ack(const topic& t, const std::string& payload, unit_of_work& u);
    void reject_input(std::string_view kind, const error& e, const topic& t);
    void reject_topic(std::string_view topic_text, std::string_view detail);

    gateway_config config_;
    gateway_clock clock_;
    city_ledger ledger_;
    gateway_metrics metrics_;
    telemetry_cache telemetry_;
    outbox_pump outbox_;
    alert_desk alerts_;
    custody_desk desk_;
    command_handler commands_;
    publisher local_publish_, central_publish_;

    core_inbox inbox_;
    std::array<std::uint64_t, 2> links_seen_{};  ///< link generations applied
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> bd_seq_{0};
    std::string bd_seq_path_;  ///< the durable bd_seq file next to the database
    std::vector<std::pair<std::string, clock_ms>> seen_;  ///< telemetry senders since last flush
    interval_timer flush_timer_, sweep_timer_, prune_timer_;
    /// Telemetry refusals are logged at most once per interval, with how many there were.
    interval_timer refusal_log_timer_;
    std::uint64_t refusals_unlogged_ = 0;
};

}  // namespace eqm::gateway
