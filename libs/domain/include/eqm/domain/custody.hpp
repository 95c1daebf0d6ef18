#pragma once
/// Custody: who holds a device, the record of every change (one ledger record each), and the
/// state machine that decides whether a change is allowed.
///
/// Transition table (from-state x action -> to-state). Anything not listed is refused with
/// errc::invalid_transition; the message names the from-state and the action.
///
/// | from          | action          | to            | notes | | ------------- | --------------- |
/// ------------- | ------------------------------------------------------- | | available     |
/// checkout        | checked_out   | holder required; due optional; refused when locked      | |
/// checked_out   | checkin         | available     | condition good (or absent) | | checked_out   |
/// checkin         | maintenance   | condition damaged or needs_service                      | |
/// available     | maintenance_in  | maintenance   | | | maintenance   | maintenance_out |
/// available     |                                                         | | available     |
/// transfer_out    | in_transit    | transfer_id required (hand-over at the source city)     | |
/// in_transit    | transfer_in     | available     | transfer_id required and must match (receipt)
/// | | available     | report_lost     | lost          | | | checked_out   | report_lost     | lost
/// | the holder is cleared                                   | | in_transit    | report_lost     |
/// lost          | the transfer is abandoned                               | | lost          |
/// found           | available     | condition good (or absent)                              | |
/// lost          | found           | maintenance   | condition damaged or needs_service | | any but
/// checked_out, retired | retire | retired | a checked-out device must be checked in first    |
///
/// Refusals, in the order they are checked:
/// 1. errc::locked: checkout or transfer_out of a locked device (whatever its state; a locked
///    device can still be checked in, sent to maintenance, reported lost or retired).
/// 2. errc::invalid_transition: the pair is not in the table.
/// 3. errc::bad_field: a required command field is missing (checkout: holder; transfer_out and
///    transfer_in: transfer_id).
/// 4. errc::not_holder: a check-in names a returner (badge holder or API caller) other than the
///    current holder and is not an override (a custodian's manual check-in).
/// 5. errc::conflict: transfer_in names a different transfer than the one under way.
///
/// Holder rules: the holder is set exactly when the state is checked_out; every move out of
/// checked_out clears holder and due. The ledger record's `holder` is the holder *after* the
/// change (so replaying records rebuilds custody); who performed a change is its `actor`.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/domain/time.hpp"

namespace eqm {

enum class custody_state { available, checked_out, in_transit, maintenance, lost, retired };
enum class custody_action {
    checkout,
    checkin,
    maintenance_in,
    maintenance_out,
    transfer_out,
    transfer_in,
    report_lost,
    found,
    retire
};
/// Where a custody change came from: a dock slot event, the gateway's REST API, or a server
/// command (custody_request / transfer_order).
enum class custody_source { dock, api, server };
/// The condition a device is returned (or found) in.
enum class item_condition { good, damaged, needs_service };

/// Limits from the wire contract (docs/contracts.md, gw_events `custody` body).
constexpr std::size_t max_custody_note_chars = 512;
constexpr std::size_t max_actor_chars = 64;
constexpr std::size_t max_id_chars = 64;
constexpr std::size_t hash_hex_chars = 64;

/// One custody ledger record, exactly as it is hashed and sent (`custody` body of gw_events).
struct custody_record {
    std::uint64_t index = 0;
    std::string device_id{};
    custody_action action{};
    custody_state from_state{}, to_state{};
    std::optional<std::string> holder{};  ///< set iff to_state is checked_out
    std::string actor{};                  ///< who did it (person id, "dock", "server", ...)
    custody_source source{};
    clock_ms ts{};
    std::string prev_hash{}, hash{};  ///< 64 lower-case hex digits each
    std::optional<clock_ms> due{};
    std::optional<std::string> dock_id{};
    std::optional<int> slot{};
    std::optional<std::string> request_id{};  ///< dock event_id or server cmd_id
    std::optional<item_condition> condition{};
    std::optional<std::string> note{};
    std::optional<std::string> transfer_id{};
    /// A check-out that fulfils a booking names it (named or class booking); absent otherwise,
    /// and absent in every record written before bookings existed, whose hash stays valid.
    std::optional<std::string> reservation_id{};
    /// Members a newer minor version of the contract added, kept as they came (only a lenient
    /// read fills them: see parse_gw_events_lenient). They were hashed when the record was
    /// sealed, so they are hashed, stored and sent again with it.
    std::map<std::string, nlohmann::json> extra_fields{};
    bool operator==(const custody_record&) const = default;
};

/// The wire form: includes "hash"; optionals omitted when empty; holder is null when empty.
nlohmann::json to_json(const custody_record& r);

/// `to_json(r).dump()` written directly (compact, sorted keys, the same escapes), without the
/// "hash" field when `with_hash` is false: what is stored and hashed for every record, so it
/// skips the JSON document. Nothing when a string is not valid UTF-8 (to_json's dump would
/// throw; canonical_record_json reports it) or when the record has extra_fields (the caller
/// falls back to to_json).
std::optional<std::string> custody_record_text(const custody_record& r, bool with_hash = true);

/// Parses the wire form. Never throws; errors name the field as `path + "." + field` (just the
/// field when path is empty); rejects unknown fields (errc::unknown_field; under a lenient
/// read they go to extra_fields instead) and enforces the contract's patterns and limits (ids,
/// 64-hex hashes, timestamps, note length).
result<custody_record> parse_custody_record(const nlohmann::json& j, std::string_view path = "");
/// parse_custody_record for a record accepted once already (one the server stored from a
/// gateway of a newer minor version): members the contract does not list are kept in
/// extra_fields instead of refused.
result<custody_record> parse_stored_custody_record(const nlohmann::json& j,
                                                   std::string_view path = "");

std::string_view to_string(custody_state v) noexcept;
std::string_view to_string(custody_action v) noexcept;
std::string_view to_string(custody_source v) noexcept;
std::string_view to_string(item_condition v) noexcept;

/// Wire name -> value; std::nullopt when the name is not one of ours.
std::optional<custody_state> parse_custody_state(std::string_view s) noexcept;
std::optional<custody_action> parse_custody_action(std::string_view s) noexcept;
std::optional<custody_source> parse_custody_source(std::string_view s) noexcept;
std::optional<item_condition> parse_item_condition(std::string_view s) noexcept;

/// True for `^[A-Za-z0-9_-]{1,64}$`, the contract's id pattern.
bool is_valid_id(std::string_view s) noexcept;
/// True for 64 lower-case hex digits, the form of a record's hash and prev_hash.
bool is_record_hash(std::string_view s) noexcept;

/// What the state machine needs to know about a device's custody right now.
struct device_custody {
    custody_state state = custody_state::available;
    std::optional<std::string> holder{};       ///< person id; set iff state is checked_out
    std::optional<clock_ms> due{};             ///< return due (checked_out only)
    std::optional<std::string> transfer_id{};  ///< the transfer under way (in_transit only)
    bool locked = false;                       ///< a device_lock from the server
    bool operator==(const device_custody&) const = default;
};

/// A requested custody change.
struct custody_command {
    custody_action action{};
    std::optional<std::string>
        holder{};                   ///< checkout: who takes it; checkin: who returns it (if known)
    std::optional<clock_ms> due{};  ///< checkout only
    std::optional<item_condition> condition{};  ///< checkin / found
    std::optional<std::string> transfer_id{};   ///< transfer_out / transfer_in
    /// Checkin: accept a return by someone other than the holder (a custodian's manual check-in).
    bool override_holder = false;
};

/// The decision: the device's custody after the change, and the states for the ledger record.
struct custody_transition {
    custody_state from_state{};
    custody_state to_state{};
    device_custody after{};
};

/// The custody state machine (see the table at the top of this header). Pure: the caller
/// records the transition (seal a custody_record) and stores `after`.
result<custody_transition> apply(const device_custody& current, const custody_command& cmd);

/// True when the table allows `action` from `from` at all (ignoring holders, lock, conditions).
bool is_allowed(custody_state from, custody_action action) noexcept;

}  // namespace eqm
