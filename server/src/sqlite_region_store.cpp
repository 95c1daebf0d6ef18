// The SQLite engine of region_store: one connection in WAL mode, guarded by a mutex, so every
// method is one short critical section and every write one transaction.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <set>

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/store/database.hpp"
#include "eqm/store/migration.hpp"
#include "people_sync.hpp"
#include "region_store.hpp"
#include "sqlite_booking_store.hpp"

namespace eqm::server {
namespace {

using nlohmann::json;
using store::database;
using store::statement;
using store::transaction;

// Versioned schema. A released migration is never edited: add the next one instead.
constexpr std::string_view schema_v1 = R"sql(
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  class TEXT NOT NULL,
  model TEXT NOT NULL,
  city TEXT NOT NULL,
  serial TEXT, analyte TEXT, calibration_due TEXT, registration_id TEXT,
  flight_hours REAL, battery_cycles INTEGER, retired INTEGER,
  status TEXT NOT NULL DEFAULT 'available',
  holder TEXT, due TEXT,
  online INTEGER NOT NULL DEFAULT 0,
  locked INTEGER NOT NULL DEFAULT 0,
  fw TEXT,
  last_seen TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX devices_by_city ON devices(city, class, status);
CREATE TABLE custody (
  city TEXT NOT NULL, idx INTEGER NOT NULL, hash TEXT NOT NULL,
  device_id TEXT NOT NULL, ts TEXT NOT NULL, record TEXT NOT NULL, verified INTEGER NOT NULL,
  PRIMARY KEY (city, idx, hash)
);
CREATE INDEX custody_by_device ON custody(device_id, ts);
CREATE TABLE ledger_heads (
  city TEXT PRIMARY KEY, next_index INTEGER NOT NULL, head_hash TEXT NOT NULL, broken_message TEXT
);
CREATE TABLE telemetry (
  device_id TEXT PRIMARY KEY, city TEXT NOT NULL, minute TEXT NOT NULL, count INTEGER NOT NULL,
  battery_pct_min REAL NOT NULL, battery_pct_last REAL NOT NULL,
  storage_free_mb_last REAL NOT NULL, temp_c_max REAL NOT NULL, gps TEXT
);
CREATE TABLE alerts (
  id TEXT PRIMARY KEY, city TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL,
  severity TEXT NOT NULL, detail TEXT NOT NULL, device_id TEXT,
  raised_at TEXT NOT NULL, updated_at TEXT NOT NULL, acked_by TEXT, acked_at TEXT
);
CREATE INDEX alerts_by_city ON alerts(city, state);
CREATE TABLE gateways (
  city TEXT PRIMARY KEY, gw_id TEXT, online INTEGER NOT NULL, bd_seq INTEGER NOT NULL,
  version TEXT, last_seen TEXT
);
CREATE TABLE gateway_seq (gw_id TEXT PRIMARY KEY, applied_seq INTEGER NOT NULL);
CREATE TABLE processed_msgs (
  gw_id TEXT NOT NULL, msg_id TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (gw_id, msg_id)
) WITHOUT ROWID;
CREATE TABLE users (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, city TEXT,
  badge TEXT UNIQUE, active INTEGER NOT NULL DEFAULT 1, password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE tokens (
  hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), expires_at TEXT NOT NULL
);
CREATE TABLE reservations (
  id TEXT PRIMARY KEY, device_id TEXT NOT NULL, person_id TEXT NOT NULL,
  start_ts TEXT NOT NULL, end_ts TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE transfers (
  id TEXT PRIMARY KEY, device_id TEXT NOT NULL, from_city TEXT NOT NULL, to_city TEXT NOT NULL,
  status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE outbox (
  cmd_id TEXT PRIMARY KEY, city TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
  created_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_sent_at TEXT,
  state TEXT NOT NULL DEFAULT 'pending', result TEXT, done_at TEXT
);
CREATE INDEX outbox_pending ON outbox(city, state, created_at);
CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL, reason TEXT NOT NULL,
  received_at TEXT NOT NULL
);
)sql";

// Old message ids are only needed while a gateway might still replay them; the seq check
// covers anything older than this window.
constexpr std::string_view schema_v2 = R"sql(
CREATE INDEX processed_msgs_by_seq ON processed_msgs(gw_id, seq);
CREATE INDEX tokens_by_expiry ON tokens(expires_at);
)sql";

// msg_id is `{gw_id}-{seq}` by contract (parse_gw_events refuses any other), so the applied
// seq per gateway already makes a replay, or the same event in another batch, change nothing:
// a table of processed msg_ids only cost two b-tree inserts per event.
constexpr std::string_view schema_v3 = R"sql(
DROP INDEX processed_msgs_by_seq;
DROP TABLE processed_msgs;
)sql";

// Ingest that a gateway cannot abuse and that never stalls a city: dead letters say what they
// are (a malformed message, a quarantined batch with its seq range, a refused event), repeat
// deliveries count on one row (dedupe_key) instead of adding rows, and old ones can be pruned by
// last_received_at. An alert remembers who raised it, so a gateway cannot clear the server's own
// (ledger_broken). Pending commands are found by type (custody requests abandoned at start-up).
constexpr std::string_view schema_v4 = R"sql(
ALTER TABLE dead_letters ADD COLUMN kind TEXT NOT NULL DEFAULT 'malformed';
ALTER TABLE dead_letters ADD COLUMN city TEXT;
ALTER TABLE dead_letters ADD COLUMN gw_id TEXT;
ALTER TABLE dead_letters ADD COLUMN from_seq INTEGER;
ALTER TABLE dead_letters ADD COLUMN to_seq INTEGER;
ALTER TABLE dead_letters ADD COLUMN dedupe_key TEXT;
ALTER TABLE dead_letters ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE dead_letters ADD COLUMN last_received_at TEXT;
UPDATE dead_letters SET last_received_at = received_at;
CREATE UNIQUE INDEX dead_letters_by_key ON dead_letters(dedupe_key);
CREATE INDEX dead_letters_by_age ON dead_letters(last_received_at);
ALTER TABLE alerts ADD COLUMN origin TEXT NOT NULL DEFAULT 'gateway';
UPDATE alerts SET origin = 'server' WHERE type = 'ledger_broken' AND id LIKE 'ledger-%';
CREATE INDEX outbox_by_type ON outbox(type, state);
)sql";

// The planning side (docs/allocation.md): standard-issue quotas, allocation plans with their
// input and approval, and the custody states the utilization report walks. The two virtual
// columns read a record's to_state and due out of its JSON; indexed with the device and time,
// a year of the region's history is read in one pass over the index, no record text parsed.
constexpr std::string_view schema_planning = R"sql(
CREATE TABLE quotas (
  city TEXT NOT NULL, class TEXT NOT NULL, analyte TEXT NOT NULL DEFAULT '',
  min_ready INTEGER NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (city, class, analyte)
) WITHOUT ROWID;
CREATE TABLE allocation_plans (
  id TEXT PRIMARY KEY, input TEXT NOT NULL, plan TEXT NOT NULL, requested_by TEXT NOT NULL,
  created_at TEXT NOT NULL, approved_by TEXT, approved_at TEXT, approval TEXT
);
ALTER TABLE custody ADD COLUMN to_state TEXT
  GENERATED ALWAYS AS (json_extract(record, '$.to_state')) VIRTUAL;
ALTER TABLE custody ADD COLUMN due_ts TEXT
  GENERATED ALWAYS AS (json_extract(record, '$.due')) VIRTUAL;
CREATE INDEX custody_states ON custody(device_id, ts, to_state, city, due_ts);
)sql";

// Transfers between cities: one row per transfer (what was asked, who decided, when) and one per
// unit it moves (a named device, or one the source gateway picked for a count), which the
// ingest follows from the hand-over to the arrival. Replaces the unused skeleton table.
constexpr std::string_view schema_transfers = R"sql(
DROP TABLE transfers;
CREATE TABLE transfers (
  id TEXT PRIMARY KEY, from_city TEXT NOT NULL, to_city TEXT NOT NULL, status TEXT NOT NULL,
  items TEXT NOT NULL, units_asked INTEGER NOT NULL, due TEXT NOT NULL, reason TEXT NOT NULL,
  created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  approved_by TEXT, approved_at TEXT, cancelled_by TEXT, completed_at TEXT
);
CREATE INDEX transfers_by_from ON transfers(from_city, status);
CREATE INDEX transfers_by_to ON transfers(to_city, status);
CREATE INDEX transfers_by_created ON transfers(created_at, id);
CREATE TABLE transfer_units (
  transfer_id TEXT NOT NULL REFERENCES transfers(id), device_id TEXT NOT NULL,
  class TEXT NOT NULL, analyte TEXT, state TEXT NOT NULL, courier TEXT,
  handed_over_at TEXT, arrived_at TEXT,
  PRIMARY KEY (transfer_id, device_id)
);
CREATE INDEX transfer_units_by_device ON transfer_units(device_id, state);
)sql";

// People over REST: the cities besides the home city where a badge opens the docks (a JSON
// array of codes), and the one-time password that must be changed before anything else.
constexpr std::string_view schema_people = R"sql(
ALTER TABLE users ADD COLUMN badge_cities TEXT;
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
)sql";

constexpr std::array<store::migration, 8> migrations{{
    {1, "regional read model", schema_v1},
    {2, "idempotency and token expiry indexes", schema_v2},
    {3, "idempotency by the applied seq alone", schema_v3},
    {4, "trusted ingest: dead-letter kinds and retention, alert origin", schema_v4},
    {5, "reservations: bookings, rules, refusals for lack of units, calendar links",
     booking_sql::schema},
    {6, "planning: quotas, allocation plans, custody states", schema_planning},
    {7, "transfers and their units", schema_transfers},
    {8, "people over REST: badge cities, one-time passwords", schema_people},
}};

std::string text_ts(clock_ms t) {
    return format_timestamp(t);
}

/// The custody row's JSON: the record's wire form.
std::string record_text(const custody_record& r) {
    if (auto text = custody_record_text(r)) return std::move(*text);
    return to_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<clock_ms> read_ts(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    auto t = parse_timestamp(*s);
    if (!t) return std::nullopt;
    return *t;
}

/// A stored timestamp (always the contract's "2026-11-26T08:30:00.000Z", written by
/// format_timestamp) read without the general parser: the utilization report reads a million.
clock_ms fast_ts(std::string_view s) {
    if (s.size() != 24 || s[4] != '-' || s[10] != 'T' || s[19] != '.')
        return read_ts(std::string(s)).value_or(clock_ms{});
    auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
        return v;
    };
    using namespace std::chrono;
    const sys_days day = year{num(0, 4)} / num(5, 2) / num(8, 2);
    return clock_ms(day.time_since_epoch()) + hours(num(11, 2)) + minutes(num(14, 2)) +
           seconds(num(17, 2)) + milliseconds(num(20, 3));
}

template <class... Ts>
result<void> run(database& db, std::string_view sql, const Ts&... values) {
    EQM_TRY_LET(st, db.prepare(sql));
    if (auto b = st.bind_all(values...); !b) return b;
    return st.exec();
}

/// Runs a query, calling `on_row(statement&)` for every row.
template <class F, class... Ts>
result<void> each_row(database& db, std::string_view sql, F&& on_row, const Ts&... values) {
    EQM_TRY_LET(st, db.prepare(sql));
    if (auto b = st.bind_all(values...); !b) return b;
    for (;;) {
        EQM_TRY_LET(more, st.step());
        if (!more) break;
        on_row(st);
    }
    return {};
}

constexpr std::string_view device_columns = R"sql(
SELECT d.id, d.class, d.model, d.city, d.serial, d.analyte, d.calibration_due,
       d.registration_id, d.flight_hours, d.battery_cycles, d.retired,
       d.status, d.holder, d.due, d.online, d.locked, d.fw, d.last_seen,
       t.minute, t.count, t.battery_pct_min, t.battery_pct_last, t.storage_free_mb_last,
       t.temp_c_max, t.gps
FROM devices d LEFT JOIN telemetry t ON t.device_id = d.id
)sql";

device_record read_record(const statement& st) {
    device_record r;
    r.id = st.column_text(0);
    r.cls = parse_device_class(st.column_text(1)).value_or(device_class::body_camera);
    r.model = st.column_text(2);
    r.city = st.column_text(3);
    r.serial = st.column_optional_text(4);
    if (auto a = st.column_optional_text(5)) r.analyte = parse_analyte(*a);
    if (auto c = st.column_optional_text(6)) {
        if (auto d = parse_date(*c)) r.calibration_due = *d;
    }
    r.registration_id = st.column_optional_text(7);
    r.flight_hours = st.column_optional_double(8);
    if (auto b = st.column_optional_int64(9)) r.battery_cycles = static_cast<std::uint64_t>(*b);
    if (auto b = st.column_optional_int64(10)) r.retired = *b != 0;
    return r;
}

device_view read_device(const statement& st) {
    device_view v;
    v.record = read_record(st);
    v.status = parse_custody_state(st.column_text(11)).value_or(custody_state::available);
    v.holder = st.column_optional_text(12);
    v.due = read_ts(st.column_optional_text(13));
    v.online = st.column_int64(14) != 0;
    v.locked = st.column_int64(15) != 0;
    v.fw = st.column_optional_text(16);
    v.last_seen = read_ts(st.column_optional_text(17));
    if (auto minute = read_ts(st.column_optional_text(18))) {
        telemetry_view t;
        t.minute = *minute;
        t.count = static_cast<std::uint64_t>(st.column_int64(19));
        t.battery_pct_min = st.column_double(20);
        t.battery_pct_last = st.column_double(21);
        t.storage_free_mb_last = st.column_double(22);
        t.temp_c_max = st.column_double(23);
        if (auto g = st.column_optional_text(24)) {
            auto j = json::parse(*g, nullptr, false);
            if (!j.is_discarded()) {
                if (auto fix = from_json_gps_fix(j)) t.gps = *fix;
            }
        }
        v.telemetry = t;
    }
    return v;
}

alert_view read_alert(const statement& st) {
    alert_view a;
    a.id = st.column_text(0);
    a.city = st.column_text(1);
    a.type = parse_alert_type(st.column_text(2)).value_or(alert_type::device_offline);
    a.state = parse_alert_state(st.column_text(3)).value_or(alert_state::raised);
    a.severity = parse_alert_severity(st.column_text(4)).value_or(alert_severity::warning);
    a.detail = st.column_text(5);
    a.device_id = st.column_optional_text(6);
    a.raised_at = read_ts(st.column_optional_text(7)).value_or(clock_ms{});
    a.updated_at = read_ts(st.column_optional_text(8)).value_or(clock_ms{});
    a.acked_by = st.column_optional_text(9);
    a.acked_at = read_ts(st.column_optional_text(10));
    return a;
}
constexpr std::string_view alert_columns =
    "SELECT id, city, type, state, severity, detail, device_id, raised_at, updated_at, "
    "acked_by, acked_at FROM alerts";

user_account read_user(const statement& st) {
    user_account u;
    u.id = st.column_text(0);
    u.name = st.column_text(1);
    u.role = parse_person_role(st.column_text(2)).value_or(person_role::officer);
    u.city = st.column_optional_text(3);
    u.badge = st.column_optional_text(4);
    u.active = st.column_int64(5) != 0;
    u.password_hash = st.column_text(6);
    if (auto cities = st.column_optional_text(7)) {
        auto j = json::parse(*cities, nullptr, false);
        if (j.is_array())
            for (const auto& c : j)
                if (c.is_string()) u.badge_cities.push_back(c.get<std::string>());
    }
    u.must_change_password = st.column_int64(8) != 0;
    return u;
}
constexpr std::string_view user_columns =
    "SELECT u.id, u.name, u.role, u.city, u.badge, u.active, u.password_hash, u.badge_cities, "
    "u.must_change_password FROM users u";

/// The badge cities column: a JSON array, or NULL when there are none.
std::optional<std::string> badge_cities_text(const user_account& u) {
    if (u.badge_cities.empty()) return std::nullopt;
    return json(u.badge_cities).dump();
}

gateway_view read_gateway(const statement& st) {
    gateway_view g;
    g.city = st.column_text(0);
    g.gw_id = st.column_optional_text(1);
    g.online = st.column_int64(2) != 0;
    g.bd_seq = static_cast<std::uint64_t>(st.column_int64(3));
    g.version = st.column_optional_text(4);
    g.last_seen = read_ts(st.column_optional_text(5));
    g.applied_seq = static_cast<std::uint64_t>(st.column_int64(6));
    return g;
}
constexpr std::string_view gateway_columns =
    "SELECT g.city, g.gw_id, g.online, g.bd_seq, g.version, g.last_seen, "
    "COALESCE(s.applied_seq, 0) FROM gateways g LEFT JOIN gateway_seq s ON s.gw_id = g.gw_id";

/// Binds a device record's registry columns as parameters 2..12 after the id at 1.
result<void> bind_record(statement& st, const device_record& d) {
    std::optional<std::string> analyte_name;
    if (d.analyte) analyte_name = std::string(to_string(*d.analyte));
    std::optional<std::string> cal;
    if (d.calibration_due) cal = format_date(*d.calibration_due);
    std::optional<std::int64_t> cycles;
    if (d.battery_cycles) cycles = static_cast<std::int64_t>(*d.battery_cycles);
    std::optional<std::int64_t> retired;
    if (d.retired) retired = *d.retired ? 1 : 0;
    return st.bind_all(d.id, std::string(to_string(d.cls)), d.model, d.city, d.serial, analyte_name,
                       cal, d.registration_id, d.flight_hours, cycles, retired);
}

/// The LIMIT of a page query: one more than asked, to know whether another page follows.
std::int64_t one_more(const page_query& q) {
    return static_cast<std::int64_t>(q.limit) + 1;
}

/// Trims the extra item a query read (see one_more) and keys the page on its last item.
template <class T, class Key>
page<T> finish_page(page<T> p, const page_query& q, Key&& key_of) {
    if (p.items.size() > q.limit) {
        p.items.resize(q.limit);
        if (!p.items.empty()) p.next_key = key_of(p.items.back());
    }
    return p;
}

/// A custody page key: the record time as stored and the row id, `ts|rowid`.
result<std::pair<std::string, std::int64_t>> split_custody_key(std::string_view key) {
    const auto bar = key.rfind('|');
    if (bar == std::string_view::npos || !parse_timestamp(key.substr(0, bar)))
        return fail(errc::bad_field, "cursor", "is not a cursor of this list");
    std::int64_t row = 0;
    const auto digits = key.substr(bar + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), row);
    if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty())
        return fail(errc::bad_field, "cursor", "is not a cursor of this list");
    return std::pair<std::string, std::int64_t>{std::string(key.substr(0, bar)), row};
}

// A device's custody history, newest first; ?2 is unused (NULL) in the first, the person
// whose holdings are asked for in the second: the records that made them the holder, and
// the record right after each (the one that ended the holding).
constexpr std::string_view sql_custody_all =
    "SELECT city, record, verified, ts, rowid FROM custody WHERE device_id = ?1 AND ?2 IS NULL"
    " AND (?3 IS NULL OR ts < ?3 OR (ts = ?3 AND rowid < ?4)) ORDER BY ts DESC, rowid DESC"
    " LIMIT ?5";
constexpr std::string_view sql_custody_held_by =
    "WITH h AS (SELECT city, record, verified, ts, rowid AS rid,"
    " json_extract(record, '$.holder') AS holder,"
    " LAG(json_extract(record, '$.holder')) OVER (ORDER BY ts, rowid) AS holder_before"
    " FROM custody WHERE device_id = ?1)"
    " SELECT city, record, verified, ts, rid FROM h WHERE (holder = ?2 OR holder_before = ?2)"
    " AND (?3 IS NULL OR ts < ?3 OR (ts = ?3 AND rid < ?4)) ORDER BY ts DESC, rid DESC"
    " LIMIT ?5";

/// The server's copy of one city's custody hash chain.
struct chain_state {
    ledger_verifier verifier;
    std::optional<std::string> broken_message;  ///< set once the chain broke
};

/// Bumps the store's revision when it goes out of scope: declared after the lock and before
/// the transaction, it runs once the write has committed or rolled back, still under the lock,
/// so no reader can see new rows under an old revision.
class revision_bump {
  public:
    explicit revision_bump(std::atomic<std::uint64_t>& revision) noexcept : revision_(revision) {}
    ~revision_bump() { revision_.fetch_add(1, std::memory_order_release); }
    revision_bump(const revision_bump&) = delete;
    revision_bump& operator=(const revision_bump&) = delete;

  private:
    std::atomic<std::uint64_t>& revision_;
};

/// A statement prepared once for a round of batches and run once per batch or event: the cache
/// lookup, copy and give-back of database::prepare cost as much as a small INSERT.
class held_statement {
  public:
    explicit held_statement(std::string_view sql) noexcept : sql_(sql) {}

    /// Binds `values` to 1..N and runs the statement to completion.
    template <class... Ts>
    result<void> run(database& db, const Ts&... values) {
        EQM_TRY(bind(db, values...));
        return st_->exec();
    }

    /// Binds `values` to 1..N and calls `on_row(statement&)` for every row.
    template <class F, class... Ts>
    result<void> query(database& db, F&& on_row, const Ts&... values) {
        EQM_TRY(bind(db, values...));
        for (;;) {
            auto more = st_->step();
            if (!more) {
                st_->reset();
                return std::unexpected(more.error());
            }
            if (!*more) break;
            on_row(*st_);
        }
        st_->reset();
        return {};
    }

  private:
    template <class... Ts>
    result<void> bind(database& db, const Ts&... values) {
        if (!st_) {
            EQM_TRY_LET(st, db.prepare(sql_));
            st_.emplace(std::move(st));
        }
        return st_->bind_all(values...);
    }

    std::string_view sql_;
    std::optional<statement> st_;
};

// The statements a round of batches runs, per batch or per event.
constexpr std::string_view sql_savepoint = "SAVEPOINT batch";
constexpr std::string_view sql_release = "RELEASE batch";
constexpr std::string_view sql_rollback_to = "ROLLBACK TO batch";
constexpr std::string_view sql_applied_seq = "SELECT applied_seq FROM gateway_seq WHERE gw_id = ?1";
constexpr std::string_view sql_set_applied_seq =
    "INSERT INTO gateway_seq(gw_id, applied_seq) VALUES (?1, ?2) "
    "ON CONFLICT(gw_id) DO UPDATE SET applied_seq = excluded.applied_seq";
constexpr std::string_view sql_gateway_seen = "UPDATE gateways SET last_seen = ?2 WHERE city = ?1";
constexpr std::string_view sql_ledger_head =
    "INSERT INTO ledger_heads(city, next_index, head_hash, broken_message) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(city) DO UPDATE SET next_index = excluded.next_index, "
    "head_hash = excluded.head_hash, broken_message = excluded.broken_message";
constexpr std::string_view sql_device_home = "SELECT city, status FROM devices WHERE id = ?1";
constexpr std::string_view sql_insert_custody =
    "INSERT OR IGNORE INTO custody(city, idx, hash, device_id, ts, record, verified) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view sql_custody_device =
    "UPDATE devices SET status = ?2, holder = ?3, due = ?4, city = COALESCE(?5, city), "
    "updated_at = ?6, last_seen = MAX(COALESCE(last_seen, ''), ?6) WHERE id = ?1";
// Custody, link state and telemetry change only a device of the reporting city (?6, ?5, ?3).
constexpr std::string_view sql_custody_device_here =
    "UPDATE devices SET status = ?2, holder = ?3, due = ?4, updated_at = ?5, "
    "last_seen = MAX(COALESCE(last_seen, ''), ?5) WHERE id = ?1 AND city = ?6";
constexpr std::string_view sql_device_state =
    "UPDATE devices SET online = ?2, fw = COALESCE(?3, fw), "
    "last_seen = MAX(COALESCE(last_seen, ''), ?4) WHERE id = ?1 AND city = ?5";
constexpr std::string_view sql_upsert_telemetry =
    "INSERT INTO telemetry(device_id, city, minute, count, battery_pct_min, battery_pct_last, "
    "storage_free_mb_last, temp_c_max, gps) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT(device_id) DO UPDATE SET city = excluded.city, minute = excluded.minute, "
    "count = excluded.count, battery_pct_min = excluded.battery_pct_min, "
    "battery_pct_last = excluded.battery_pct_last, "
    "storage_free_mb_last = excluded.storage_free_mb_last, temp_c_max = excluded.temp_c_max, "
    "gps = excluded.gps WHERE excluded.minute >= telemetry.minute";
constexpr std::string_view sql_device_seen =
    "UPDATE devices SET last_seen = MAX(COALESCE(last_seen, ''), ?2) WHERE id = ?1 AND city = ?3";
// A gateway raises and clears its own city's alerts only, never the server's.
constexpr std::string_view sql_gateway_alert =
    "INSERT INTO alerts(id, city, type, state, severity, detail, device_id, raised_at, "
    "updated_at, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 'gateway') "
    "ON CONFLICT(id) DO UPDATE SET state = excluded.state, severity = excluded.severity, "
    "detail = excluded.detail, updated_at = excluded.updated_at "
    "WHERE alerts.city = excluded.city AND alerts.origin = 'gateway'";
constexpr std::string_view sql_server_alert =
    "INSERT INTO alerts(id, city, type, state, severity, detail, device_id, raised_at, "
    "updated_at, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 'server') "
    "ON CONFLICT(id) DO UPDATE SET state = excluded.state, severity = excluded.severity, "
    "detail = excluded.detail, updated_at = excluded.updated_at, origin = 'server'";
// A command result resolves only a command that was sent to the reporting city.
constexpr std::string_view sql_command_done =
    "UPDATE outbox SET state = 'done', result = ?2, done_at = ?3 WHERE cmd_id = ?1 AND city = ?4";
constexpr std::string_view sql_dead_letter =
    "INSERT INTO dead_letters(topic, payload, reason, received_at, kind, city, gw_id, from_seq, "
    "to_seq, dedupe_key, occurrences, last_received_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?4) "
    "ON CONFLICT(dedupe_key) DO UPDATE SET occurrences = occurrences + 1, "
    "last_received_at = excluded.last_received_at";
// The transfer the server ordered (transfer_order commands carry both cities).
constexpr std::string_view sql_ordered_transfer =
    "SELECT t.from_city, t.to_city FROM transfer_units u JOIN transfers t ON t.id = u.transfer_id "
    "WHERE u.transfer_id = ?1 AND u.device_id = ?2 AND u.state != 'cancelled' "
    "UNION ALL "
    "SELECT json_extract(payload, '$.from_city'), json_extract(payload, '$.to_city') FROM outbox "
    "WHERE type = 'transfer_order' AND json_extract(payload, '$.transfer_id') = ?1 "
    "AND json_extract(payload, '$.device_id') = ?2 LIMIT 1";
// A unit handed over at the source (?3 its courier, ?4 the time) or received at the destination.
constexpr std::string_view sql_unit_handed_over =
    "UPDATE transfer_units SET state = 'in_transit', courier = ?3, handed_over_at = ?4 "
    "WHERE transfer_id = ?1 AND device_id = ?2 AND state = 'ordered'";
constexpr std::string_view sql_unit_arrived =
    "UPDATE transfer_units SET state = 'arrived', arrived_at = ?3, "
    "handed_over_at = COALESCE(handed_over_at, ?3) "
    "WHERE transfer_id = ?1 AND device_id = ?2 AND state IN ('ordered', 'in_transit')";
// A transfer is complete once every unit it asked for arrived, in transit once one left.
constexpr std::string_view sql_transfer_completed =
    "UPDATE transfers SET status = 'completed', completed_at = ?2, updated_at = ?2 "
    "WHERE id = ?1 AND status IN ('approved', 'in_transit', 'overdue') AND units_asked <= "
    "(SELECT count(*) FROM transfer_units u WHERE u.transfer_id = ?1 AND u.state = 'arrived')";
constexpr std::string_view sql_transfer_moving =
    "UPDATE transfers SET status = 'in_transit', updated_at = ?2 "
    "WHERE id = ?1 AND status = 'approved'";
constexpr std::string_view sql_last_custody =
    "SELECT json_extract(record, '$.action'), json_extract(record, '$.transfer_id') "
    "FROM custody WHERE device_id = ?1 AND NOT (city = ?2 AND idx = ?3) "
    "ORDER BY ts DESC, idx DESC LIMIT 1";

/// The statements of one round of batches, prepared on first use and given back at its end.
struct round_statements {
    held_statement savepoint{sql_savepoint};
    held_statement release{sql_release};
    held_statement rollback_to{sql_rollback_to};
    held_statement applied_seq{sql_applied_seq};
    held_statement set_applied_seq{sql_set_applied_seq};
    held_statement gateway_seen{sql_gateway_seen};
    held_statement ledger_head{sql_ledger_head};
    held_statement device_home{sql_device_home};
    held_statement insert_custody{sql_insert_custody};
    held_statement custody_device{sql_custody_device};
    held_statement custody_device_here{sql_custody_device_here};
    held_statement device_state{sql_device_state};
    held_statement upsert_telemetry{sql_upsert_telemetry};
    held_statement device_seen{sql_device_seen};
    held_statement gateway_alert{sql_gateway_alert};
    held_statement command_done{sql_command_done};
    held_statement dead_letter{sql_dead_letter};
};

/// Where a device is registered and its custody state there.
struct device_home {
    std::string city;
    std::string status;
};

/// What a custody record from a city does to a device registered elsewhere.
enum class custody_scope {
    apply,    ///< the city's own device, an unknown one, or a transfer arriving in the city
    history,  ///< a hand-over at the source reported after the arrival: kept, changes nothing
    refuse,   ///< another city's device
};

/// One batch being applied: its input, its statements, the chain of its city as it goes, and
/// what it did so far.
struct batch_work {
    const batch_input& in;
    round_statements& sts;
    chain_state chain;
    bool chain_touched = false;
    std::set<std::string> changed;
    batch_outcome out;
};

/// The row that repeats of `d` share: one per seq range of a gateway (a quarantined batch, a
/// refused event), one per topic and reason otherwise (a gateway that keeps sending the same
/// bad message adds no rows).
std::string dedupe_key(const dead_letter& d) {
    std::string key(to_string(d.kind));
    if (d.gw_id && d.from_seq)
        return key + "|" + d.gw_id.value_or("") + "|" + std::to_string(d.from_seq.value_or(0)) +
               "-" + std::to_string(d.to_seq.value_or(0));
    return key + "|" + d.topic + "|" + d.reason;
}

/// Writes (or counts a repeat of) a dead letter through `st` (sql_dead_letter).
result<void> insert_dead_letter(database& db, held_statement& st, const dead_letter& d,
                                clock_ms now) {
    // A quarantined batch is kept whole (at most a batch's 4 MiB); of anything else a bounded
    // prefix is enough to debug, not a disk-filling vector.
    constexpr std::size_t kept_payload_bytes = 64 * 1024;
    const std::string_view payload =
        d.kind == dead_letter_kind::quarantined
            ? std::string_view(d.payload)
            : std::string_view(d.payload).substr(0, kept_payload_bytes);
    std::optional<std::int64_t> from, to;
    if (d.from_seq) from = static_cast<std::int64_t>(*d.from_seq);
    if (d.to_seq) to = static_cast<std::int64_t>(*d.to_seq);
    return st.run(db, d.topic, payload, d.reason, text_ts(now), std::string(to_string(d.kind)),
                  d.city, d.gw_id, from, to, dedupe_key(d));
}

class sqlite_region_store final : public region_store {
  public:
    explicit sqlite_region_store(database db) : db_(std::move(db)) {}

    std::uint64_t revision() const noexcept override {
        return revision_.load(std::memory_order_acquire);
    }

    result<std::int64_t> external_version() override {
        std::lock_guard lock(mutex_);
        EQM_TRY_LET(st, db_.prepare("PRAGMA data_version"));
        EQM_TRY_LET(row, st.step());
        if (!row) return fail(errc::internal, "", "PRAGMA data_version returned no row");
        return st.column_int64(0);
    }

    // --- registry ----------------------------------------------------------------------
    result<void> insert_device(const device_record& d, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        if (auto r = insert_device_locked(d, now); !r) return r;
        return tx.commit();
    }

    result<void> insert_devices(std::span<const device_record> devices, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        for (const auto& d : devices) {
            if (auto r = insert_device_locked(d, now); !r) return r;
        }
        return tx.commit();
    }

    result<void> update_device(const device_record& d, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(
            st, db_.prepare(
                    "UPDATE devices SET class=?2, model=?3, city=?4, serial=?5, analyte=?6, "
                    "calibration_due=?7, registration_id=?8, flight_hours=?9, battery_cycles=?10, "
                    "retired=?11, updated_at=?12 WHERE id=?1"));
        if (auto b = bind_record(st, d); !b) return b;
        if (auto b = st.bind(12, text_ts(now)); !b) return b;
        if (auto e = st.exec(); !e) return e;
        if (db_.changes() == 0) return fail(errc::not_found, "id", "no device " + d.id);
        return {};
    }

    result<std::optional<device_view>> find_device(std::string_view id) override {
        std::lock_guard lock(mutex_);
        std::optional<device_view> out;
        EQM_TRY(each_row(
            db_, std::string(device_columns) + " WHERE d.id = ?1",
            [&](const statement& st) { out = read_device(st); }, id));
        return out;
    }

    result<page<device_view>> list_devices(const device_filter& f, const page_query& q) override {
        std::lock_guard lock(mutex_);
        page<device_view> out;
        EQM_TRY(each_row(
            db_,
            std::string(device_columns) +
                " WHERE (?1 IS NULL OR d.city = ?1) AND (?2 IS NULL OR d.class = ?2)"
                " AND (?3 IS NULL OR d.status = ?3) AND (?4 IS NULL OR d.id > ?4)"
                " ORDER BY d.id LIMIT ?5",
            [&](const statement& st) { out.items.push_back(read_device(st)); }, f.city, f.cls,
            f.status, q.after, one_more(q)));
        return finish_page(std::move(out), q, [](const device_view& d) { return d.record.id; });
    }

    result<std::vector<device_view>> find_devices(std::span<const std::string> ids) override {
        std::lock_guard lock(mutex_);
        std::vector<device_view> out;
        if (ids.empty()) return out;
        // One statement for any number of ids: they travel as a JSON array (json_each).
        const std::string list = json(std::vector<std::string>(ids.begin(), ids.end())).dump();
        EQM_TRY(each_row(
            db_,
            std::string(device_columns) +
                " WHERE d.id IN (SELECT value FROM json_each(?1)) ORDER BY d.id",
            [&](const statement& st) { out.push_back(read_device(st)); }, list));
        return out;
    }

    result<std::vector<device_record>> registry_of_city(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::vector<device_record> out;
        EQM_TRY(each_row(
            db_, std::string(device_columns) + " WHERE d.city = ?1 ORDER BY d.id",
            [&](const statement& st) { out.push_back(read_record(st)); }, city));
        return out;
    }

    result<std::vector<person_record>> people_for_city(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::vector<person_record> out;
        EQM_TRY(each_row(
            db_,
            std::string(user_columns) +
                " WHERE u.active = 1 AND ((u.badge IS NOT NULL AND (u.city = ?1 OR u.city IS NULL"
                " OR u.role IN ('dispatcher', 'admin') OR EXISTS (SELECT 1 FROM"
                " json_each(u.badge_cities) WHERE value = ?1))) OR (u.role = 'custodian' AND"
                " u.city = ?1) OR u.role IN ('dispatcher', 'admin')) ORDER BY u.id",
            [&](const statement& st) { out.push_back(person_for_gateway(read_user(st), city)); },
            city));
        return out;
    }

    result<std::vector<std::string>> existing_device_ids(
        std::span<const std::string> ids) override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& id : ids) {
            EQM_TRY(each_row(
                db_, "SELECT id FROM devices WHERE id = ?1",
                [&](const statement& st) { out.push_back(st.column_text(0)); }, id));
        }
        return out;
    }

    // --- custody -----------------------------------------------------------------------
    result<page<custody_entry>> custody_of_device(std::string_view id,
                                                  const custody_query& q) override {
        std::optional<std::string> after_ts;
        std::optional<std::int64_t> after_row;
        if (q.page.after) {
            EQM_TRY_LET(key, split_custody_key(*q.page.after));
            after_ts = key.first;
            after_row = key.second;
        }
        std::lock_guard lock(mutex_);
        page<custody_entry> out;
        std::vector<std::pair<std::string, std::int64_t>> keys;
        EQM_TRY(each_row(
            db_, q.held_by ? sql_custody_held_by : sql_custody_all,
            [&](const statement& st) {
                auto j = json::parse(st.column_text(1), nullptr, false);
                if (j.is_discarded()) return;
                auto rec = parse_stored_custody_record(j);
                if (!rec) return;
                out.items.push_back(
                    custody_entry{st.column_text(0), std::move(*rec), st.column_int64(2) != 0});
                keys.emplace_back(st.column_text(3), st.column_int64(4));
            },
            id, q.held_by, after_ts, after_row, one_more(q.page)));
        if (out.items.size() > q.page.limit) {
            out.items.resize(q.page.limit);
            if (q.page.limit > 0) {
                const auto& [ts, row] = keys[q.page.limit - 1];
                out.next_key = ts + "|" + std::to_string(row);
            }
        }
        return out;
    }

    // --- ingest ------------------------------------------------------------------------
    std::vector<result<batch_outcome>> apply_batches(
        std::span<const batch_input> batches) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        std::vector<result<batch_outcome>> out;
        out.reserve(batches.size());
        const auto all_failed = [&](const error& e) {
            out.assign(batches.size(), result<batch_outcome>(std::unexpected(e)));
            return out;
        };
        auto tx = transaction::begin(db_);
        if (!tx) return all_failed(tx.error());
        std::map<std::string, chain_state, std::less<>> chains;  // as this round leaves them
        round_statements sts;
        for (const auto& in : batches) {
            // Alone in its round, a batch needs no savepoint: the transaction is its own.
            out.push_back(apply_in_savepoint(in, sts, chains, batches.size() > 1));
            // SQLite rolls the whole transaction back on some errors (a full disk): then
            // nothing of the round is written.
            if (db_.autocommit())
                return all_failed(out.back() ? error{errc::unavailable, "", "transaction lost"}
                                             : out.back().error());
        }
        // A batch alone in its round had no savepoint: what it did is undone with the whole.
        if (batches.size() == 1 && !out.front()) return out;
        if (auto c = tx->commit(); !c) return all_failed(c.error());
        for (auto& [city, chain] : chains) chains_.insert_or_assign(city, std::move(chain));
        return out;
    }

    result<gateway_transition> apply_gateway_state(std::string_view city, const gw_state& s,
                                                   clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        std::optional<std::uint64_t> current_bd_seq;
        EQM_TRY(each_row(
            db_, "SELECT bd_seq FROM gateways WHERE city = ?1",
            [&](const statement& st) {
                current_bd_seq = static_cast<std::uint64_t>(st.column_int64(0));
            },
            city));
        gateway_transition t{};
        if (s.online) {
            std::optional<std::string> bound_to;
            EQM_TRY(each_row(
                db_, "SELECT city FROM gateways WHERE gw_id = ?1 AND city <> ?2",
                [&](const statement& st) { bound_to = st.column_text(0); }, s.gw_id, city));
            if (bound_to)
                return fail(errc::conflict, "gw_id",
                            s.gw_id.value_or("") + " is the gateway of city " + *bound_to);
            t = gateway_transition::came_online;
            EQM_TRY(run(db_,
                        "INSERT INTO gateways(city, gw_id, online, bd_seq, version, last_seen) "
                        "VALUES (?1, ?2, 1, ?3, ?4, ?5) ON CONFLICT(city) DO UPDATE SET "
                        "gw_id = excluded.gw_id, online = 1, bd_seq = excluded.bd_seq, "
                        "version = excluded.version, last_seen = excluded.last_seen",
                        city, s.gw_id, static_cast<std::int64_t>(s.bd_seq), s.version,
                        text_ts(now)));
        } else if (current_bd_seq && s.bd_seq < *current_bd_seq) {
            // The will of an older session: the gateway has reconnected since.
            t = gateway_transition::stale_will;
        } else {
            t = gateway_transition::went_offline;
            EQM_TRY(run(db_,
                        "INSERT INTO gateways(city, online, bd_seq) VALUES (?1, 0, ?2) "
                        "ON CONFLICT(city) DO UPDATE SET online = 0, bd_seq = excluded.bd_seq",
                        city, static_cast<std::int64_t>(s.bd_seq)));
        }
        EQM_TRY(tx.commit());
        return t;
    }

    result<void> record_dead_letter(const dead_letter& d, clock_ms now) override {
        std::lock_guard lock(mutex_);
        held_statement st{sql_dead_letter};
        return insert_dead_letter(db_, st, d, now);
    }

    result<quarantine_outcome> quarantine_batch(const dead_letter& d, clock_ms now) override {
        std::lock_guard lock(mutex_);
        if (!d.gw_id || !d.from_seq || !d.to_seq)
            return fail(errc::bad_field, "", "a quarantined batch needs its gw_id and seq range");
        EQM_TRY_LET(tx, transaction::begin(db_));
        held_statement applied_st{sql_applied_seq};
        std::uint64_t applied = 0;
        EQM_TRY(applied_st.query(
            db_,
            [&](const statement& st) { applied = static_cast<std::uint64_t>(st.column_int64(0)); },
            *d.gw_id));
        quarantine_outcome out;
        out.upto_seq = applied;
        if (*d.from_seq > applied + 1) {
            out.resend_from = applied + 1;
            return out;
        }
        held_statement dead{sql_dead_letter};
        EQM_TRY(insert_dead_letter(db_, dead, d, now));
        out.upto_seq = std::max(applied, *d.to_seq);
        held_statement set_applied{sql_set_applied_seq};
        EQM_TRY(set_applied.run(db_, *d.gw_id, static_cast<std::int64_t>(out.upto_seq)));
        EQM_TRY(tx.commit());
        out.quarantined = true;
        return out;
    }

    result<std::uint64_t> prune_dead_letters(clock_ms before, std::uint64_t max_rows) override {
        std::lock_guard lock(mutex_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY(run(db_, "DELETE FROM dead_letters WHERE last_received_at < ?1", text_ts(before)));
        std::uint64_t pruned = static_cast<std::uint64_t>(db_.changes());
        EQM_TRY(run(db_,
                    "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters "
                    "ORDER BY last_received_at DESC, id DESC LIMIT -1 OFFSET ?1)",
                    static_cast<std::int64_t>(max_rows)));
        pruned += static_cast<std::uint64_t>(db_.changes());
        EQM_TRY(tx.commit());
        return pruned;
    }

    result<std::uint64_t> dead_letter_count() override {
        std::lock_guard lock(mutex_);
        std::uint64_t n = 0;
        EQM_TRY(each_row(db_, "SELECT COUNT(*) FROM dead_letters", [&](const statement& st) {
            n = static_cast<std::uint64_t>(st.column_int64(0));
        }));
        return n;
    }

    result<std::vector<gateway_view>> gateways() override {
        std::lock_guard lock(mutex_);
        std::vector<gateway_view> out;
        EQM_TRY(each_row(db_, std::string(gateway_columns) + " ORDER BY g.city",
                         [&](const statement& st) { out.push_back(read_gateway(st)); }));
        return out;
    }

    result<std::optional<gateway_view>> gateway(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::optional<gateway_view> out;
        EQM_TRY(each_row(
            db_, std::string(gateway_columns) + " WHERE g.city = ?1",
            [&](const statement& st) { out = read_gateway(st); }, city));
        return out;
    }

    // --- alerts ------------------------------------------------------------------------
    result<page<alert_view>> list_alerts(const alert_filter& f, const page_query& q) override {
        std::optional<std::string> after_raised;
        std::optional<std::string> after_id;
        if (q.after) {
            const auto bar = q.after->find('|');
            if (bar == std::string::npos || !parse_timestamp(q.after->substr(0, bar)))
                return fail(errc::bad_field, "cursor", "is not a cursor of this list");
            after_raised = q.after->substr(0, bar);
            after_id = q.after->substr(bar + 1);
        }
        std::lock_guard lock(mutex_);
        page<alert_view> out;
        EQM_TRY(each_row(
            db_,
            std::string(alert_columns) +
                " WHERE (?1 IS NULL OR city = ?1) AND (?2 = 0 OR state = 'raised')"
                " AND (?3 IS NULL OR raised_at < ?3 OR (raised_at = ?3 AND id < ?4))"
                " ORDER BY raised_at DESC, id DESC LIMIT ?5",
            [&](const statement& st) { out.items.push_back(read_alert(st)); }, f.city,
            f.raised_only ? 1 : 0, after_raised, after_id, one_more(q)));
        return finish_page(std::move(out), q,
                           [](const alert_view& a) { return text_ts(a.raised_at) + "|" + a.id; });
    }

    result<std::optional<alert_view>> find_alert(std::string_view id) override {
        std::lock_guard lock(mutex_);
        return find_alert_locked(id);
    }

    result<alert_view> ack_alert(std::string_view id, std::string_view by, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY(run(db_, "UPDATE alerts SET acked_by = ?2, acked_at = ?3 WHERE id = ?1", id, by,
                    text_ts(now)));
        if (db_.changes() == 0) return fail(errc::not_found, "id", "no alert " + std::string(id));
        EQM_TRY_LET(a, find_alert_locked(id));
        return *a;
    }

    // --- users and tokens --------------------------------------------------------------
    result<void> insert_user(const user_account& u) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY(check_unique_user(u, false));
        EQM_TRY(run(db_,
                    "INSERT INTO users(id, name, role, city, badge, active, password_hash, "
                    "created_at, badge_cities, must_change_password) VALUES (?1, ?2, ?3, ?4, ?5, "
                    "?6, ?7, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?8, ?9)",
                    u.id, u.name, std::string(to_string(u.role)), u.city, u.badge, u.active ? 1 : 0,
                    u.password_hash, badge_cities_text(u), u.must_change_password ? 1 : 0));
        return tx.commit();
    }

    result<std::optional<user_account>> find_user_by_name(std::string_view name) override {
        std::lock_guard lock(mutex_);
        std::optional<user_account> out;
        EQM_TRY(each_row(
            db_, std::string(user_columns) + " WHERE u.name = ?1",
            [&](const statement& st) { out = read_user(st); }, name));
        return out;
    }

    result<void> insert_token(std::string_view token_hash, std::string_view user_id,
                              clock_ms expires_at) override {
        std::lock_guard lock(mutex_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        // Expired tokens are useless; dropping them here keeps the table small.
        if (auto r = run(db_, "DELETE FROM tokens WHERE expires_at < ?1",
                         text_ts(expires_at - std::chrono::days{30}));
            !r)
            return r;
        if (auto r = run(db_, "INSERT INTO tokens(hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                         token_hash, user_id, text_ts(expires_at));
            !r)
            return r;
        return tx.commit();
    }

    result<std::optional<clock_ms>> token_expiry(std::string_view token_hash) override {
        std::lock_guard lock(mutex_);
        std::optional<clock_ms> out;
        EQM_TRY(each_row(
            db_, "SELECT expires_at FROM tokens WHERE hash = ?1",
            [&](const statement& st) { out = read_ts(st.column_optional_text(0)); }, token_hash));
        return out;
    }

    result<std::optional<user_account>> user_for_token(std::string_view token_hash,
                                                       clock_ms now) override {
        std::lock_guard lock(mutex_);
        std::optional<user_account> out;
        EQM_TRY(each_row(
            db_,
            std::string(user_columns) + " JOIN tokens t ON t.user_id = u.id WHERE t.hash = ?1 AND "
                                        "t.expires_at > ?2 AND u.active = 1",
            [&](const statement& st) { out = read_user(st); }, token_hash, text_ts(now)));
        return out;
    }

    // --- outbox ------------------------------------------------------------------------
    result<void> enqueue_command(const outbox_entry& e, clock_ms now) override {
        std::lock_guard lock(mutex_);
        return insert_command(e, now);
    }

    result<void> enqueue_full_sync(std::string_view city, std::span<const outbox_entry> parts,
                                   clock_ms now) override {
        std::lock_guard lock(mutex_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY(run(db_,
                    "UPDATE outbox SET state = 'abandoned', result = 'superseded', done_at = ?2 "
                    "WHERE city = ?1 AND state = 'pending' AND type = 'registry_upsert' "
                    "AND json_extract(payload, '$.full_sync') = 1",
                    city, text_ts(now)));
        for (const auto& e : parts) EQM_TRY(insert_command(e, now));
        return tx.commit();
    }

    result<std::size_t> abandon_pending(std::string_view type, std::string_view reason,
                                        clock_ms now) override {
        std::lock_guard lock(mutex_);
        EQM_TRY(run(db_,
                    "UPDATE outbox SET state = 'abandoned', result = ?2, done_at = ?3 "
                    "WHERE type = ?1 AND state = 'pending'",
                    type, reason, text_ts(now)));
        return static_cast<std::size_t>(db_.changes());
    }

    result<std::vector<outbox_entry>> commands_to_resend(clock_ms sent_before,
                                                         std::size_t limit) override {
        std::lock_guard lock(mutex_);
        std::vector<outbox_entry> out;
        EQM_TRY(each_row(
            db_,
            "SELECT o.cmd_id, o.city, o.type, o.payload, o.attempts FROM outbox o "
            "JOIN gateways g ON g.city = o.city WHERE o.state = 'pending' AND g.online = 1 "
            "AND (o.last_sent_at IS NULL OR o.last_sent_at < ?1) "
            "ORDER BY o.created_at, o.rowid LIMIT ?2",
            [&](const statement& st) {
                out.push_back(outbox_entry{st.column_text(0), st.column_text(1), st.column_text(2),
                                           st.column_text(3),
                                           static_cast<std::uint32_t>(st.column_int64(4))});
            },
            text_ts(sent_before), static_cast<std::int64_t>(limit)));
        return out;
    }

    result<std::vector<outbox_entry>> pending_commands(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::vector<outbox_entry> out;
        EQM_TRY(each_row(
            db_,
            "SELECT cmd_id, city, type, payload, attempts FROM outbox "
            "WHERE city = ?1 AND state = 'pending' ORDER BY created_at, rowid",
            [&](const statement& st) {
                out.push_back(outbox_entry{st.column_text(0), st.column_text(1), st.column_text(2),
                                           st.column_text(3),
                                           static_cast<std::uint32_t>(st.column_int64(4))});
            },
            city));
        return out;
    }

    result<void> mark_command_sent(std::string_view cmd_id, clock_ms now) override {
        std::lock_guard lock(mutex_);
        return run(db_,
                   "UPDATE outbox SET attempts = attempts + 1, last_sent_at = ?2 "
                   "WHERE cmd_id = ?1",
                   cmd_id, text_ts(now));
    }

    result<void> abandon_command(std::string_view cmd_id, std::string_view reason,
                                 clock_ms now) override {
        std::lock_guard lock(mutex_);
        return run(db_,
                   "UPDATE outbox SET state = 'abandoned', result = ?2, done_at = ?3 "
                   "WHERE cmd_id = ?1 AND state = 'pending'",
                   cmd_id, reason, text_ts(now));
    }

    result<std::optional<std::string>> command_result(std::string_view cmd_id) override {
        std::lock_guard lock(mutex_);
        std::optional<std::string> out;
        EQM_TRY(each_row(
            db_, "SELECT result FROM outbox WHERE cmd_id = ?1 AND state = 'done'",
            [&](const statement& st) { out = st.column_optional_text(0); }, cmd_id));
        return out;
    }

    // --- reservations (sqlite_booking_store.cpp) -----------------------------------------
    result<reservation_rules> reservation_rules_table() override {
        std::lock_guard lock(mutex_);
        return booking_sql::rules(db_);
    }
    result<void> replace_reservation_rules(const reservation_rules& rules, clock_ms now) override {
        std::lock_guard lock(mutex_);
        return booking_sql::replace_rules(db_, rules, now);
    }
    result<booking_result<booking>> admit_reservation(const booking_request& request,
                                                      const booking_requester& who,
                                                      clock_ms now) override {
        std::lock_guard lock(mutex_);
        return booking_sql::admit(db_, request, who, now);
    }
    result<std::optional<booking>> find_booking(std::string_view id) override {
        std::lock_guard lock(mutex_);
        return booking_sql::find(db_, id);
    }
    result<page<booking>> list_bookings(const booking_filter& filter,
                                        const page_query& page) override {
        std::lock_guard lock(mutex_);
        return booking_sql::list(db_, filter, page);
    }
    result<booking_result<booking>> act_on_booking(std::string_view id, const booking_command& cmd,
                                                   clock_ms now) override {
        std::lock_guard lock(mutex_);
        return booking_sql::act(db_, id, cmd, now);
    }
    result<std::vector<booking_change>> advance_bookings(clock_ms now) override {
        std::lock_guard lock(mutex_);
        auto r = booking_sql::advance(db_, now);
        revision_.fetch_add(1, std::memory_order_acq_rel);
        return r;
    }
    result<availability_view> booking_availability(std::string_view city, device_class cls,
                                                   std::optional<eqm::analyte> analyte,
                                                   clock_ms from, clock_ms to,
                                                   clock_ms now) override {
        std::lock_guard lock(mutex_);
        return booking_sql::availability(db_, city, cls, analyte, from, to, now);
    }
    result<std::optional<std::string>> calendar_owner(std::string_view secret_hash) override {
        std::lock_guard lock(mutex_);
        return booking_sql::calendar_owner(db_, secret_hash);
    }
    result<void> set_calendar_secret(std::string_view person_id,
                                     std::optional<std::string> secret_hash,
                                     clock_ms now) override {
        std::lock_guard lock(mutex_);
        return booking_sql::set_calendar_secret(db_, person_id, std::move(secret_hash), now);
    }
    result<std::vector<booking>> bookings_of_person(std::string_view person_id,
                                                    clock_ms since) override {
        std::lock_guard lock(mutex_);
        return booking_sql::of_person(db_, person_id, since);
    }

    // --- planning: quotas, allocation plans, utilization --------------------------------
    result<std::vector<quota_entry>> quotas() override {
        std::lock_guard lock(mutex_);
        std::vector<quota_entry> out;
        EQM_TRY(each_row(
            db_, "SELECT city, class, analyte, min_ready FROM quotas ORDER BY city, class, analyte",
            [&](const statement& st) {
                auto analyte = st.column_text(2);
                out.push_back({st.column_text(0), st.column_text(1),
                               analyte.empty() ? std::nullopt : std::optional(analyte),
                               st.column_int64(3)});
            }));
        return out;
    }

    result<void> replace_quotas(std::span<const quota_entry> quotas, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY(run(db_, "DELETE FROM quotas"));
        EQM_TRY_LET(st,
                    db_.prepare("INSERT INTO quotas(city, class, analyte, min_ready, updated_at) "
                                "VALUES (?1, ?2, ?3, ?4, ?5)"));
        for (const auto& q : quotas) {
            EQM_TRY(st.bind_all(q.city, q.cls, q.analyte.value_or(""), q.min_ready, text_ts(now)));
            if (auto r = st.exec(); !r) {
                if (r.error().code == errc::conflict)
                    return fail(errc::bad_field, "items",
                                "two quotas for " + q.city + " " + q.cls +
                                    (q.analyte ? ":" + *q.analyte : std::string()));
                return r;
            }
        }
        return tx.commit();
    }

    result<std::vector<stock_count>> stock_counts() override {
        std::lock_guard lock(mutex_);
        std::vector<stock_count> out;
        EQM_TRY(each_row(
            db_,
            "SELECT city, class, COALESCE(analyte, ''), COUNT(*),"
            " SUM(status = 'available' AND locked = 0), SUM(status = 'checked_out')"
            " FROM devices WHERE COALESCE(retired, 0) = 0 AND status NOT IN ('retired', 'lost')"
            " GROUP BY city, class, COALESCE(analyte, '') ORDER BY 1, 2, 3",
            [&](const statement& st) {
                auto analyte = st.column_text(2);
                out.push_back({st.column_text(0), st.column_text(1),
                               analyte.empty() ? std::nullopt : std::optional(analyte),
                               st.column_int64(3), st.column_int64(4), st.column_int64(5)});
            }));
        return out;
    }

    result<void> scan_stock_outs(clock_ms from, clock_ms to,
                                 const std::function<void(const std::string&, const std::string&,
                                                          clock_ms)>& each) override {
        std::lock_guard lock(mutex_);
        return each_row(
            db_,
            "SELECT city, class, ts FROM booking_refusals WHERE ts >= ? AND ts < ? ORDER BY ts",
            [&](const statement& st) {
                if (auto at = parse_timestamp(st.column_text(2)))
                    each(st.column_text(0), st.column_text(1), *at);
            },
            text_ts(from), text_ts(to));
    }

    result<std::vector<booked_count>> booked_counts(clock_ms now) override {
        std::lock_guard lock(mutex_);
        std::vector<booked_count> out;
        EQM_TRY(each_row(
            db_,
            "SELECT city, class, COALESCE(analyte, ''), COUNT(*) FROM bookings"
            " WHERE device_id IS NULL AND status = 'approved' AND end_ms > ?"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [&](const statement& st) {
                auto analyte = st.column_text(2);
                out.push_back({st.column_text(0), st.column_text(1),
                               analyte.empty() ? std::nullopt : std::optional(analyte),
                               st.column_int64(3)});
            },
            static_cast<std::int64_t>(now.time_since_epoch().count())));
        return out;
    }

    result<std::vector<transit_count>> transit_counts() override {
        std::lock_guard lock(mutex_);
        std::vector<transit_count> out;
        EQM_TRY(each_row(db_,
                         "SELECT t.to_city, u.class, COALESCE(u.analyte, ''), COUNT(*)"
                         " FROM transfer_units u JOIN transfers t ON t.id = u.transfer_id"
                         " WHERE u.state = 'in_transit' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                         [&](const statement& st) {
                             auto analyte = st.column_text(2);
                             out.push_back({st.column_text(0), st.column_text(1),
                                            analyte.empty() ? std::nullopt : std::optional(analyte),
                                            st.column_int64(3)});
                         }));
        return out;
    }

    result<void> insert_plan(const stored_plan& p) override {
        std::lock_guard lock(mutex_);
        return run(db_,
                   "INSERT INTO allocation_plans(id, input, plan, requested_by, created_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   p.id, p.input, p.plan, p.requested_by, text_ts(p.created_at));
    }

    result<std::optional<stored_plan>> find_plan(std::string_view id) override {
        std::lock_guard lock(mutex_);
        std::optional<stored_plan> out;
        EQM_TRY(each_row(
            db_,
            "SELECT id, input, plan, requested_by, created_at, approved_by, approved_at, "
            "approval FROM allocation_plans WHERE id = ?1",
            [&](const statement& st) {
                out = stored_plan{st.column_text(0),
                                  st.column_text(1),
                                  st.column_text(2),
                                  st.column_text(3),
                                  read_ts(st.column_optional_text(4)).value_or(clock_ms{}),
                                  st.column_optional_text(5),
                                  read_ts(st.column_optional_text(6)),
                                  st.column_optional_text(7)};
            },
            id));
        return out;
    }

    result<void> approve_plan(std::string_view id, std::string_view by, clock_ms at,
                              std::string_view approval) override {
        std::lock_guard lock(mutex_);
        EQM_TRY(run(db_,
                    "UPDATE allocation_plans SET approved_by = ?2, approved_at = ?3, approval = ?4"
                    " WHERE id = ?1 AND approved_at IS NULL",
                    id, by, text_ts(at), approval));
        if (db_.changes() > 0) return {};
        bool exists = false;
        EQM_TRY(each_row(
            db_, "SELECT 1 FROM allocation_plans WHERE id = ?1",
            [&](const statement&) { exists = true; }, id));
        if (!exists) return fail(errc::not_found, "id", "no allocation plan " + std::string(id));
        return fail(errc::conflict, "id",
                    "allocation plan " + std::string(id) + " is already approved");
    }

    result<std::vector<device_brief>> device_briefs() override {
        std::lock_guard lock(mutex_);
        std::vector<device_brief> out;
        EQM_TRY(each_row(
            db_,
            "SELECT id, city, class, created_at, COALESCE(retired, 0) = 1 OR status = 'retired'"
            " FROM devices ORDER BY id",
            [&](const statement& st) {
                out.push_back({st.column_text(0), st.column_text(1), st.column_text(2),
                               read_ts(st.column_optional_text(3)).value_or(clock_ms{}),
                               st.column_int64(4) != 0});
            }));
        return out;
    }

    result<void> scan_custody_states(
        clock_ms before, const std::function<void(const custody_state_row&)>& each) override {
        std::lock_guard lock(mutex_);
        custody_state_row row;
        return each_row(
            db_,
            "SELECT device_id, ts, to_state, city, due_ts FROM custody INDEXED BY custody_states"
            " WHERE ts < ?1 ORDER BY device_id, ts",
            [&](const statement& st) {
                row.device_id = st.column_text(0);
                row.ts = fast_ts(st.column_text(1));
                row.to_state = st.column_text(2);
                row.city = st.column_text(3);
                row.due.reset();
                if (row.to_state == "checked_out" && !st.column_is_null(4))
                    row.due = fast_ts(st.column_text(4));
                each(row);
            },
            text_ts(before));
    }

    // --- people (REST) -----------------------------------------------------------------
    result<std::optional<user_account>> find_user(std::string_view id) override {
        std::lock_guard lock(mutex_);
        std::optional<user_account> out;
        EQM_TRY(each_row(
            db_, std::string(user_columns) + " WHERE u.id = ?1",
            [&](const statement& st) { out = read_user(st); }, id));
        return out;
    }

    result<page<user_account>> list_users(const person_filter& f, const page_query& q) override {
        std::optional<std::int64_t> active;
        if (f.active) active = *f.active ? 1 : 0;
        std::lock_guard lock(mutex_);
        page<user_account> out;
        EQM_TRY(each_row(
            db_,
            std::string(user_columns) +
                " WHERE (?1 IS NULL OR u.role = ?1) AND (?2 IS NULL OR u.city = ?2 OR EXISTS"
                " (SELECT 1 FROM json_each(u.badge_cities) WHERE value = ?2))"
                " AND (?3 IS NULL OR u.active = ?3) AND (?4 IS NULL OR u.id > ?4)"
                " ORDER BY u.id LIMIT ?5",
            [&](const statement& st) { out.items.push_back(read_user(st)); }, f.role, f.city,
            active, q.after, one_more(q)));
        return finish_page(std::move(out), q, [](const user_account& u) { return u.id; });
    }

    result<void> update_user(const user_account& u) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY(check_unique_user(u, true));
        EQM_TRY(run(db_,
                    "UPDATE users SET name = ?2, role = ?3, city = ?4, badge = ?5, active = ?6, "
                    "badge_cities = ?7 WHERE id = ?1",
                    u.id, u.name, std::string(to_string(u.role)), u.city, u.badge, u.active ? 1 : 0,
                    badge_cities_text(u)));
        if (db_.changes() == 0) return fail(errc::not_found, "id", "no person " + u.id);
        if (!u.active) EQM_TRY(run(db_, "DELETE FROM tokens WHERE user_id = ?1", u.id));
        return tx.commit();
    }

    result<void> set_password(std::string_view id, std::string_view password_hash, bool must_change,
                              std::optional<std::string> keep) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY(run(db_,
                    "UPDATE users SET password_hash = ?2, must_change_password = ?3 WHERE id = ?1",
                    id, password_hash, must_change ? 1 : 0));
        if (db_.changes() == 0) return fail(errc::not_found, "id", "no person " + std::string(id));
        EQM_TRY(run(db_, "DELETE FROM tokens WHERE user_id = ?1 AND (?2 IS NULL OR hash != ?2)", id,
                    keep));
        return tx.commit();
    }

  private:
    /// errc::conflict naming `name` or `badge` when another user has it (`exists`: `u` is
    /// stored already and may keep its own), or naming `id` when a new user's id is taken.
    result<void> check_unique_user(const user_account& u, bool exists) {
        const std::string self = exists ? u.id : std::string();
        std::optional<std::string> taken;
        EQM_TRY(each_row(
            db_, "SELECT id FROM users WHERE name = ?1 AND id != ?2",
            [&](const statement& st) { taken = st.column_text(0); }, u.name, self));
        if (taken)
            return fail(errc::conflict, "name", "another person (" + *taken + ") has this name");
        if (u.badge) {
            EQM_TRY(each_row(
                db_, "SELECT id FROM users WHERE badge = ?1 AND id != ?2",
                [&](const statement& st) { taken = st.column_text(0); }, *u.badge, self));
            if (taken)
                return fail(errc::conflict, "badge",
                            "another person (" + *taken + ") has this badge");
        }
        if (exists) return {};
        EQM_TRY(each_row(
            db_, "SELECT id FROM users WHERE id = ?1",
            [&](const statement& st) { taken = st.column_text(0); }, u.id));
        if (taken) return fail(errc::conflict, "id", "a person with the id " + u.id + " exists");
        return {};
    }

    result<void> insert_command(const outbox_entry& e, clock_ms now) {
        return run(db_,
                   "INSERT INTO outbox(cmd_id, city, type, payload, created_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   e.cmd_id, e.city, e.type, e.payload, text_ts(now));
    }

    result<void> insert_device_locked(const device_record& d, clock_ms now) {
        EQM_TRY_LET(
            st,
            db_.prepare(
                "INSERT INTO devices(id, class, model, city, serial, analyte, calibration_due, "
                "registration_id, flight_hours, battery_cycles, retired, created_at, updated_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)"));
        if (auto b = bind_record(st, d); !b) return b;
        if (auto b = st.bind(12, text_ts(now)); !b) return b;
        auto r = st.exec();
        if (!r && r.error().code == errc::conflict)
            return fail(errc::conflict, "id", "device " + d.id + " is already registered");
        return r;
    }

    result<std::optional<alert_view>> find_alert_locked(std::string_view id) {
        std::optional<alert_view> out;
        EQM_TRY(each_row(
            db_, std::string(alert_columns) + " WHERE id = ?1",
            [&](const statement& st) { out = read_alert(st); }, id));
        return out;
    }

    result<chain_state> load_chain(const std::string& city) {
        if (auto it = chains_.find(city); it != chains_.end()) return it->second;
        chain_state c{ledger_verifier{}, std::nullopt};
        EQM_TRY(each_row(
            db_, "SELECT next_index, head_hash, broken_message FROM ledger_heads WHERE city = ?1",
            [&](const statement& st) {
                c.verifier = ledger_verifier(st.column_text(1),
                                             static_cast<std::uint64_t>(st.column_int64(0)));
                c.broken_message = st.column_optional_text(2);
            },
            city));
        chains_.insert_or_assign(city, c);
        return c;
    }

    // --- one batch of a round ----------------------------------------------------------
    using chain_map = std::map<std::string, chain_state, std::less<>>;

    /// The chain of `city` as the round has left it so far.
    result<chain_state> round_chain(const std::string& city, const chain_map& chains) {
        if (auto it = chains.find(city); it != chains.end()) return it->second;
        return load_chain(city);
    }

    /// Applies one batch, inside its own savepoint when others share its round: when it fails,
    /// only it is undone.
    result<batch_outcome> apply_in_savepoint(const batch_input& in, round_statements& sts,
                                             chain_map& chains, bool savepoint) {
        EQM_TRY_LET(chain, round_chain(in.city, chains));
        if (savepoint) EQM_TRY(sts.savepoint.run(db_));
        batch_work w{in, sts, std::move(chain), false, {}, {}};
        if (auto r = apply_one(w); !r) {
            if (savepoint) {
                (void)sts.rollback_to.run(db_);
                (void)sts.release.run(db_);
            }
            return std::unexpected(r.error());
        }
        if (savepoint) EQM_TRY(sts.release.run(db_));
        if (w.chain_touched) chains.insert_or_assign(in.city, std::move(w.chain));
        w.out.changed_devices.assign(w.changed.begin(), w.changed.end());
        return std::move(w.out);
    }

    /// Events in seq order, each once: at or below the applied seq is a replay, above
    /// applied + 1 a gap (stop and ask for a resend). `skipped` ranges count as delivered.
    result<void> apply_one(batch_work& w) {
        const auto& b = w.in.batch;
        std::uint64_t applied = 0;
        EQM_TRY(w.sts.applied_seq.query(
            db_,
            [&](const statement& st) { applied = static_cast<std::uint64_t>(st.column_int64(0)); },
            b.gw_id));
        auto skipped = b.skipped.value_or(std::vector<seq_range>{});
        std::sort(skipped.begin(), skipped.end(),
                  [](const seq_range& x, const seq_range& y) { return x.from_seq < y.from_seq; });
        const auto absorb_skipped = [&] {
            for (const auto& r : skipped)
                if (r.from_seq <= applied + 1 && r.to_seq > applied) applied = r.to_seq;
        };
        absorb_skipped();
        // parse_gw_events guarantees strictly increasing seqs within a batch.
        for (const auto& e : b.events) {
            if (e.seq <= applied) {
                ++w.out.duplicates;
                continue;
            }
            if (e.seq > applied + 1) {
                w.out.resend_from = applied + 1;
                break;
            }
            const auto refused_before = w.out.refused.size();
            EQM_TRY(std::visit([&](const auto& body) { return apply_body(w, e, body); }, e.body));
            if (w.out.refused.size() == refused_before) ++w.out.applied;
            applied = e.seq;
            absorb_skipped();
        }
        w.out.upto_seq = applied;
        EQM_TRY(w.sts.set_applied_seq.run(db_, b.gw_id, static_cast<std::int64_t>(applied)));
        EQM_TRY(w.sts.gateway_seen.run(db_, w.in.city, text_ts(w.in.now)));
        if (!w.chain_touched) return {};
        return w.sts.ledger_head.run(db_, w.in.city,
                                     static_cast<std::int64_t>(w.chain.verifier.next_index()),
                                     w.chain.verifier.head_hash(), w.chain.broken_message);
    }

    /// Keeps an event the city may not report as a refused dead letter; its seq still counts.
    result<void> refuse(batch_work& w, const gw_event& e, std::string reason) {
        dead_letter d;
        d.kind = dead_letter_kind::refused;
        d.topic = format_topic({topic_kind::gw_events, w.in.city});
        d.payload = to_json(e).dump(-1, ' ', false, json::error_handler_t::replace);
        d.reason = reason;
        d.city = w.in.city;
        d.gw_id = w.in.batch.gw_id;
        d.from_seq = d.to_seq = e.seq;
        EQM_TRY(insert_dead_letter(db_, w.sts.dead_letter, d, w.in.now));
        w.out.refused.push_back(refused_event{e.seq, e.kind(), std::move(reason)});
        return {};
    }

    result<std::optional<device_home>> home_of(batch_work& w, const std::string& device_id) {
        std::optional<device_home> home;
        EQM_TRY(w.sts.device_home.query(
            db_,
            [&](const statement& st) {
                home = device_home{st.column_text(0), st.column_text(1)};
            },
            device_id));
        return home;
    }

    static std::string foreign_device(const std::string& id, const device_home& home,
                                      std::string_view city) {
        return "device " + id + " is registered to city " + home.city + ", not " +
               std::string(city);
    }

    result<void> apply_body(batch_work& w, const gw_event& e, const device_state_body& d) {
        EQM_TRY(w.sts.device_state.run(db_, d.device_id, d.online ? 1 : 0, d.fw, text_ts(e.ts),
                                       w.in.city));
        if (db_.changes() > 0) {
            w.changed.insert(d.device_id);
            return {};
        }
        EQM_TRY_LET(home, home_of(w, d.device_id));
        if (home)
            return refuse(w, e, "device_id: " + foreign_device(d.device_id, *home, w.in.city));
        return {};  // not registered: nothing to update
    }

    result<void> apply_body(batch_work& w, const gw_event& e, const telemetry_summary_body& t) {
        EQM_TRY(w.sts.device_seen.run(db_, t.device_id, text_ts(e.ts), w.in.city));
        if (db_.changes() == 0) {
            EQM_TRY_LET(home, home_of(w, t.device_id));
            if (home)
                return refuse(w, e, "device_id: " + foreign_device(t.device_id, *home, w.in.city));
        }
        std::optional<std::string> gps;
        if (t.gps) gps = to_json(*t.gps).dump();
        return w.sts.upsert_telemetry.run(
            db_, t.device_id, w.in.city, text_ts(t.minute), static_cast<std::int64_t>(t.count),
            t.battery_pct_min, t.battery_pct_last, t.storage_free_mb_last, t.temp_c_max, gps);
    }

    result<void> apply_body(batch_work& w, const gw_event& e, const alert_body& a) {
        EQM_TRY(w.sts.gateway_alert.run(db_, a.alert_id, w.in.city, std::string(to_string(a.type)),
                                        std::string(to_string(a.state)),
                                        std::string(to_string(a.severity)), a.detail, a.device_id,
                                        text_ts(e.ts)));
        if (db_.changes() == 0)
            return refuse(
                w, e,
                "alert_id: alert " + a.alert_id + " was raised by the server or by another city");
        EQM_TRY_LET(view, find_alert_locked(a.alert_id));
        if (view) w.out.alerts.push_back(std::move(*view));
        return {};
    }

    result<void> apply_body(batch_work& w, const gw_event& e, const command_result_body& c) {
        EQM_TRY(w.sts.command_done.run(db_, c.cmd_id, to_string(c.result), text_ts(w.in.now),
                                       w.in.city));
        if (db_.changes() == 0)
            return refuse(w, e,
                          "cmd_id: no command " + c.cmd_id + " was sent to city " + w.in.city);
        w.out.command_results.push_back(c);
        return {};
    }

    /// A custody record goes into its city's copy of the hash chain whatever it says (the chain
    /// stays verifiable); it changes a device only when the device is the city's (or arrives
    /// there by a transfer the server ordered).
    result<void> apply_body(batch_work& w, const gw_event& e, const custody_record& rec) {
        const chain_state before = w.chain;
        std::optional<verify_result> v;
        if (!w.chain.broken_message) v = w.chain.verifier.feed(rec);
        const bool verified = v && v->ok();
        EQM_TRY(w.sts.insert_custody.run(db_, w.in.city, static_cast<std::int64_t>(rec.index),
                                         rec.hash, rec.device_id, text_ts(rec.ts), record_text(rec),
                                         verified ? 1 : 0));
        if (db_.changes() == 0) {
            // The same record again under a new seq: it is stored, the chain has it already.
            w.chain = before;
            return {};
        }
        w.chain_touched = true;
        if (v && !v->ok()) EQM_TRY(raise_ledger_break(w, rec, *v, e.ts));
        std::optional<std::string> due;
        if (rec.due) due = text_ts(*rec.due);
        EQM_TRY(w.sts.custody_device_here.run(db_, rec.device_id,
                                              std::string(to_string(rec.to_state)), rec.holder, due,
                                              text_ts(rec.ts), w.in.city));
        if (db_.changes() > 0) {
            w.changed.insert(rec.device_id);
            return note_transfer_move(w, rec);
        }
        return apply_foreign_custody(w, e, rec, due);
    }

    /// A hand-over or an arrival under a transfer moves its unit on, and the transfer with it.
    result<void> note_transfer_move(batch_work& w, const custody_record& rec) {
        if (!rec.transfer_id) return {};
        const bool out = rec.action == custody_action::transfer_out;
        if (!out && rec.action != custody_action::transfer_in) return {};
        const auto ts = text_ts(rec.ts);
        if (out)
            EQM_TRY(
                run(db_, sql_unit_handed_over, *rec.transfer_id, rec.device_id, rec.holder, ts));
        else
            EQM_TRY(run(db_, sql_unit_arrived, *rec.transfer_id, rec.device_id, ts));
        if (db_.changes() == 0) return {};
        EQM_TRY(run(db_, sql_transfer_completed, *rec.transfer_id, ts));
        EQM_TRY(run(db_, sql_transfer_moving, *rec.transfer_id, ts));
        w.out.transfer_moves.push_back(transfer_move{*rec.transfer_id, rec.device_id, rec.action});
        return {};
    }

    /// A custody record about a device that is not registered to the reporting city. The record
    /// stays in the city's chain (verified above) but changes the device only when it is a
    /// transfer arriving in the city; one that is not the city's to report is taken out again
    /// and refused.
    result<void> apply_foreign_custody(batch_work& w, const gw_event& e, const custody_record& rec,
                                       const std::optional<std::string>& due) {
        EQM_TRY_LET(home, home_of(w, rec.device_id));
        if (!home) return {};  // not registered: kept in the city's ledger, no device to update
        EQM_TRY_LET(scope, foreign_custody_scope(w, rec, *home));
        if (scope == custody_scope::history) return note_transfer_move(w, rec);
        if (scope == custody_scope::refuse) {
            EQM_TRY(run(db_, "DELETE FROM custody WHERE city = ?1 AND idx = ?2 AND hash = ?3",
                        w.in.city, static_cast<std::int64_t>(rec.index), rec.hash));
            return refuse(w, e, "device_id: " + foreign_device(rec.device_id, *home, w.in.city));
        }
        // A transfer's receipt moves the device into the receiving gateway's city.
        EQM_TRY(w.sts.custody_device.run(db_, rec.device_id, std::string(to_string(rec.to_state)),
                                         rec.holder, due, w.in.city, text_ts(rec.ts)));
        if (db_.changes() > 0) w.changed.insert(rec.device_id);
        return note_transfer_move(w, rec);
    }

    /// The first record that does not fit the chain: the chain is marked broken (later records
    /// are stored unverified) and a critical ledger_broken alert of the server's is raised.
    result<void> raise_ledger_break(batch_work& w, const custody_record& rec,
                                    const verify_result& v, clock_ms ts) {
        w.chain.broken_message = v.message;
        alert_body a;
        a.alert_id = "ledger-" + w.in.city + "-" + std::to_string(rec.index);
        a.type = alert_type::ledger_broken;
        a.state = alert_state::raised;
        a.severity = alert_severity::critical;
        a.detail = "custody record " + std::to_string(rec.index) + " (device " + rec.device_id +
                   ") of city " + w.in.city + " breaks the hash chain (" +
                   std::string(to_string(v.reason)) + "): " + v.message;
        if (a.detail.size() > max_detail_chars) a.detail.resize(max_detail_chars);
        a.device_id = rec.device_id;
        EQM_TRY(run(db_, sql_server_alert, a.alert_id, w.in.city, std::string(to_string(a.type)),
                    std::string(to_string(a.state)), std::string(to_string(a.severity)), a.detail,
                    a.device_id, text_ts(ts)));
        EQM_TRY_LET(view, find_alert_locked(a.alert_id));
        if (view) w.out.alerts.push_back(std::move(*view));
        return {};
    }

    result<custody_scope> foreign_custody_scope(batch_work& w, const custody_record& rec,
                                                const device_home& home) {
        if (!rec.transfer_id) return custody_scope::refuse;
        EQM_TRY_LET(ordered, ordered_transfer(*rec.transfer_id, rec.device_id));
        if (rec.action == custody_action::transfer_in) {
            if (ordered)
                return ordered->second == w.in.city ? custody_scope::apply : custody_scope::refuse;
            // No order on record: the device must be in transit under this very transfer.
            EQM_TRY_LET(under, in_transit_under(w, rec, home));
            return under == rec.transfer_id ? custody_scope::apply : custody_scope::refuse;
        }
        // The source city's hand-over, reported after the device arrived at the destination.
        if (rec.action == custody_action::transfer_out && ordered && ordered->first == w.in.city &&
            ordered->second == home.city)
            return custody_scope::history;
        return custody_scope::refuse;
    }

    /// The (from_city, to_city) of a transfer of `device_id` the server ordered.
    result<std::optional<std::pair<std::string, std::string>>> ordered_transfer(
        const std::string& transfer_id, const std::string& device_id) {
        std::optional<std::pair<std::string, std::string>> out;
        EQM_TRY(each_row(
            db_, sql_ordered_transfer,
            [&](const statement& st) { out.emplace(st.column_text(0), st.column_text(1)); },
            transfer_id, device_id));
        return out;
    }

    /// The transfer a device is in transit under: the transfer of its last custody record
    /// before `rec`, when that record is a transfer_out and the device is in transit.
    result<std::optional<std::string>> in_transit_under(batch_work& w, const custody_record& rec,
                                                        const device_home& home) {
        std::optional<std::string> out;
        if (home.status != to_string(custody_state::in_transit)) return out;
        EQM_TRY(each_row(
            db_, sql_last_custody,
            [&](const statement& st) {
                if (st.column_text(0) == to_string(custody_action::transfer_out))
                    out = st.column_optional_text(1);
            },
            rec.device_id, w.in.city, static_cast<std::int64_t>(rec.index)));
        return out;
    }

  public:
    // --- transfers ---------------------------------------------------------------------
    result<void> insert_transfers(std::span<const transfer_view> transfers) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        for (const auto& t : transfers) {
            json items = json::array();
            for (const auto& i : t.items) items.push_back(to_json(i));
            auto r =
                run(db_,
                    "INSERT INTO transfers(id, from_city, to_city, status, items, units_asked, "
                    "due, reason, created_by, created_at, updated_at) VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                    t.id, t.from_city, t.to_city, std::string(to_string(t.status)), items.dump(),
                    static_cast<std::int64_t>(t.units_asked()), text_ts(t.due), t.reason,
                    t.created_by, text_ts(t.created_at));
            if (!r && r.error().code == errc::conflict)
                return fail(errc::conflict, "id", "transfer " + t.id + " exists already");
            EQM_TRY(r);
            EQM_TRY(insert_units_locked(t));
            EQM_TRY(write_transfer_locked(t));
        }
        return tx.commit();
    }

    result<std::optional<transfer_view>> find_transfer(std::string_view id) override {
        std::lock_guard lock(mutex_);
        return find_transfer_locked(id);
    }

    result<page<transfer_view>> list_transfers(const transfer_filter& f,
                                               const page_query& q) override {
        std::optional<std::string> after_created;
        std::optional<std::string> after_id;
        if (q.after) {
            const auto bar = q.after->find('|');
            if (bar == std::string::npos || !parse_timestamp(q.after->substr(0, bar)))
                return fail(errc::bad_field, "cursor", "is not a cursor of this list");
            after_created = q.after->substr(0, bar);
            after_id = q.after->substr(bar + 1);
        }
        std::optional<std::string> status;
        if (f.status) status = std::string(to_string(*f.status));
        std::lock_guard lock(mutex_);
        page<transfer_view> out;
        EQM_TRY(each_row(
            db_,
            std::string(transfer_columns) +
                " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR from_city = ?2 OR "
                "to_city = ?2) AND (?3 IS NULL OR from_city = ?3) AND (?4 IS NULL OR to_city = ?4)"
                " AND (?5 IS NULL OR created_at < ?5 OR (created_at = ?5 AND id < ?6))"
                " ORDER BY created_at DESC, id DESC LIMIT ?7",
            [&](const statement& st) { out.items.push_back(read_transfer(st)); }, status, f.city,
            f.from_city, f.to_city, after_created, after_id, one_more(q)));
        for (auto& t : out.items) EQM_TRY(read_units_locked(t));
        return finish_page(std::move(out), q, [](const transfer_view& t) {
            return text_ts(t.created_at) + "|" + t.id;
        });
    }

    result<void> update_transfer(const transfer_view& t,
                                 std::span<const transfer_status> expected) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY_LET(tx, transaction::begin(db_));
        EQM_TRY_LET(current, find_transfer_locked(t.id));
        if (!current) return fail(errc::not_found, "id", "no transfer " + t.id);
        if (std::find(expected.begin(), expected.end(), current->status) == expected.end())
            return fail(
                errc::conflict, "status",
                "transfer " + t.id + " is " + std::string(to_string(current->status)) + " now");
        EQM_TRY(write_transfer_locked(t));
        EQM_TRY(insert_units_locked(t));
        EQM_TRY(run(db_,
                    "UPDATE transfer_units SET state = 'cancelled' WHERE transfer_id = ?1 AND "
                    "?2 = 'cancelled' AND state = 'ordered'",
                    t.id, std::string(to_string(t.status))));
        return tx.commit();
    }

    result<std::vector<std::string>> devices_in_open_transfers(
        std::span<const std::string> device_ids) override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& id : device_ids) {
            EQM_TRY(each_row(
                db_,
                "SELECT u.device_id FROM transfer_units u JOIN transfers t ON t.id = "
                "u.transfer_id WHERE u.device_id = ?1 AND u.state IN ('ordered', 'in_transit') "
                "AND t.status NOT IN ('completed', 'cancelled') LIMIT 1",
                [&](const statement& st) { out.push_back(st.column_text(0)); }, id));
        }
        return out;
    }

    result<std::vector<transfer_view>> transfers_past_due(clock_ms now) override {
        std::lock_guard lock(mutex_);
        std::vector<transfer_view> out;
        EQM_TRY(each_row(
            db_,
            std::string(transfer_columns) +
                " WHERE status IN ('approved', 'in_transit') AND due < ?1 ORDER BY due, id",
            [&](const statement& st) { out.push_back(read_transfer(st)); }, text_ts(now)));
        for (auto& t : out) EQM_TRY(read_units_locked(t));
        return out;
    }

    result<std::optional<std::string>> command_payload(std::string_view cmd_id) override {
        std::lock_guard lock(mutex_);
        std::optional<std::string> out;
        EQM_TRY(each_row(
            db_, "SELECT payload FROM outbox WHERE cmd_id = ?1",
            [&](const statement& st) { out = st.column_text(0); }, cmd_id));
        return out;
    }

    result<alert_view> raise_server_alert(const alert_view& a) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        EQM_TRY(run(db_, sql_server_alert, a.id, a.city, std::string(to_string(a.type)),
                    std::string(to_string(a.state)), std::string(to_string(a.severity)), a.detail,
                    a.device_id, text_ts(a.raised_at)));
        EQM_TRY_LET(view, find_alert_locked(a.id));
        if (!view) return fail(errc::internal, "id", "the alert " + a.id + " was not stored");
        return std::move(*view);
    }

  private:
    static constexpr std::string_view transfer_columns =
        "SELECT id, from_city, to_city, status, items, due, reason, created_by, created_at, "
        "updated_at, approved_by, approved_at, cancelled_by, completed_at FROM transfers";

    static transfer_view read_transfer(const statement& st) {
        transfer_view t;
        t.id = st.column_text(0);
        t.from_city = st.column_text(1);
        t.to_city = st.column_text(2);
        t.status = parse_transfer_status(st.column_text(3)).value_or(transfer_status::requested);
        const auto items = json::parse(st.column_text(4), nullptr, false);
        if (items.is_array()) {
            for (const auto& i : items)
                if (auto item = transfer_item_from_json(i, "items")) t.items.push_back(*item);
        }
        t.due = read_ts(st.column_optional_text(5)).value_or(clock_ms{});
        t.reason = st.column_text(6);
        t.created_by = st.column_text(7);
        t.created_at = read_ts(st.column_optional_text(8)).value_or(clock_ms{});
        t.updated_at = read_ts(st.column_optional_text(9)).value_or(clock_ms{});
        t.approved_by = st.column_optional_text(10);
        t.approved_at = read_ts(st.column_optional_text(11));
        t.cancelled_by = st.column_optional_text(12);
        t.completed_at = read_ts(st.column_optional_text(13));
        return t;
    }

    result<std::optional<transfer_view>> find_transfer_locked(std::string_view id) {
        std::optional<transfer_view> out;
        EQM_TRY(each_row(
            db_, std::string(transfer_columns) + " WHERE id = ?1",
            [&](const statement& st) { out = read_transfer(st); }, id));
        if (out) EQM_TRY(read_units_locked(*out));
        return out;
    }

    result<void> read_units_locked(transfer_view& t) {
        return each_row(
            db_,
            "SELECT device_id, class, analyte, state, courier, handed_over_at, arrived_at "
            "FROM transfer_units WHERE transfer_id = ?1 ORDER BY rowid",
            [&](const statement& st) {
                transfer_unit u;
                u.device_id = st.column_text(0);
                u.cls = parse_device_class(st.column_text(1)).value_or(device_class::body_camera);
                if (auto a = st.column_optional_text(2)) u.analyte_type = parse_analyte(*a);
                u.state = parse_transfer_unit_state(st.column_text(3))
                              .value_or(transfer_unit_state::ordered);
                u.courier = st.column_optional_text(4);
                u.handed_over_at = read_ts(st.column_optional_text(5));
                u.arrived_at = read_ts(st.column_optional_text(6));
                t.units.push_back(std::move(u));
            },
            t.id);
    }

    /// Adds the units of `t` the store does not have yet (states of stored ones stay).
    result<void> insert_units_locked(const transfer_view& t) {
        for (const auto& u : t.units) {
            std::optional<std::string> a;
            if (u.analyte_type) a = std::string(to_string(*u.analyte_type));
            EQM_TRY(run(db_,
                        "INSERT INTO transfer_units(transfer_id, device_id, class, analyte, state) "
                        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                        t.id, u.device_id, std::string(to_string(u.cls)), a,
                        std::string(to_string(u.state))));
        }
        return {};
    }

    result<void> write_transfer_locked(const transfer_view& t) {
        std::optional<std::string> approved_at;
        if (t.approved_at) approved_at = text_ts(*t.approved_at);
        std::optional<std::string> completed_at;
        if (t.completed_at) completed_at = text_ts(*t.completed_at);
        return run(db_,
                   "UPDATE transfers SET status = ?2, updated_at = ?3, approved_by = ?4, "
                   "approved_at = ?5, cancelled_by = ?6, completed_at = ?7 WHERE id = ?1",
                   t.id, std::string(to_string(t.status)), text_ts(t.updated_at), t.approved_by,
                   approved_at, t.cancelled_by, completed_at);
    }

    std::mutex mutex_;
    std::atomic<std::uint64_t> revision_{0};
    database db_;
    std::map<std::string, chain_state, std::less<>> chains_;
};

}  // namespace

std::string_view to_string(dead_letter_kind k) noexcept {
    switch (k) {
        case dead_letter_kind::malformed:
            return "malformed";
        case dead_letter_kind::quarantined:
            return "quarantined";
        case dead_letter_kind::refused:
            return "refused";
    }
    return "malformed";
}

result<std::unique_ptr<region_store>> open_sqlite_region_store(const std::filesystem::path& path) {
    store::database_options options;
    // The outbox and the applied seq are what srv/ack promises: they must survive power loss.
    options.synchronous = store::synchronous_mode::full;
    EQM_TRY_LET(db, database::open(path, options));
    // A savepoint per batch of a round keeps the original of each page it changes in a
    // sub-journal: in memory, not in a temporary file.
    EQM_TRY(db.execute("PRAGMA temp_store = MEMORY"));
    EQM_TRY(store::migrate(db, migrations));
    return std::unique_ptr<region_store>(std::make_unique<sqlite_region_store>(std::move(db)));
}

}  // namespace eqm::server
