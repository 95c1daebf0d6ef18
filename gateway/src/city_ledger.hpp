#pragma once
/// The city ledger: everything the gateway keeps, in one SQLite file (WAL, versioned
/// migrations). Only the core thread touches it. Every method is one or a few prepared
/// statements; callers group them in transactions (see custody_desk and gateway_core).
///
/// Tables: devices (registry replica plus devices seen on the broker but not registered,
/// flagged registered = 0), people (badges), custody (state per device), ledger (the hash
/// chain), telemetry_latest, telemetry_minute (one-minute aggregates, pruned by age),
/// reservations, alerts (active and history), processed_events and processed_commands (with
/// their results, so a replay gets the same answer), outbox and outbox_skipped, gateway_meta,
/// registry_sync* (a full sync in parts), sessions (logins, by token hash).
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/reservation.hpp"
#include "eqm/store/database.hpp"

namespace eqm::gateway {

/// A device row: registry facts plus liveness.
struct device_row {
    std::string id;
    bool registered = false;
    std::optional<device_class> cls;
    std::optional<std::string> model;
    std::optional<std::string> city;
    std::optional<date> calibration_due;
    bool online = false;
    std::optional<std::uint64_t> bd_seq;
    std::optional<std::string> fw;
    std::optional<clock_ms> last_seen;
};

/// Custody of one device plus the physical facts the gateway tracks with it.
struct custody_row {
    device_custody custody;
    std::optional<std::string> lock_reason;
    bool docked = false;
    std::optional<clock_ms> unauthorised_removal_at;
};

/// The latest telemetry values the gateway keeps per device (in telemetry_cache and in the
/// telemetry_latest table).
struct telemetry_latest {
    clock_ms ts{};
    std::uint64_t seq = 0;
    /// The device's session (bd_seq of its birth) that `seq` counts in.
    std::uint64_t bd_seq = 0;
    double battery_pct = 0;
    double storage_free_mb = 0;
    double temp_c = 0;
    std::optional<bool> charging;
    std::optional<bool> docked;
    std::optional<clock_ms> footage_pending_since;
    std::optional<date> calibration_due;
    std::optional<double> lat, lon;
};

/// A telemetry_latest row.
struct telemetry_latest_row {
    std::string device_id;
    telemetry_latest latest;
};

/// Which devices for_each_device visits.
struct device_filter {
    std::optional<device_class> cls;
    std::optional<custody_state> status;
    /// Only ids after this one (a page's cursor).
    std::optional<std::string> after_id;
    std::optional<std::size_t> limit;
};

/// A stored alert.
struct alert_row {
    std::string alert_id;
    alert_type type{};
    std::optional<std::string> device_id;
    alert_severity severity{};
    std::string detail;
    clock_ms raised{};
    std::optional<clock_ms> cleared;
    std::optional<clock_ms> acked;
    std::optional<std::string> acked_by;
    std::uint64_t n = 0;  ///< row number: increases with every alert raised (set when read)
};

/// A full registry sync sent in parts (registry_upsert with sync_id, part, parts).
struct registry_sync_row {
    std::string sync_id;
    std::uint64_t parts = 0;
    clock_ms started{};  ///< the `ts` of the first part seen
    bool completed = false;
};

/// A stored command result.
struct command_row {
    srv_cmd_type type{};
    std::string result;
    std::optional<std::string> detail;
    std::optional<std::uint64_t> record_index;
};

/// One outbox row as the pump sends it.
struct outbox_row {
    std::uint64_t seq = 0;
    std::string kind;
    clock_ms ts{};
    std::string body;  ///< compact JSON of the event body
};

/// A range of seqs dropped by the outbox bound policy.
struct seq_range {
    std::uint64_t from = 0, to = 0;
};

/// A transfer order the server sent: a hand-over waiting for the courier's badge (source), or
/// an arrival expected at a dock (destination).
struct transfer_order_row {
    std::string transfer_id;
    std::string device_id;
    transfer_step step = transfer_step::hand_over;
    std::string from_city;
    std::string to_city;
    std::optional<device_record> device;  ///< receive: the record to register on arrival
};

class city_ledger {
  public:
    /// Opens (creating when missing) and migrates the ledger. `busy_timeout` bounds how long a
    /// write waits for another process's lock before failing as unavailable.
    static result<city_ledger> open(const std::string& path,
                                    std::chrono::milliseconds busy_timeout);

    store::database& db() noexcept { return db_; }
    result<store::transaction> begin() { return store::transaction::begin(db_); }

    // --- meta (bd_seq, acked_upto) ---
    result<std::optional<std::int64_t>> meta(std::string_view key);
    result<void> set_meta(std::string_view key, std::int64_t value);

    // --- registry ---
    result<void> upsert_device(const device_record& d);
    /// full_sync: marks every registered device not in `keep` as unregistered.
    result<void> unregister_devices_except(const std::vector<std::string>& keep);
    result<void> upsert_person(const person_record& p);
    result<void> delete_people_except(const std::vector<std::string>& keep);
    // --- a full registry sync in parts ---
    result<std::optional<registry_sync_row>> find_sync(std::string_view sync_id);
    /// The sync started last (the completed one, or one in progress).
    result<std::optional<registry_sync_row>> latest_sync();
    /// Starts holding parts of `sync_id`, forgetting any other sync in progress.
    result<void> start_sync(std::string_view sync_id, std::uint64_t parts, clock_ms started);
    /// Records a part and the ids it listed; returns how many parts of the sync are held now.
    result<std::uint64_t> add_sync_part(std::string_view sync_id, std::uint64_t part,
                                        const std::vector<std::string>& devices,
                                        const std::vector<std::string>& people);
    /// All parts are held: unregisters the devices and deletes the people no part listed
    /// (custody is kept) and marks the sync completed.
    result<void> complete_sync(std::string_view sync_id);

    result<std::optional<device_row>> find_device(std::string_view id);
    /// Inserts an unregistered row for a device seen on the broker; true when it was new.
    result<bool> note_device_seen(std::string_view id, clock_ms now);
    result<void> set_liveness(std::string_view id, bool online, std::uint64_t bd_seq,
                              const std::optional<device_class>& cls,
                              const std::optional<std::string>& model,
                              const std::optional<std::string>& fw, clock_ms now);
    result<void> touch_devices(const std::vector<std::pair<std::string, clock_ms>>& seen);
    /// Devices (custody joined in) in id order, handed one at a time to `visit` straight from
    /// the cursor (10,000 devices never sit in memory at once); stops early when `visit`
    /// returns false or an error, which is passed on.
    result<void> for_each_device(
        const device_filter& filter,
        const std::function<result<bool>(const device_row&, const custody_row&)>& visit);
    result<std::optional<person_record>> find_person_by_badge(std::string_view badge);
    /// People with this login name, with their password hashes.
    result<std::vector<person_record>> people_named(std::string_view name);

    // --- login sessions (tokens stored as their SHA-256) ---
    result<void> insert_session(std::string_view token_hash, std::string_view person_id,
                                clock_ms expires);
    /// The person of an unexpired session (as stored now: role, city, active), if any.
    result<std::optional<person_record>> session_person(std::string_view token_hash, clock_ms now);
    result<void> delete_sessions_of(std::string_view person_id);
    /// Removes expired sessions and those of people no longer active or no longer listed.
    result<void> prune_sessions(clock_ms now);
    result<std::optional<person_record>> find_person(std::string_view id);
    result<std::int64_t> count_devices();

    // --- custody and the hash chain ---
    /// Custody of a device; a device never seen in custody is available.
    // --- transfer orders ---
    result<void> add_transfer_order(const transfer_order_row& o);
    /// The open order of `step` for a device (the oldest transfer first).
    result<std::optional<transfer_order_row>> transfer_order_of(std::string_view device_id,
                                                                transfer_step step);
    /// Withdraws a transfer's orders (of one device, or all); returns how many.
    result<std::size_t> remove_transfer_orders(std::string_view transfer_id,
                                               const std::optional<std::string>& device_id);
    /// Registered, available, unlocked devices of a class (and analyte) that no order holds.
    result<std::vector<std::string>> transfer_candidates(device_class cls,
                                                         std::optional<analyte> analyte_type);
    /// A device registered to another city now: it leaves this city's registry (kept, with
    /// its new city, for its history).
    result<void> device_left(const device_record& d);

    result<custody_row> load_custody(std::string_view device_id);
    result<void> save_custody(std::string_view device_id, const custody_row& c);
    /// (next index, hash of the last record or the genesis prev_hash).
    result<std::pair<std::uint64_t, std::string>> ledger_head();
    result<void> append_ledger(const custody_record& r);
    /// The device's ledger records in index order: all of them, or at most `limit` after
    /// index `after`.
    result<std::vector<custody_record>> device_ledger(
        std::string_view device_id, std::optional<std::uint64_t> after = std::nullopt,
        std::size_t limit = std::numeric_limits<std::size_t>::max());
    /// Feeds every record in index order to `visit`; stops early when it returns false.
    result<void> scan_ledger(const std::function<bool(const custody_record&)>& visit);

    // --- reservations ---
    result<void> upsert_reservation(const reservation_record& r);
    /// True when the reservation was known.
    result<bool> cancel_reservation(std::string_view id);
    result<std::vector<reservation>> device_reservations(std::string_view device_id);

    // --- telemetry ---
    result<void> upsert_latest(std::string_view device_id, const telemetry_latest& t);
    result<std::vector<telemetry_latest_row>> all_latest();
    result<void> insert_minute(const telemetry_summary_body& s);
    /// Removes aggregates older than `before`; returns how many.
    result<std::int64_t> prune_minutes(clock_ms before);
    /// Removes processed ids older than `before` (the replay window).
    result<void> prune_processed(clock_ms before);

    // --- alerts ---
    result<void> insert_alert(const alert_row& a);
    result<void> clear_alert(std::string_view alert_id, clock_ms at);
    result<bool> ack_alert(std::string_view alert_id, clock_ms at, std::string_view by);
    /// Alerts, newest first: at most `limit`, below row number `before` when given.
    result<std::vector<alert_row>> alerts(bool include_cleared, std::size_t limit,
                                          std::optional<std::uint64_t> before = std::nullopt);
    result<std::optional<alert_row>> find_alert(std::string_view alert_id);

    // --- idempotency ---
    result<std::optional<std::string>> event_result(std::string_view client_id,
                                                    std::string_view event_id);
    result<void> record_event(std::string_view client_id, std::string_view event_id,
                              std::string_view result, clock_ms now);
    result<std::optional<command_row>> command_result(std::string_view cmd_id);
    result<void> record_command(std::string_view cmd_id, const command_row& c, clock_ms now);

    // --- outbox ---
    /// Appends an event; returns its seq (AUTOINCREMENT: never reused, even after deletes).
    result<std::uint64_t> outbox_append(std::string_view kind, clock_ms ts, std::string_view body);
    result<std::vector<outbox_row>> outbox_from(std::uint64_t first_seq, std::size_t limit);
    result<void> outbox_delete_upto(std::uint64_t seq);
    /// (rows, bytes of bodies).
    result<std::pair<std::uint64_t, std::uint64_t>> outbox_stats();
    /// The highest seq ever handed out (0 when none).
    result<std::uint64_t> outbox_last_seq();
    /// Oldest telemetry summaries: (seq, bytes, ts), at most `limit`.
    result<std::vector<std::tuple<std::uint64_t, std::uint64_t, clock_ms>>> outbox_oldest_droppable(
        std::size_t limit);
    result<void> outbox_delete(std::uint64_t seq);
    result<void> skipped_add(seq_range r);
    result<std::vector<seq_range>> skipped_all();
    result<void> skipped_delete_upto(std::uint64_t seq);

  private:
    explicit city_ledger(store::database db) : db_(std::move(db)) {}
    result<void> drop_syncs_except(std::string_view keep);
    store::database db_;
};

}  // namespace eqm::gateway
