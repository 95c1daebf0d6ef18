#pragma once
/// The device SDK: what device firmware links to speak the eqm MQTT contract
/// (docs/contracts.md, "City broker").
///
/// - Birth `{ts, online:true, class, model, fw, bd_seq}` (QoS 1, retained) on
///   `eqm/v1/dev/{id}/state` after every connect, with the Last Will `{ts, online:false, bd_seq}`
///   registered on the same topic. bd_seq lives in `{state_dir}/{id}.state` and is incremented
///   (and persisted) before every connect attempt, so a will never matches a later birth.
/// - Telemetry: QoS 0 on `eqm/v1/dev/{id}/telemetry`; dropped while offline (it is periodic).
/// - Events: written to a durable outbox (`{state_dir}/{id}.outbox`, see outbox.hpp) and
///   published QoS 1 on `eqm/v1/dev/{id}/event` (docks: `eqm/v1/dock/{id}/event`); resent after
///   every (re)connect and every resend interval until the ack on `eqm/v1/ack/{id}` arrives,
///   across process restarts too. Only a final answer (`ok`, or `rejected:<reason>` for any
///   reason but `unavailable`) ends an event: `rejected:unavailable` means the gateway could not
///   commit its decision, so the event stays and is sent again after a backoff.
/// - Commands on `eqm/v1/dev/{id}/cmd` go to the command handler. Unparseable commands and acks
///   are logged and ignored.
/// - Ids are checked with eqm::is_valid_id and topics built with eqm::format_topic: the domain's
///   rules, not a copy of them.
/// - A lost broker is reconnected to with exponential backoff and jitter.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/domain/vocabulary.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::device {

/// Defaults of the resend and reconnect timers.
inline constexpr std::chrono::milliseconds default_resend_interval{10000};
inline constexpr std::chrono::milliseconds default_reconnect_min{250};
inline constexpr std::chrono::milliseconds default_reconnect_max{30000};
inline constexpr std::chrono::milliseconds default_unavailable_retry_min{1000};
inline constexpr std::chrono::milliseconds default_unavailable_retry_max{60000};

/// Called with one log line, `verb device=<id> key=value ...` (no trailing newline), and its
/// level. May run on any thread, sometimes with the session's lock held: it must not call back
/// into the session.
using log_sink = std::function<void(log_level level, std::string_view line)>;
/// Called with every payload the device hands to the broker, including the Last Will it
/// registers (used by `eqm-sim --capture`). May run on any thread.
using capture_sink = std::function<void(std::string_view topic, std::string_view payload)>;
/// A parsed command (`{cmd_id, ts, type, ...}`, already checked to be an object with string
/// cmd_id and type). Runs on the MQTT client's thread: do nothing slow in it.
using command_handler = std::function<void(const nlohmann::json& command)>;
/// The gateway's final answer to one event: `ok` or `rejected:<reason>` (never
/// `rejected:unavailable`, which only makes the SDK send the event again). Runs on the MQTT
/// thread.
using ack_handler = std::function<void(const std::string& event_id, const std::string& result)>;

/// How a device is set up.
struct device_options {
    std::string id;  ///< `^[A-Za-z0-9_-]{1,64}$`; also the MQTT client id
    device_class cls = device_class::body_camera;
    std::string model = "generic";  ///< 1..64 chars
    std::string fw = "0.0.0";       ///< 1..64 chars
    std::string broker_uri;         ///< e.g. tcp://127.0.0.1:1883
    std::string username;           ///< empty: anonymous
    std::string password;
    std::filesystem::path state_dir = ".";  ///< where {id}.state and {id}.outbox live
    bool durable = true;                    ///< fsync the outbox and state file
    std::chrono::milliseconds resend_interval = default_resend_interval;
    std::chrono::milliseconds reconnect_min = default_reconnect_min;
    std::chrono::milliseconds reconnect_max = default_reconnect_max;
    /// An event answered `rejected:unavailable` is sent again after a delay that starts at
    /// `unavailable_retry_min` and doubles with every further such answer for that event, up to
    /// `unavailable_retry_max`; each delay is drawn uniformly from [delay/2, delay] so a city's
    /// devices do not all come back to a recovering gateway at once.
    std::chrono::milliseconds unavailable_retry_min = default_unavailable_retry_min;
    std::chrono::milliseconds unavailable_retry_max = default_unavailable_retry_max;
    log_sink log;          ///< empty: the process logger (eqm/runtime/log.hpp, component device)
    capture_sink capture;  ///< empty: none
};

/// Counters for status lines and load reports.
struct device_stats {
    std::uint64_t telemetry_sent = 0;
    std::uint64_t telemetry_dropped = 0;  ///< offline or refused by the client
    std::uint64_t events_emitted = 0;
    std::uint64_t events_published = 0;  ///< including resends
    std::uint64_t events_acked = 0;
    std::uint64_t events_rejected = 0;     ///< acked with rejected:<reason>
    std::uint64_t events_unavailable = 0;  ///< rejected:unavailable answers (event kept, resent)
    std::uint64_t connects = 0;
    std::uint64_t bad_messages = 0;  ///< unparseable commands / acks ignored
};

/// One device (or dock) connection. Thread-safe: publish/emit may be called from any thread.
class device_session {
  public:
    /// Reads (or creates) the state file and the outbox, then starts connecting in the
    /// background; returns at once. Errors: bad_field for a bad id, model, fw or broker URI;
    /// unavailable when the state directory cannot be written.
    static result<std::unique_ptr<device_session>> open(device_options options);
    /// Publishes the death certificate `{online:false}` (a graceful stop does not fire the
    /// Will) and disconnects. Pending events stay in the outbox for the next run.
    ~device_session();
    device_session(const device_session&) = delete;
    device_session& operator=(const device_session&) = delete;

    /// Sends a telemetry body. `ts` and `seq` are added when missing. QoS 0: dropped (and
    /// counted) while offline. Error bad_field when the body is not an object.
    result<void> publish_telemetry(nlohmann::json body);
    /// Stores an event durably, then publishes it. `event_id` (`{id}-{boot}-{n}`, unique across
    /// restarts) and `ts` are added when missing. Returns the event_id. Errors: bad_field when
    /// the body is not an object, unavailable when the outbox cannot be written.
    result<std::string> emit_event(nlohmann::json body);

    /// Replaces the command handler (empty: commands are only logged).
    void set_command_handler(command_handler handler);
    /// Replaces the ack handler.
    void set_ack_handler(ack_handler handler);

    /// True while connected to the broker.
    bool connected() const noexcept;
    /// Events still waiting for their ack.
    std::size_t pending_events() const;
    /// The bd_seq of the current (or last) connect.
    std::uint64_t bd_seq() const noexcept;
    /// Counters so far.
    device_stats stats() const;
    /// The device id.
    const std::string& id() const noexcept;

    class impl;

  private:
    explicit device_session(std::shared_ptr<impl> p);
    std::shared_ptr<impl> impl_;
};

/// Topic helpers (the contract's topic names, in one place).
std::string state_topic(std::string_view device_id);
std::string telemetry_topic(std::string_view device_id);
std::string event_topic(std::string_view device_id, device_class cls);
std::string ack_topic(std::string_view client_id);
std::string command_topic(std::string_view device_id);

}  // namespace eqm::device
