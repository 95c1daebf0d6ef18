#pragma once
/// The regional read model behind one interface. Handlers and the ingest path talk only to
/// `region_store`; `open_sqlite_region_store` is the embedded engine (SQLite, WAL, versioned
/// migrations), the only one today; the interface exists so that another engine can be added
/// (ARCHITECTURE.md, "Scale path", plans PostgreSQL).
///
/// Every method is safe to call from any thread. Every write is one transaction: a method that
/// fails leaves the store exactly as it was.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eqm/domain/booking.hpp"
#include "eqm/domain/booking_request.hpp"
#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/reservation_rules.hpp"
#include "eqm/domain/time.hpp"
#include "planning_records.hpp"
#include "transfer_model.hpp"

namespace eqm::server {

/// The latest one-minute telemetry summary of a device.
struct telemetry_view {
    clock_ms minute{};
    std::uint64_t count = 0;
    double battery_pct_min = 0;
    double battery_pct_last = 0;
    double storage_free_mb_last = 0;
    double temp_c_max = 0;
    std::optional<gps_fix> gps;
};

/// A device as the region sees it: its registry record, custody and last report.
struct device_view {
    device_record record;
    custody_state status = custody_state::available;
    std::optional<std::string> holder;
    std::optional<clock_ms> due;
    bool online = false;
    bool locked = false;
    std::optional<std::string> fw;
    std::optional<clock_ms> last_seen;
    std::optional<telemetry_view> telemetry;
};

/// One page of a list to read (ARCHITECTURE.md: lists are pages in a stable order): at most
/// `limit` items after the item whose key is `after` (none: from the start).
struct page_query {
    std::size_t limit = 100;
    std::optional<std::string> after;
};

/// A page read: its items and, when more follow, the key of its last item (what the next
/// page_query's `after` is). Keys are the store's own; the REST layer wraps them in cursors.
template <class T>
struct page {
    std::vector<T> items;
    std::optional<std::string> next_key;
};

/// Filters of GET /devices; empty fields match everything.
struct device_filter {
    std::optional<std::string> city;
    std::optional<std::string> cls;
    std::optional<std::string> status;
};

/// Which custody history of a device to read (GET /devices/{id}/custody), newest first.
struct custody_query {
    page_query page;
    /// Only what this person held: the records that gave them the device and the one that
    /// ended their holding. None: every record.
    std::optional<std::string> held_by;
};

/// Filters of GET /alerts.
struct alert_filter {
    std::optional<std::string> city;
    bool raised_only = true;
};

/// One custody ledger record as the server keeps it.
struct custody_entry {
    std::string city;
    custody_record record;
    bool verified = true;  ///< false: it came after a break of its city's chain
};

/// An alert, raised by a gateway or by the server itself (ledger_broken).
struct alert_view {
    std::string id;
    std::string city;
    alert_type type{};
    alert_state state{};
    alert_severity severity{};
    std::string detail;
    std::optional<std::string> device_id;
    clock_ms raised_at{};
    clock_ms updated_at{};
    std::optional<std::string> acked_by;
    std::optional<clock_ms> acked_at;
};

/// A city gateway's link state.
struct gateway_view {
    std::string city;
    std::optional<std::string> gw_id;
    bool online = false;
    std::uint64_t bd_seq = 0;
    std::optional<std::string> version;
    std::optional<clock_ms> last_seen;
    std::uint64_t applied_seq = 0;
};

/// A user of the REST API.
struct user_account {
    std::string id;
    std::string name;
    person_role role = person_role::officer;
    std::optional<std::string> city;
    std::optional<std::string> badge;
    /// Cities besides the home city whose docks accept the badge (sorted, without the home city).
    std::vector<std::string> badge_cities;
    bool active = true;
    std::string password_hash;  ///< argon2id string (crypto_pwhash_str)
    /// Set by a password reset: until the person chooses a new password (POST
    /// /api/v1/auth/password) their token opens nothing else.
    bool must_change_password = false;
};

/// Filters of GET /people; empty fields match everyone.
struct person_filter {
    std::optional<std::string> role;
    /// People of this home city, or whose badge is allowed in it.
    std::optional<std::string> city;
    std::optional<bool> active;
};

/// A command waiting in the outbox for its gateway's command_result.
struct outbox_entry {
    std::string cmd_id;
    std::string city;
    std::string type;
    std::string payload;  ///< the srv_cmd JSON text, published as is
    std::uint32_t attempts = 0;
};

/// One gw/events batch to apply.
struct batch_input {
    std::string city;  ///< from the topic; the caller checked that batch.gw_id is its gateway
    gw_events batch;   ///< its `skipped` ranges count as delivered, not as a gap
    clock_ms now{};
};

/// An event of a batch that was not applied because it speaks of what is not its city's: a
/// device registered to another city, another city's command or alert, an alert the server
/// raised. Its seq still counts as delivered (the city moves on); it is kept as a dead letter.
struct refused_event {
    std::uint64_t seq = 0;
    gw_event_kind kind{};
    std::string reason;
};

/// What applying a batch did. Everything here is committed.
struct batch_outcome {
    std::uint64_t upto_seq = 0;                ///< every event up to it is applied
    std::optional<std::uint64_t> resend_from;  ///< a gap: the first missing seq
    std::size_t applied = 0;
    std::size_t duplicates = 0;
    std::vector<std::string> changed_devices;  ///< custody or link state changed
    std::vector<alert_view> alerts;            ///< raised, cleared, or ledger breaks
    std::vector<command_result_body> command_results;
    std::vector<refused_event> refused;
    /// Custody records that handed over or received a unit of a transfer.
    std::vector<transfer_move> transfer_moves;
};

/// Why a message is in the dead-letter table.
enum class dead_letter_kind {
    malformed,    ///< not a message of the contract; not acked
    quarantined,  ///< a gw_events batch that cannot be read but whose seqs can: acked, kept whole
    refused,      ///< readable, but not this sender's to say (see refused_event)
};
std::string_view to_string(dead_letter_kind k) noexcept;

/// A message the server could not or would not apply, kept for an operator. Repeats (the same
/// topic and reason, or the same quarantined seq range) count on one row.
struct dead_letter {
    dead_letter_kind kind = dead_letter_kind::malformed;
    std::string topic;
    std::string payload;
    std::string reason;  ///< `field: message`
    std::optional<std::string> city;
    std::optional<std::string> gw_id;
    std::optional<std::uint64_t> from_seq;
    std::optional<std::uint64_t> to_seq;
};

/// What quarantining a batch did.
struct quarantine_outcome {
    /// The batch is (now or already) in the dead-letter table and its seqs count as delivered.
    bool quarantined = false;
    std::uint64_t upto_seq = 0;                ///< the gateway's applied seq afterwards
    std::optional<std::uint64_t> resend_from;  ///< seqs before the batch are missing
};

/// What a gw/state message did.
enum class gateway_transition {
    came_online,   ///< a birth
    went_offline,  ///< a Last Will matching the live session
    stale_will,    ///< a Last Will of an older session: ignored
};

// --- reservations (docs/reservations.md) ---------------------------------------------------

/// Filters of GET /reservations; empty fields match everything. `from`/`to`: bookings whose
/// window overlaps [from, to).
struct booking_filter {
    std::optional<std::string> city;
    std::optional<reservation_status> status;
    std::optional<std::string> person_id;
    std::optional<std::string> device_id;  ///< named, or the unit a class booking was bound to
    std::optional<clock_ms> from;
    std::optional<clock_ms> to;
};

/// A booking the store changed on its own (timers, custody records), with an alert it raised
/// (overdue), for the caller to publish and push to the city's gateway.
struct booking_change {
    booking after;
    std::optional<alert_view> alert;
};

/// Free units of a class (and analyte) at a city over a span: `steps` are the instants where
/// the number changes, each with the number free from it until the next (GET
/// /reservations/availability).
struct availability_step {
    clock_ms at{};
    std::int64_t free = 0;
};
struct availability_view {
    std::size_t units = 0;  ///< serviceable units of the class at the city
    std::chrono::minutes buffer{0};
    std::vector<availability_step> steps;
};

/// The storage interface of the dispatcher.
class region_store {
  public:
    virtual ~region_store() = default;

    /// A number that grows after every write to devices, custody, telemetry, alerts, gateways
    /// or users (bumped once the write has committed or rolled back). A reader that takes it
    /// before a query and finds it unchanged later knows its answer is still current: read
    /// caches key on it.
    virtual std::uint64_t revision() const noexcept = 0;

    /// A number that changes when another process commits to the store, such as
    /// `eqm-server user add` run while the server is up (SQLite's PRAGMA data_version).
    virtual result<std::int64_t> external_version() = 0;

    // --- registry ------------------------------------------------------------------------
    /// Adds a device; errc::conflict when the id exists.
    virtual result<void> insert_device(const device_record& d, clock_ms now) = 0;
    /// Adds several devices, all or none (errc::conflict naming the first existing id).
    virtual result<void> insert_devices(std::span<const device_record> devices, clock_ms now) = 0;
    /// Replaces a device's registry record; errc::not_found when unknown.
    virtual result<void> update_device(const device_record& d, clock_ms now) = 0;
    virtual result<std::optional<device_view>> find_device(std::string_view id) = 0;
    /// Devices matching `filter`, by id.
    virtual result<page<device_view>> list_devices(const device_filter& filter,
                                                   const page_query& page) = 0;
    /// The devices of `ids` that exist, in id order, read in one query (the WebSocket feed
    /// renders every device a batch changed).
    virtual result<std::vector<device_view>> find_devices(std::span<const std::string> ids) = 0;
    /// The registry records of the devices of a city (for a full registry sync).
    virtual result<std::vector<device_record>> registry_of_city(std::string_view city) = 0;
    /// The active people a city's gateway needs: those with a badge who may take equipment in
    /// `city` (its own users and the region-wide ones), and those who may log in to its kiosk
    /// page while the centre is away, with their argon2id `password_hash`: the city's
    /// custodians, every dispatcher and admin. Officers never carry a password hash.
    virtual result<std::vector<person_record>> people_for_city(std::string_view city) = 0;
    /// Which device ids of `ids` exist already.
    virtual result<std::vector<std::string>> existing_device_ids(
        std::span<const std::string> ids) = 0;

    // --- custody -------------------------------------------------------------------------
    /// A device's custody history, newest first (by record time, then by arrival).
    virtual result<page<custody_entry>> custody_of_device(std::string_view id,
                                                          const custody_query& query) = 0;

    // --- ingest --------------------------------------------------------------------------
    /// Applies batches in one transaction (one commit for all of them), in the given order;
    /// each batch is applied in seq order, each event once (by seq), stopping at a gap; custody
    /// records are checked against the city's hash chain. Each batch runs in its own savepoint:
    /// one that fails is rolled back alone and reported in its slot, the others commit. Events
    /// that are not the city's to report are refused (batch_outcome::refused) and dead-lettered.
    virtual std::vector<result<batch_outcome>> apply_batches(std::span<const batch_input> in) = 0;
    /// apply_batches for one batch.
    result<batch_outcome> apply_batch(const batch_input& in) {
        auto r = apply_batches(std::span<const batch_input>(&in, 1));
        return std::move(r.front());
    }
    /// Applies a gw/state birth or Last Will with the bd_seq rule. A birth binds its gw_id to the
    /// city; errc::conflict when that gw_id is already the gateway of another city.
    virtual result<gateway_transition> apply_gateway_state(std::string_view city, const gw_state& s,
                                                           clock_ms now) = 0;
    /// Keeps a message an operator should look at (a repeat counts on its existing row).
    virtual result<void> record_dead_letter(const dead_letter& d, clock_ms now) = 0;
    /// Quarantines an unreadable batch of `d.gw_id` covering `d.from_seq..d.to_seq` (both set):
    /// kept once as a dead letter and counted as delivered, in one transaction, unless seqs
    /// before it are missing (then nothing changes and resend_from says where to resume).
    virtual result<quarantine_outcome> quarantine_batch(const dead_letter& d, clock_ms now) = 0;
    /// Deletes dead letters last received before `before`, then the oldest beyond `max_rows`;
    /// returns how many went.
    virtual result<std::uint64_t> prune_dead_letters(clock_ms before, std::uint64_t max_rows) = 0;
    virtual result<std::uint64_t> dead_letter_count() = 0;
    virtual result<std::vector<gateway_view>> gateways() = 0;
    virtual result<std::optional<gateway_view>> gateway(std::string_view city) = 0;

    // --- alerts --------------------------------------------------------------------------
    /// Alerts, newest raised first (then by id, descending).
    virtual result<page<alert_view>> list_alerts(const alert_filter& filter,
                                                 const page_query& page) = 0;
    virtual result<std::optional<alert_view>> find_alert(std::string_view id) = 0;
    /// Marks an alert acknowledged; errc::not_found when unknown.
    virtual result<alert_view> ack_alert(std::string_view id, std::string_view by,
                                         clock_ms now) = 0;

    // --- users and tokens ----------------------------------------------------------------
    /// errc::conflict when the name or badge is taken.
    virtual result<void> insert_user(const user_account& u) = 0;
    virtual result<std::optional<user_account>> find_user_by_name(std::string_view name) = 0;
    virtual result<void> insert_token(std::string_view token_hash, std::string_view user_id,
                                      clock_ms expires_at) = 0;
    /// When a token expires (none when the token is unknown).
    virtual result<std::optional<clock_ms>> token_expiry(std::string_view token_hash) = 0;
    /// The active user a token hash belongs to, when it has not expired.
    virtual result<std::optional<user_account>> user_for_token(std::string_view token_hash,
                                                               clock_ms now) = 0;

    // --- command outbox ------------------------------------------------------------------
    virtual result<void> enqueue_command(const outbox_entry& e, clock_ms now) = 0;
    /// Puts the parts of a full registry sync of `city` in the outbox, in one transaction that
    /// also abandons ("superseded") the pending parts of older full syncs of that city.
    virtual result<void> enqueue_full_sync(std::string_view city,
                                           std::span<const outbox_entry> parts, clock_ms now) = 0;
    /// Abandons every pending command of `type` (custody requests nobody waits for any more);
    /// returns how many.
    virtual result<std::size_t> abandon_pending(std::string_view type, std::string_view reason,
                                                clock_ms now) = 0;
    /// Pending commands of the cities whose gateway is online, last sent before `sent_before`
    /// (or never), oldest first, at most `limit`.
    virtual result<std::vector<outbox_entry>> commands_to_resend(clock_ms sent_before,
                                                                 std::size_t limit) = 0;
    /// Commands of a city still waiting for their result, oldest first.
    virtual result<std::vector<outbox_entry>> pending_commands(std::string_view city) = 0;
    virtual result<void> mark_command_sent(std::string_view cmd_id, clock_ms now) = 0;
    /// Takes a command out of the outbox without a result (a custody request nobody waits
    /// for any more must not run hours later).
    virtual result<void> abandon_command(std::string_view cmd_id, std::string_view reason,
                                         clock_ms now) = 0;
    /// The stored result of a command ("ok", "rejected:x"), when it has one.
    virtual result<std::optional<std::string>> command_result(std::string_view cmd_id) = 0;

    // --- reservations (docs/reservations.md) -----------------------------------------------
    /// The rules table (the defaults for classes without a row of their own).
    virtual result<reservation_rules> reservation_rules_table() = 0;
    /// Replaces the rules table.
    virtual result<void> replace_reservation_rules(const reservation_rules& rules,
                                                   clock_ms now) = 0;
    /// Decides a request in one write transaction (requests are decided one at a time, so of
    /// two racing for the last unit exactly one is admitted): the booking stored, or the
    /// refusal with nothing stored (a class booking refused for lack of units is noted in
    /// booking_refusals, which the allocation reads).
    virtual result<booking_result<booking>> admit_reservation(const booking_request& request,
                                                              const booking_requester& who,
                                                              clock_ms now) = 0;
    virtual result<std::optional<booking>> find_booking(std::string_view id) = 0;
    /// Bookings matching `filter`, oldest first (by id).
    virtual result<page<booking>> list_bookings(const booking_filter& filter,
                                                const page_query& page) = 0;
    /// Applies an action (approve, decline, cancel) in one transaction; errc::not_found when
    /// unknown; the refusal leaves it as it was.
    virtual result<booking_result<booking>> act_on_booking(std::string_view id,
                                                           const booking_command& cmd,
                                                           clock_ms now) = 0;
    /// Moves bookings on: custody records received since the last call (a check-out naming a
    /// booking, or the booker's check-out of their booked device, makes it active; the unit's
    /// check-in completes it), then the timers due at `now` (no_show, lapse, overdue with an
    /// alert). Returns what changed.
    virtual result<std::vector<booking_change>> advance_bookings(clock_ms now) = 0;
    /// Free units of a class at a city over [from, to) (see availability_view).
    virtual result<availability_view> booking_availability(std::string_view city, device_class cls,
                                                           std::optional<eqm::analyte> analyte,
                                                           clock_ms from, clock_ms to,
                                                           clock_ms now) = 0;
    /// The person whose calendar feed the secret's SHA-256 opens, if any.
    virtual result<std::optional<std::string>> calendar_owner(std::string_view secret_hash) = 0;
    /// Sets (replacing any earlier) or, with nothing, revokes a person's calendar secret.
    virtual result<void> set_calendar_secret(std::string_view person_id,
                                             std::optional<std::string> secret_hash,
                                             clock_ms now) = 0;
    /// A person's bookings (any status) whose window ends after `since`, by start.
    virtual result<std::vector<booking>> bookings_of_person(std::string_view person_id,
                                                            clock_ms since) = 0;
    // --- planning: quotas, allocation plans, utilization (planning_records.hpp) ----------
    /// The quota table, by city, class and analyte.
    virtual result<std::vector<quota_entry>> quotas() = 0;
    /// Replaces the whole quota table in one transaction.
    virtual result<void> replace_quotas(std::span<const quota_entry> quotas, clock_ms now) = 0;
    /// Registered units per city, class and analyte (only groups with at least one unit).
    virtual result<std::vector<stock_count>> stock_counts() = 0;
    /// Units in transit per destination city, class and analyte.
    virtual result<std::vector<transit_count>> transit_counts() = 0;
    virtual result<void> insert_plan(const stored_plan& plan) = 0;
    virtual result<std::optional<stored_plan>> find_plan(std::string_view id) = 0;
    /// Records the approval of a plan not approved yet; errc::conflict when it already is,
    /// errc::not_found when there is no such plan.
    virtual result<void> approve_plan(std::string_view id, std::string_view by, clock_ms at,
                                      std::string_view approval) = 0;
    /// Every registered device, by id.
    virtual result<std::vector<device_brief>> device_briefs() = 0;
    /// Every custody record before `before`, by device and then by time, in one pass over an
    /// index (no record text is parsed).
    virtual result<void> scan_custody_states(
        clock_ms before, const std::function<void(const custody_state_row&)>& each) = 0;
    // --- people (REST) -------------------------------------------------------------------
    virtual result<std::optional<user_account>> find_user(std::string_view id) = 0;
    /// People matching `filter`, by id.
    virtual result<page<user_account>> list_users(const person_filter& filter,
                                                  const page_query& page) = 0;
    /// Replaces a user's name, role, city, badge, badge cities and active flag (not the
    /// password); errc::not_found when unknown, errc::conflict naming `name` or `badge` when
    /// another user has it. Deactivating deletes the user's tokens in the same transaction.
    virtual result<void> update_user(const user_account& u) = 0;
    /// Sets a user's password hash and must_change_password; deletes every token of the user
    /// but `keep_token_hash` (the login that chose the new password goes on).
    virtual result<void> set_password(std::string_view id, std::string_view password_hash,
                                      bool must_change,
                                      std::optional<std::string> keep_token_hash) = 0;
    // --- transfers -----------------------------------------------------------------------
    /// Adds transfers with their units, all or none (errc::conflict naming the first existing
    /// id).
    virtual result<void> insert_transfers(std::span<const transfer_view> transfers) = 0;
    virtual result<std::optional<transfer_view>> find_transfer(std::string_view id) = 0;
    /// Transfers matching `filter`, newest created first (then by id, descending).
    virtual result<page<transfer_view>> list_transfers(const transfer_filter& filter,
                                                       const page_query& page) = 0;
    /// Writes a transfer's status and its approval, cancellation and completion fields, and
    /// adds the units it does not have yet, when its status is still one of `expected`;
    /// errc::conflict naming `status` otherwise (someone else changed it first).
    virtual result<void> update_transfer(const transfer_view& t,
                                         std::span<const transfer_status> expected) = 0;
    /// The ids among `device_ids` that a unit of an open transfer holds (not yet arrived).
    virtual result<std::vector<std::string>> devices_in_open_transfers(
        std::span<const std::string> device_ids) = 0;
    /// Approved or in-transit transfers whose due time is before `now`.
    virtual result<std::vector<transfer_view>> transfers_past_due(clock_ms now) = 0;
    /// The payload of a command in the outbox (to learn which transfer a result answers).
    virtual result<std::optional<std::string>> command_payload(std::string_view cmd_id) = 0;
    /// Raises (or refreshes) an alert of the server's own, such as transfer_overdue.
    virtual result<alert_view> raise_server_alert(const alert_view& a) = 0;
};

/// Opens (creating and migrating) the SQLite engine at `path`.
result<std::unique_ptr<region_store>> open_sqlite_region_store(const std::filesystem::path& path);

}  // namespace eqm::server
