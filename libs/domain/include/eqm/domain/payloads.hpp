#pragma once
/// Typed MQTT payloads: one struct per payload of docs/contracts.md, with a parser that never
/// throws and a serializer, plus the topic parser the gateway and server route with.
///
/// Parsing rules shared by every payload:
/// - `parse_<name>(text)` checks the size limit (errc::too_large), then that the text is JSON
///   (errc::bad_json), then every field. `from_json_<name>(json, path)` does the field checks
///   only, for payloads nested in others.
/// - Every rejection names the field by its JSON path (`events[3].body.device_id`; empty for
///   the payload as a whole) and says why in the message: missing, wrong type, out of range,
///   pattern, unknown enum value (all errc::bad_field), or a field the contract does not list
///   (errc::unknown_field; the schemas' additionalProperties:false).
/// - Integers must be JSON integers (`1.0` is refused where an integer is expected); numbers
///   accept both forms.
/// - String lengths count Unicode code points, as JSON Schema's minLength/maxLength do.
///
/// Serializing: `to_json(x)` / `to_json_text(x)` write compact JSON with sorted keys, omit empty
/// optionals, and write whole-valued numbers as integers (80, not 80.0). That is the canonical
/// form: for canonical text, `to_json_text(*parse_x(text)) == text`, and for every value,
/// `*parse_x(to_json_text(x)) == x`.
///
/// Cross-field rules are checked too (the ones schemas/README.md lists as beyond JSON Schema):
/// an ack's results have exactly the ids of event_ids; in a gw_events batch seq strictly
/// increases and msg_id is `{gw_id}-{seq}`; telemetry slots_occupied <= slots_total; a
/// reservation ends after it starts. Rules that span messages (seq continuity across batches)
/// are the receiver's to check.
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm {

// ---------------------------------------------------------------------------------------------
// Limits (docs/contracts.md)

/// Any payload but a gateway events batch.
constexpr std::size_t max_payload_bytes = 256 * 1024;
/// A gateway events batch (`gw_events`).
constexpr std::size_t max_gw_events_bytes = 4 * 1024 * 1024;
constexpr std::size_t max_model_chars = 64;    ///< device model, fw
constexpr std::size_t max_version_chars = 32;  ///< gateway version
constexpr std::size_t max_unit_chars = 16;     ///< analyzer reading unit
constexpr std::size_t max_readings = 16;       ///< analyzer readings per telemetry
constexpr std::size_t max_health_code_chars = 32;
constexpr std::size_t max_health_codes = 32;
constexpr std::size_t max_fault_code_chars = 32;
constexpr std::size_t max_reason_chars = 256;  ///< fault detail, lock reason
constexpr std::size_t max_detail_chars = 512;  ///< alert and command result detail
constexpr std::size_t max_serial_chars = 64;
constexpr std::size_t max_person_name_chars = 128;
/// An argon2id string is about 100 characters; the bound only keeps nonsense out.
constexpr std::size_t max_password_hash_chars = 256;
/// A chunked full registry sync has at most this many parts.
constexpr std::uint64_t max_sync_parts = 10000;
/// Units one transfer_order of a count may ask for.
constexpr std::uint64_t max_transfer_order_count = 500;
constexpr std::size_t max_ack_event_ids = 1000;
constexpr std::size_t max_gw_batch_events = 1000;
constexpr std::size_t max_skipped_ranges = 1000;
constexpr int max_dock_slot = 63;
constexpr int max_dock_slots = 64;
constexpr int max_telemetry_interval_s = 86400;

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// `ok` or `rejected:<reason>`, the per-event result of an ack and of a command.
/// The reason is an errc wire name (the pattern allows any `[a-z][a-z0-9_]*`).
struct outcome {
    std::optional<std::string> rejected_reason;  ///< empty means ok

    static outcome ok() { return {}; }
    static outcome rejected(errc why) { return outcome{std::string(to_string(why))}; }
    bool is_ok() const noexcept { return !rejected_reason.has_value(); }
    bool operator==(const outcome&) const = default;
};
std::string to_string(const outcome& o);
/// Checks `^(ok|rejected:[a-z][a-z0-9_]*)$`; `field` names the value in the error.
result<outcome> parse_outcome(std::string_view text, std::string_view field);

/// A GPS fix: lat -90..90, lon -180..180, optional altitude in metres.
struct gps_fix {
    double lat = 0;
    double lon = 0;
    std::optional<double> alt_m;
    bool operator==(const gps_fix&) const = default;
};
nlohmann::json to_json(const gps_fix& v);
result<gps_fix> from_json_gps_fix(const nlohmann::json& j, std::string_view path = "");

// ---------------------------------------------------------------------------------------------
// City broker: devices and docks <-> gateway

/// `eqm/v1/dev/{device_id}/state`. Birth (`online`): cls, model and fw are all set.
/// Last Will (`!online`): none of them is set.
struct device_state {
    clock_ms ts{};
    bool online = false;
    std::uint64_t bd_seq = 0;
    std::optional<device_class> cls;  ///< JSON `class`
    std::optional<std::string> model;
    std::optional<std::string> fw;
    bool operator==(const device_state&) const = default;
};

/// One analyzer reading of device_telemetry.
struct analyte_reading {
    eqm::analyte analyte{};
    double value = 0;
    std::string unit;
    bool operator==(const analyte_reading&) const = default;
};

/// `eqm/v1/dev/{device_id}/telemetry`. Class fields are optional: a device reports what it has.
struct device_telemetry {
    clock_ms ts{};
    std::uint64_t seq = 0;
    double battery_pct = 0;      ///< 0..100
    double storage_free_mb = 0;  ///< >= 0
    double temp_c = 0;           ///< -60..150
    std::optional<gps_fix> gps;
    std::optional<bool> charging;
    std::optional<bool> docked;
    // body camera
    std::optional<bool> recording;
    std::optional<double> footage_pending_mb;
    /// Outer empty: not reported. Inner empty: reported as null (nothing pending).
    std::optional<std::optional<clock_ms>> footage_pending_since;
    // drone
    std::optional<double> flight_hours;
    std::optional<std::uint64_t> battery_cycles;
    std::optional<std::string> registration_id;
    std::optional<std::vector<std::string>> health_codes;
    std::optional<bool> airborne;
    // analyzer
    std::optional<date> calibration_due;
    std::optional<double> drift_pct;
    std::optional<std::vector<analyte_reading>> readings;
    // dock
    std::optional<int> slots_total;  ///< 1..64
    std::optional<std::uint64_t> slots_occupied;
    bool operator==(const device_telemetry&) const = default;
};

enum class device_event_type {
    recording_started,
    recording_stopped,
    footage_offloaded,
    flight_started,
    flight_ended,
    calibrated,
    fault,
    low_battery
};

/// `eqm/v1/dev/{device_id}/event`. Exactly the fields of `type` are set:
/// recording_stopped: footage_mb; footage_offloaded: offloaded_mb; flight_ended: flight_minutes;
/// calibrated: calibration_due; fault: code (+ detail?); low_battery: battery_pct;
/// recording_started and flight_started: none.
struct device_event {
    std::string event_id;
    clock_ms ts{};
    device_event_type type{};
    std::optional<double> footage_mb;
    std::optional<double> offloaded_mb;
    std::optional<double> flight_minutes;
    std::optional<date> calibration_due;
    std::optional<std::string> code;
    std::optional<std::string> detail;
    std::optional<double> battery_pct;
    bool operator==(const device_event&) const = default;
};

enum class dock_event_type { slot_insert, slot_remove };

/// `eqm/v1/dock/{dock_id}/event`. slot_remove with a badge: check-out request; without:
/// unauthorised removal; slot_insert: check-in (badge, if any, is who returned it).
struct dock_event {
    std::string event_id;
    clock_ms ts{};
    dock_event_type type{};
    int slot = 0;  ///< 0..63
    std::string device_id;
    std::optional<std::string> badge;
    bool operator==(const dock_event&) const = default;
};

/// `eqm/v1/ack/{client_id}`. results has exactly the ids of event_ids (1..1000, no repeats).
struct ack {
    clock_ms ts{};
    std::vector<std::string> event_ids;
    std::map<std::string, outcome> results;
    bool operator==(const ack&) const = default;
};

enum class device_cmd_type { locate, lock, unlock, config };

/// The `settings` of a `config` device command: at least one of them.
struct device_settings {
    std::optional<int> telemetry_interval_s;  ///< 1..86400
    std::optional<double> low_battery_pct;    ///< 0..100
    bool operator==(const device_settings&) const = default;
};

/// `eqm/v1/dev/{device_id}/cmd`. `reason` only with lock; `settings` exactly with config.
struct device_cmd {
    std::string cmd_id;
    clock_ms ts{};
    device_cmd_type type{};
    std::optional<std::string> reason;
    std::optional<device_settings> settings;
    bool operator==(const device_cmd&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Central broker: gateways <-> server

/// `eqm/v1/city/{city}/gw/state`. Birth (`online`): gw_id and version set; Last Will: neither.
struct gw_state {
    clock_ms ts{};
    bool online = false;
    std::uint64_t bd_seq = 0;
    std::optional<std::string> gw_id;
    std::optional<std::string> version;
    bool operator==(const gw_state&) const = default;
};

enum class gw_event_kind { custody, device_state, telemetry_summary, alert, command_result };

/// `device_state` body of a gateway event: a device came or went.
struct device_state_body {
    std::string device_id;
    bool online = false;
    std::uint64_t bd_seq = 0;
    bool registered = false;
    std::optional<device_class> cls;  ///< JSON `class`
    std::optional<std::string> model;
    std::optional<std::string> fw;
    bool operator==(const device_state_body&) const = default;
};

/// `telemetry_summary` body: one device's telemetry over one minute.
struct telemetry_summary_body {
    std::string device_id;
    clock_ms minute{};  ///< start of the minute
    std::uint64_t count = 1;
    double battery_pct_min = 0;
    double battery_pct_last = 0;
    double storage_free_mb_last = 0;
    double temp_c_max = 0;
    std::optional<gps_fix> gps;
    bool operator==(const telemetry_summary_body&) const = default;
};

enum class alert_type {
    low_battery,
    calibration_due,
    calibration_expired,
    footage_pending,
    overdue_return,
    docked_while_checked_out,
    unauthorised_removal,
    device_offline,
    ledger_broken,
    transfer_overdue
};
enum class alert_state { raised, cleared };
enum class alert_severity { info, warning, critical };

/// `alert` body.
struct alert_body {
    std::string alert_id;
    alert_type type{};
    alert_state state{};
    alert_severity severity{};
    std::string detail;  ///< <= 512 characters
    std::optional<std::string> device_id;
    bool operator==(const alert_body&) const = default;
};

enum class srv_cmd_type {
    registry_upsert,
    reservation_upsert,
    reservation_cancel,
    transfer_order,
    device_lock,
    custody_request
};

/// `command_result` body: the gateway's answer to a server command.
struct command_result_body {
    std::string cmd_id;
    srv_cmd_type type{};  ///< the type of the command it answers
    outcome result;
    std::optional<std::string> detail;
    std::optional<std::uint64_t> record_index;  ///< the ledger record a custody request made
    /// transfer_order of a count: the units the gateway picked for the transfer.
    std::optional<std::vector<std::string>> devices;
    bool operator==(const command_result_body&) const = default;
};

/// The body of a gateway event; its alternative is the event's `kind`.
using gw_event_body = std::variant<custody_record, device_state_body, telemetry_summary_body,
                                   alert_body, command_result_body>;

/// One event of a gateway batch.
struct gw_event {
    std::uint64_t seq = 1;  ///< >= 1
    std::string msg_id;
    clock_ms ts{};
    gw_event_body body;
    /// The JSON `kind`, from which alternative `body` holds.
    gw_event_kind kind() const noexcept { return static_cast<gw_event_kind>(body.index()); }
    bool operator==(const gw_event&) const = default;
};

/// A closed range of seqs, `[from_seq, to_seq]` on the wire.
struct seq_range {
    std::uint64_t from_seq = 1;
    std::uint64_t to_seq = 1;
    bool operator==(const seq_range&) const = default;
};

/// `eqm/v1/city/{city}/gw/events`: 1..1000 events, seq strictly increasing, each msg_id
/// `{gw_id}-{seq}`.
struct gw_events {
    clock_ms ts{};
    std::string gw_id;
    std::uint64_t bd_seq = 0;
    std::vector<gw_event> events;
    /// Up to 1000 seq ranges below the first event's seq that the gateway dropped under its
    /// outbox bound policy (telemetry summaries only); the server counts them as delivered.
    std::optional<std::vector<seq_range>> skipped;
    bool operator==(const gw_events&) const = default;
};

/// `eqm/v1/city/{city}/srv/ack`.
struct srv_ack {
    clock_ms ts{};
    std::uint64_t upto_seq = 0;
    std::optional<std::uint64_t> resend_from;  ///< >= 1: resend from this seq (a gap was seen)
    bool operator==(const srv_ack&) const = default;
};

/// A device as the server's registry pushes it to a gateway.
struct device_record {
    std::string id;
    device_class cls{};  ///< JSON `class`
    std::string model;
    std::string city;
    std::optional<std::string> serial;
    std::optional<eqm::analyte> analyte;
    std::optional<date> calibration_due;
    std::optional<std::string> registration_id;
    std::optional<double> flight_hours;
    std::optional<std::uint64_t> battery_cycles;
    std::optional<bool> retired;
    bool operator==(const device_record&) const = default;
};
nlohmann::json to_json(const device_record& v);
result<device_record> from_json_device_record(const nlohmann::json& j, std::string_view path = "");

/// A person as the server's registry pushes it to a gateway.
struct person_record {
    std::string id;
    std::string name;
    person_role role{};
    std::optional<std::string> city;
    std::optional<std::string> badge;
    /// Cities other than the home city whose docks accept the badge (absent: none).
    std::optional<std::vector<std::string>> badge_cities;
    std::optional<bool> active;  ///< absent means active
    /// The argon2id string of the person's password (libsodium's crypto_pwhash_str), sent to
    /// gateways so a custodian can log in to the city's kiosk page while the centre is away.
    std::optional<std::string> password_hash;
    bool is_active() const noexcept { return active.value_or(true); }
    /// True when `code` is one of badge_cities.
    bool badge_allowed_in(std::string_view code) const noexcept;
    bool operator==(const person_record&) const = default;
};
nlohmann::json to_json(const person_record& v);
result<person_record> from_json_person_record(const nlohmann::json& j, std::string_view path = "");

/// The eight statuses of a booking (docs/reservations.md has the transitions). `pending` is the
/// name older servers and gateway ledgers used for `requested`: it is read, never written.
enum class reservation_status {
    requested,
    approved,
    cancelled,
    declined,
    active,     ///< checked out
    completed,  ///< checked in
    no_show,    ///< nothing picked up within 30 minutes of the start
    overdue,    ///< still out after the end
    pending = requested,
};

/// A reservation as pushed to the gateway of its city. `end` is after `start`.
///
/// A named-device booking has `device_id` and no `cls`. A class booking has `cls` (and, for
/// analyzers, `analyte`) and `city`; its `device_id` is absent until a unit is checked out for
/// it, then names that unit. Records from older servers carry only {id, device_id, person_id,
/// start, end, status} and read as named-device bookings.
struct reservation_record {
    std::string id;
    std::optional<std::string> device_id;
    std::string person_id;
    clock_ms start{};
    clock_ms end{};
    reservation_status status{};
    std::optional<device_class> cls{};  ///< JSON `class`: set for class bookings only
    std::optional<eqm::analyte> analyte{};
    std::optional<std::string> city{};
    /// True for a class booking (bound to a unit late, at check-out).
    bool by_class() const noexcept { return cls.has_value(); }
    bool operator==(const reservation_record&) const = default;
};
nlohmann::json to_json(const reservation_record& v);
result<reservation_record> from_json_reservation_record(const nlohmann::json& j,
                                                        std::string_view path = "");

/// srv_cmd `registry_upsert`.
struct registry_upsert_cmd {
    std::vector<device_record> devices;
    std::vector<person_record> people;
    std::optional<bool> full_sync;  ///< true: the lists are the whole registry of the city
    /// A full sync too large for one message comes in `parts` commands of one `sync_id`, each
    /// with its `part` (1-based). The gateway upserts every part and removes what none of them
    /// listed only once it has all parts of that sync. Set together, and only with full_sync.
    std::optional<std::string> sync_id;
    std::optional<std::uint64_t> part;
    std::optional<std::uint64_t> parts;
    bool operator==(const registry_upsert_cmd&) const = default;
};
/// srv_cmd `reservation_upsert`.
struct reservation_upsert_cmd {
    reservation_record reservation;
    bool operator==(const reservation_upsert_cmd&) const = default;
};
/// srv_cmd `reservation_cancel`.
struct reservation_cancel_cmd {
    std::string reservation_id;
    bool operator==(const reservation_cancel_cmd&) const = default;
};

enum class transfer_step { hand_over, receive, cancel };

/// srv_cmd `transfer_order`: hand_over at the source city (the device leaves with the courier
/// who takes it), receive at the destination (the device is expected: its check-in there
/// completes the transfer), cancel at both (the orders of the transfer are withdrawn). A
/// hand_over names a device, or a class and a count (the gateway picks its readiest units and
/// names them in its command_result's `devices`).
struct transfer_order_cmd {
    std::string transfer_id;
    std::optional<std::string> device_id;  ///< hand_over and receive: the device; cancel: all
    std::string from_city;
    std::string to_city;
    transfer_step step{};
    std::optional<device_class> cls;  ///< `class`: a hand_over of a count
    std::optional<std::uint64_t> count;
    std::optional<analyte> analyte_type;  ///< `analyte`, with class analyzer
    /// receive: the device's registry record, so the destination registers it on arrival
    /// (with the destination's city) even before the registry follows.
    std::optional<device_record> device;
    bool operator==(const transfer_order_cmd&) const = default;
};
/// srv_cmd `device_lock`.
struct device_lock_cmd {
    std::string device_id;
    bool locked = false;
    std::optional<std::string> reason;
    bool operator==(const device_lock_cmd&) const = default;
};
/// srv_cmd `custody_request`: action is checkout (badge required) or checkin.
struct custody_request_cmd {
    std::string device_id;
    custody_action action = custody_action::checkout;
    std::optional<std::string> badge;
    std::optional<clock_ms> due;
    std::optional<item_condition> condition;
    std::optional<std::string> note;   ///< <= 512 characters
    std::optional<std::string> actor;  ///< 1..64 characters
    /// The requester stops waiting at this time: a gateway that sees the command later refuses
    /// it (`rejected:expired`) instead of acting on a request whose client was told 503.
    std::optional<clock_ms> expires_at;
    bool operator==(const custody_request_cmd&) const = default;
};

/// The per-type part of a server command; its alternative is the command's `type`.
using srv_cmd_body =
    std::variant<registry_upsert_cmd, reservation_upsert_cmd, reservation_cancel_cmd,
                 transfer_order_cmd, device_lock_cmd, custody_request_cmd>;

/// `eqm/v1/city/{city}/srv/cmd`.
struct srv_cmd {
    std::string cmd_id;
    clock_ms ts{};
    srv_cmd_body body;
    /// The JSON `type`, from which alternative `body` holds.
    srv_cmd_type type() const noexcept { return static_cast<srv_cmd_type>(body.index()); }
    bool operator==(const srv_cmd&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Parsers and serializers, one set per payload

result<device_state> parse_device_state(std::string_view json_text);
result<device_state> from_json_device_state(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const device_state& v);

result<device_telemetry> parse_device_telemetry(std::string_view json_text);
result<device_telemetry> from_json_device_telemetry(const nlohmann::json& j,
                                                    std::string_view path = "");
nlohmann::json to_json(const device_telemetry& v);

result<device_event> parse_device_event(std::string_view json_text);
result<device_event> from_json_device_event(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const device_event& v);

result<dock_event> parse_dock_event(std::string_view json_text);
result<dock_event> from_json_dock_event(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const dock_event& v);

result<ack> parse_ack(std::string_view json_text);
result<ack> from_json_ack(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const ack& v);

result<device_cmd> parse_device_cmd(std::string_view json_text);
result<device_cmd> from_json_device_cmd(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const device_cmd& v);

result<gw_state> parse_gw_state(std::string_view json_text);
result<gw_state> from_json_gw_state(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const gw_state& v);

/// Reads a batch with the fast reader when it can, else with the reference reader (which
/// names the problem); both give the same value for the same text.
result<gw_events> parse_gw_events(std::string_view json_text);
/// Reads a batch from a gateway of a newer minor version of the contract: as parse_gw_events,
/// every rule included, except that members the contract does not list (in the envelope, its
/// events and their bodies) are ignored instead of refused. Each such member's path, with the
/// indexes left out (`events[].body.humidity`), is added to `ignored` once. A custody body keeps
/// its extra members (custody_record::extra_fields), since they are part of what was hashed.
result<gw_events> parse_gw_events_lenient(std::string_view json_text,
                                          std::vector<std::string>& ignored);

/// The sender and the seqs of a gw_events batch, read from a batch that parse_gw_events refuses
/// (a server quarantines such a batch and acks it, so the city moves on).
struct gw_events_range {
    std::string gw_id;
    std::uint64_t from_seq = 0;
    std::uint64_t to_seq = 0;
    bool operator==(const gw_events_range&) const = default;
};
/// Reads only what a quarantine needs: a JSON object (within max_gw_events_bytes) whose `gw_id`
/// is an id and whose `events` is a non-empty array of objects, each with an integer `seq` >= 1,
/// spanning fewer than max_gw_batch_events seqs. Nothing when any of that cannot be read: then
/// no range can be trusted to be acked.
std::optional<gw_events_range> read_gw_events_range(std::string_view json_text);
namespace detail {
/// The reference reader of parse_gw_events (nlohmann's DOM, then the fields).
result<gw_events> parse_gw_events_reference(std::string_view json_text);
/// The fast reader (simdjson): the reference's value for input the reference accepts, or
/// nothing when it declines (a problem, a duplicate key, an index of 0). Always nothing in a
/// build without simdjson. Exposed for the tests that hold the two readers to each other.
std::optional<gw_events> parse_gw_events_fast(std::string_view json_text);
/// False in a build without simdjson, where parse_gw_events_fast always declines.
bool has_fast_gw_events_reader() noexcept;
}  // namespace detail
result<gw_events> from_json_gw_events(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const gw_events& v);
result<gw_event> from_json_gw_event(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const gw_event& v);
result<device_state_body> from_json_device_state_body(const nlohmann::json& j,
                                                      std::string_view path = "");
nlohmann::json to_json(const device_state_body& v);
result<telemetry_summary_body> from_json_telemetry_summary_body(const nlohmann::json& j,
                                                                std::string_view path = "");
nlohmann::json to_json(const telemetry_summary_body& v);
result<alert_body> from_json_alert_body(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const alert_body& v);
result<command_result_body> from_json_command_result_body(const nlohmann::json& j,
                                                          std::string_view path = "");
nlohmann::json to_json(const command_result_body& v);

result<srv_ack> parse_srv_ack(std::string_view json_text);
result<srv_ack> from_json_srv_ack(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const srv_ack& v);

result<srv_cmd> parse_srv_cmd(std::string_view json_text);
result<srv_cmd> from_json_srv_cmd(const nlohmann::json& j, std::string_view path = "");
nlohmann::json to_json(const srv_cmd& v);

/// Compact JSON text with sorted keys: the canonical wire form of a payload.
std::string to_json_text(const device_state& v);
std::string to_json_text(const device_telemetry& v);
std::string to_json_text(const device_event& v);
std::string to_json_text(const dock_event& v);
std::string to_json_text(const ack& v);
std::string to_json_text(const device_cmd& v);
std::string to_json_text(const gw_state& v);
std::string to_json_text(const gw_events& v);
std::string to_json_text(const srv_ack& v);
std::string to_json_text(const srv_cmd& v);

// ---------------------------------------------------------------------------------------------
// Enum wire names: to_string gives the name, parse_<enum> gives std::nullopt for a foreign one.

std::string_view to_string(device_event_type v) noexcept;
std::string_view to_string(dock_event_type v) noexcept;
std::string_view to_string(device_cmd_type v) noexcept;
std::string_view to_string(gw_event_kind v) noexcept;
std::string_view to_string(alert_type v) noexcept;
std::string_view to_string(alert_state v) noexcept;
std::string_view to_string(alert_severity v) noexcept;
std::string_view to_string(srv_cmd_type v) noexcept;
std::string_view to_string(reservation_status v) noexcept;
std::string_view to_string(transfer_step v) noexcept;

std::optional<device_event_type> parse_device_event_type(std::string_view s) noexcept;
std::optional<dock_event_type> parse_dock_event_type(std::string_view s) noexcept;
std::optional<device_cmd_type> parse_device_cmd_type(std::string_view s) noexcept;
std::optional<gw_event_kind> parse_gw_event_kind(std::string_view s) noexcept;
std::optional<alert_type> parse_alert_type(std::string_view s) noexcept;
std::optional<alert_state> parse_alert_state(std::string_view s) noexcept;
std::optional<alert_severity> parse_alert_severity(std::string_view s) noexcept;
std::optional<srv_cmd_type> parse_srv_cmd_type(std::string_view s) noexcept;
std::optional<reservation_status> parse_reservation_status(std::string_view s) noexcept;
std::optional<transfer_step> parse_transfer_step(std::string_view s) noexcept;

// ---------------------------------------------------------------------------------------------
// Topics (ARCHITECTURE.md, MQTT contract)

enum class topic_kind {
    device_state,      ///< eqm/v1/dev/{device_id}/state
    device_telemetry,  ///< eqm/v1/dev/{device_id}/telemetry
    device_event,      ///< eqm/v1/dev/{device_id}/event
    device_cmd,        ///< eqm/v1/dev/{device_id}/cmd
    dock_event,        ///< eqm/v1/dock/{dock_id}/event
    ack,               ///< eqm/v1/ack/{client_id}
    gw_state,          ///< eqm/v1/city/{city}/gw/state
    gw_events,         ///< eqm/v1/city/{city}/gw/events
    srv_ack,           ///< eqm/v1/city/{city}/srv/ack
    srv_cmd            ///< eqm/v1/city/{city}/srv/cmd
};
std::string_view to_string(topic_kind v) noexcept;
std::optional<topic_kind> parse_topic_kind(std::string_view s) noexcept;

/// A parsed topic: its kind and the one id in it (device, dock or client id; or city code).
struct topic {
    topic_kind kind{};
    std::string id;
    bool operator==(const topic&) const = default;
};

/// Recognises every topic of the MQTT contract. Unknown shapes are errc::bad_field on field
/// `topic`; an id that breaks its pattern is errc::bad_field on `topic.device_id`,
/// `topic.dock_id`, `topic.client_id` or `topic.city`. Wildcards are not topics.
result<topic> parse_topic(std::string_view text);
/// The topic string of `t` (the inverse of parse_topic for valid ids).
std::string format_topic(const topic& t);

}  // namespace eqm
