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
#include "region_store.hpp"

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

constexpr std::array<store::migration, 3> migrations{{
    {1, "regional read model", schema_v1},
    {2, "idempotency and token expiry indexes", schema_v2},
    {3, "idempotency by the applied seq alone", schema_v3},
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

template <class... Ts>
result<void> run(database& db, std::string_view sql, const Ts&... values) {
    auto st = db.prepare(sql);
    if (!st) return std::unexpected(st.error());
    if (auto b = st->bind_all(values...); !b) return b;
    return st->exec();
}

/// Runs a query, calling `on_row(statement&)` for every row.
template <class F, class... Ts>
result<void> each_row(database& db, std::string_view sql, F&& on_row, const Ts&... values) {
    auto st = db.prepare(sql);
    if (!st) return std::unexpected(st.error());
    if (auto b = st->bind_all(values...); !b) return b;
    for (;;) {
        auto more = st->step();
        if (!more) return std::unexpected(more.error());
        if (!*more) break;
        on_row(*st);
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
    return u;
}
constexpr std::string_view user_columns =
    "SELECT u.id, u.name, u.role, u.city, u.badge, u.active, u.password_hash FROM users u";

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

/// A user as the gateway of `city` gets it: the password hash only for those who may log in
/// to that city's kiosk page (its custodians, dispatchers, admins).
person_record person_for_gateway(user_account u, std::string_view city) {
    person_record p;
    p.id = std::move(u.id);
    p.name = std::move(u.name);
    p.role = u.role;
    p.city = u.city;
    p.badge = std::move(u.badge);
    const bool kiosk = u.role == person_role::dispatcher || u.role == person_role::admin ||
                       (u.role == person_role::custodian && u.city && *u.city == city);
    if (kiosk) p.password_hash = std::move(u.password_hash);
    return p;
}

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

/// A statement prepared once for a whole batch and run once per event: the cache lookup,
/// copy and give-back of database::prepare cost as much as a small INSERT.
class held_statement {
  public:
    explicit held_statement(std::string_view sql) noexcept : sql_(sql) {}

    /// Binds `values` to 1..N and runs the statement to completion.
    template <class... Ts>
    result<void> run(database& db, const Ts&... values) {
        if (!st_) {
            auto st = db.prepare(sql_);
            if (!st) return std::unexpected(st.error());
            st_.emplace(std::move(*st));
        }
        if (auto b = st_->bind_all(values...); !b) return b;
        return st_->exec();
    }

  private:
    std::string_view sql_;
    std::optional<statement> st_;
};

// The statements apply_batch runs per event.
constexpr std::string_view sql_insert_custody =
    "INSERT OR IGNORE INTO custody(city, idx, hash, device_id, ts, record, verified) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr std::string_view sql_custody_device =
    "UPDATE devices SET status = ?2, holder = ?3, due = ?4, city = COALESCE(?5, city), "
    "updated_at = ?6, last_seen = MAX(COALESCE(last_seen, ''), ?6) WHERE id = ?1";
constexpr std::string_view sql_device_state =
    "UPDATE devices SET online = ?2, fw = COALESCE(?3, fw), "
    "last_seen = MAX(COALESCE(last_seen, ''), ?4) WHERE id = ?1";
constexpr std::string_view sql_upsert_telemetry =
    "INSERT INTO telemetry(device_id, city, minute, count, battery_pct_min, battery_pct_last, "
    "storage_free_mb_last, temp_c_max, gps) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT(device_id) DO UPDATE SET city = excluded.city, minute = excluded.minute, "
    "count = excluded.count, battery_pct_min = excluded.battery_pct_min, "
    "battery_pct_last = excluded.battery_pct_last, "
    "storage_free_mb_last = excluded.storage_free_mb_last, temp_c_max = excluded.temp_c_max, "
    "gps = excluded.gps WHERE excluded.minute >= telemetry.minute";
constexpr std::string_view sql_device_seen =
    "UPDATE devices SET last_seen = MAX(COALESCE(last_seen, ''), ?2) WHERE id = ?1";

/// apply_batch's per-event statements, prepared on first use and returned at the end.
struct batch_statements {
    held_statement insert_custody{sql_insert_custody};
    held_statement custody_device{sql_custody_device};
    held_statement device_state{sql_device_state};
    held_statement upsert_telemetry{sql_upsert_telemetry};
    held_statement device_seen{sql_device_seen};
};

class sqlite_region_store final : public region_store {
  public:
    explicit sqlite_region_store(database db) : db_(std::move(db)) {}

    std::uint64_t revision() const noexcept override {
        return revision_.load(std::memory_order_acquire);
    }

    result<std::int64_t> external_version() override {
        std::lock_guard lock(mutex_);
        auto st = db_.prepare("PRAGMA data_version");
        if (!st) return std::unexpected(st.error());
        auto row = st->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) return fail(errc::internal, "", "PRAGMA data_version returned no row");
        return st->column_int64(0);
    }

    // --- registry ----------------------------------------------------------------------
    result<void> insert_device(const device_record& d, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        auto tx = transaction::begin(db_);
        if (!tx) return std::unexpected(tx.error());
        if (auto r = insert_device_locked(d, now); !r) return r;
        return tx->commit();
    }

    result<void> insert_devices(std::span<const device_record> devices, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        auto tx = transaction::begin(db_);
        if (!tx) return std::unexpected(tx.error());
        for (const auto& d : devices) {
            if (auto r = insert_device_locked(d, now); !r) return r;
        }
        return tx->commit();
    }

    result<void> update_device(const device_record& d, clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        auto st = db_.prepare(
            "UPDATE devices SET class=?2, model=?3, city=?4, serial=?5, analyte=?6, "
            "calibration_due=?7, registration_id=?8, flight_hours=?9, battery_cycles=?10, "
            "retired=?11, updated_at=?12 WHERE id=?1");
        if (!st) return std::unexpected(st.error());
        if (auto b = bind_record(*st, d); !b) return b;
        if (auto b = st->bind(12, text_ts(now)); !b) return b;
        if (auto e = st->exec(); !e) return e;
        if (db_.changes() == 0) return fail(errc::not_found, "id", "no device " + d.id);
        return {};
    }

    result<std::optional<device_view>> find_device(std::string_view id) override {
        std::lock_guard lock(mutex_);
        std::optional<device_view> out;
        auto r = each_row(
            db_, std::string(device_columns) + " WHERE d.id = ?1",
            [&](const statement& st) { out = read_device(st); }, id);
        if (!r) return std::unexpected(r.error());
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
        auto r = each_row(
            db_,
            std::string(device_columns) +
                " WHERE d.id IN (SELECT value FROM json_each(?1)) ORDER BY d.id",
            [&](const statement& st) { out.push_back(read_device(st)); }, list);
        if (!r) return std::unexpected(r.error());
        return out;
    }

    result<std::vector<device_record>> registry_of_city(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::vector<device_record> out;
        auto r = each_row(
            db_, std::string(device_columns) + " WHERE d.city = ?1 ORDER BY d.id",
            [&](const statement& st) { out.push_back(read_record(st)); }, city);
        if (!r) return std::unexpected(r.error());
        return out;
    }

    result<std::vector<person_record>> people_for_city(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::vector<person_record> out;
        EQM_TRY(each_row(
            db_,
            std::string(user_columns) +
                " WHERE u.active = 1 AND ((u.badge IS NOT NULL AND (u.city = ?1 OR u.city IS NULL"
                " OR u.role IN ('dispatcher', 'admin'))) OR (u.role = 'custodian' AND u.city = ?1)"
                " OR u.role IN ('dispatcher', 'admin')) ORDER BY u.id",
            [&](const statement& st) { out.push_back(person_for_gateway(read_user(st), city)); },
            city));
        return out;
    }

    result<std::vector<std::string>> existing_device_ids(
        std::span<const std::string> ids) override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& id : ids) {
            auto r = each_row(
                db_, "SELECT id FROM devices WHERE id = ?1",
                [&](const statement& st) { out.push_back(st.column_text(0)); }, id);
            if (!r) return std::unexpected(r.error());
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
                auto rec = parse_custody_record(j);
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
    result<batch_outcome> apply_batch(const batch_input& in) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        auto tx = transaction::begin(db_);
        if (!tx) return std::unexpected(tx.error());
        const auto& b = in.batch;
        batch_outcome out;

        std::uint64_t applied = 0;
        if (auto r = each_row(
                db_, "SELECT applied_seq FROM gateway_seq WHERE gw_id = ?1",
                [&](const statement& st) {
                    applied = static_cast<std::uint64_t>(st.column_int64(0));
                },
                b.gw_id);
            !r)
            return std::unexpected(r.error());

        auto skipped = in.skipped;
        std::sort(skipped.begin(), skipped.end());
        // Ranges the gateway dropped by policy count as delivered.
        auto absorb_skipped = [&] {
            for (const auto& [from, to] : skipped)
                if (from <= applied + 1 && to > applied) applied = to;
        };
        absorb_skipped();

        auto chain = load_chain(in.city);
        if (!chain) return std::unexpected(chain.error());
        chain_state work = *chain;
        bool chain_touched = false;
        std::set<std::string> changed;

        std::vector<const gw_event*> events;
        events.reserve(b.events.size());
        for (const auto& e : b.events) events.push_back(&e);
        std::stable_sort(events.begin(), events.end(),
                         [](const gw_event* x, const gw_event* y) { return x->seq < y->seq; });

        batch_statements sts;
        for (const gw_event* e : events) {
            if (e->seq <= applied) {
                ++out.duplicates;
                continue;
            }
            if (e->seq > applied + 1) {
                out.resend_from = applied + 1;
                break;
            }
            if (auto r = apply_event(in, *e, sts, work, chain_touched, changed, out); !r)
                return std::unexpected(r.error());
            applied = e->seq;
            ++out.applied;
            absorb_skipped();
        }
        out.upto_seq = applied;

        if (auto r = run(db_,
                         "INSERT INTO gateway_seq(gw_id, applied_seq) VALUES (?1, ?2) "
                         "ON CONFLICT(gw_id) DO UPDATE SET applied_seq = excluded.applied_seq",
                         b.gw_id, static_cast<std::int64_t>(applied));
            !r)
            return std::unexpected(r.error());
        if (auto r = run(db_, "UPDATE gateways SET last_seen = ?2 WHERE city = ?1", in.city,
                         text_ts(in.now));
            !r)
            return std::unexpected(r.error());
        if (chain_touched) {
            if (auto r = run(db_,
                             "INSERT INTO ledger_heads(city, next_index, head_hash, broken_message)"
                             " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(city) DO UPDATE SET"
                             " next_index = excluded.next_index, head_hash = excluded.head_hash,"
                             " broken_message = excluded.broken_message",
                             in.city, static_cast<std::int64_t>(work.verifier.next_index()),
                             work.verifier.head_hash(), work.broken_message);
                !r)
                return std::unexpected(r.error());
        }
        if (auto c = tx->commit(); !c) return std::unexpected(c.error());
        if (chain_touched) chains_.insert_or_assign(in.city, std::move(work));
        out.changed_devices.assign(changed.begin(), changed.end());
        return out;
    }

    result<gateway_transition> apply_gateway_state(std::string_view city, const gw_state& s,
                                                   clock_ms now) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        auto tx = transaction::begin(db_);
        if (!tx) return std::unexpected(tx.error());
        std::optional<std::uint64_t> current_bd_seq;
        if (auto r = each_row(
                db_, "SELECT bd_seq FROM gateways WHERE city = ?1",
                [&](const statement& st) {
                    current_bd_seq = static_cast<std::uint64_t>(st.column_int64(0));
                },
                city);
            !r)
            return std::unexpected(r.error());

        gateway_transition t{};
        if (s.online) {
            t = gateway_transition::came_online;
            auto r =
                run(db_,
                    "INSERT INTO gateways(city, gw_id, online, bd_seq, version, last_seen) "
                    "VALUES (?1, ?2, 1, ?3, ?4, ?5) ON CONFLICT(city) DO UPDATE SET "
                    "gw_id = excluded.gw_id, online = 1, bd_seq = excluded.bd_seq, "
                    "version = excluded.version, last_seen = excluded.last_seen",
                    city, s.gw_id, static_cast<std::int64_t>(s.bd_seq), s.version, text_ts(now));
            if (!r) return std::unexpected(r.error());
        } else if (current_bd_seq && s.bd_seq < *current_bd_seq) {
            // The will of an older session: the gateway has reconnected since.
            t = gateway_transition::stale_will;
        } else {
            t = gateway_transition::went_offline;
            auto r = run(db_,
                         "INSERT INTO gateways(city, online, bd_seq) VALUES (?1, 0, ?2) "
                         "ON CONFLICT(city) DO UPDATE SET online = 0, bd_seq = excluded.bd_seq",
                         city, static_cast<std::int64_t>(s.bd_seq));
            if (!r) return std::unexpected(r.error());
        }
        if (auto c = tx->commit(); !c) return std::unexpected(c.error());
        return t;
    }

    result<void> record_dead_letter(std::string_view topic, std::string_view payload,
                                    std::string_view reason, clock_ms now) override {
        std::lock_guard lock(mutex_);
        // Keep a bounded prefix of the payload: enough to debug, not a disk-filling vector.
        constexpr std::size_t kept_payload_bytes = 64 * 1024;
        return run(db_,
                   "INSERT INTO dead_letters(topic, payload, reason, received_at) "
                   "VALUES (?1, ?2, ?3, ?4)",
                   topic, payload.substr(0, kept_payload_bytes), reason, text_ts(now));
    }

    result<std::uint64_t> dead_letter_count() override {
        std::lock_guard lock(mutex_);
        std::uint64_t n = 0;
        auto r = each_row(db_, "SELECT COUNT(*) FROM dead_letters", [&](const statement& st) {
            n = static_cast<std::uint64_t>(st.column_int64(0));
        });
        if (!r) return std::unexpected(r.error());
        return n;
    }

    result<std::vector<gateway_view>> gateways() override {
        std::lock_guard lock(mutex_);
        std::vector<gateway_view> out;
        auto r = each_row(db_, std::string(gateway_columns) + " ORDER BY g.city",
                          [&](const statement& st) { out.push_back(read_gateway(st)); });
        if (!r) return std::unexpected(r.error());
        return out;
    }

    result<std::optional<gateway_view>> gateway(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::optional<gateway_view> out;
        auto r = each_row(
            db_, std::string(gateway_columns) + " WHERE g.city = ?1",
            [&](const statement& st) { out = read_gateway(st); }, city);
        if (!r) return std::unexpected(r.error());
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
        auto r = run(db_, "UPDATE alerts SET acked_by = ?2, acked_at = ?3 WHERE id = ?1", id, by,
                     text_ts(now));
        if (!r) return std::unexpected(r.error());
        if (db_.changes() == 0) return fail(errc::not_found, "id", "no alert " + std::string(id));
        auto a = find_alert_locked(id);
        if (!a) return std::unexpected(a.error());
        return **a;
    }

    // --- users and tokens --------------------------------------------------------------
    result<void> insert_user(const user_account& u) override {
        std::lock_guard lock(mutex_);
        revision_bump bump(revision_);
        return run(db_,
                   "INSERT INTO users(id, name, role, city, badge, active, password_hash, "
                   "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                   "strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                   u.id, u.name, std::string(to_string(u.role)), u.city, u.badge, u.active ? 1 : 0,
                   u.password_hash);
    }

    result<std::optional<user_account>> find_user_by_name(std::string_view name) override {
        std::lock_guard lock(mutex_);
        std::optional<user_account> out;
        auto r = each_row(
            db_, std::string(user_columns) + " WHERE u.name = ?1",
            [&](const statement& st) { out = read_user(st); }, name);
        if (!r) return std::unexpected(r.error());
        return out;
    }

    result<void> insert_token(std::string_view token_hash, std::string_view user_id,
                              clock_ms expires_at) override {
        std::lock_guard lock(mutex_);
        auto tx = transaction::begin(db_);
        if (!tx) return std::unexpected(tx.error());
        // Expired tokens are useless; dropping them here keeps the table small.
        if (auto r = run(db_, "DELETE FROM tokens WHERE expires_at < ?1",
                         text_ts(expires_at - std::chrono::days{30}));
            !r)
            return r;
        if (auto r = run(db_, "INSERT INTO tokens(hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                         token_hash, user_id, text_ts(expires_at));
            !r)
            return r;
        return tx->commit();
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
        auto r = each_row(
            db_,
            std::string(user_columns) +
                " JOIN tokens t ON t.user_id = u.id WHERE t.hash = ?1 AND "
                "t.expires_at > ?2 AND u.active = 1",
            [&](const statement& st) { out = read_user(st); }, token_hash, text_ts(now));
        if (!r) return std::unexpected(r.error());
        return out;
    }

    // --- outbox ------------------------------------------------------------------------
    result<void> enqueue_command(const outbox_entry& e, clock_ms now) override {
        std::lock_guard lock(mutex_);
        return run(db_,
                   "INSERT INTO outbox(cmd_id, city, type, payload, created_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   e.cmd_id, e.city, e.type, e.payload, text_ts(now));
    }

    result<std::vector<outbox_entry>> pending_commands(std::string_view city) override {
        std::lock_guard lock(mutex_);
        std::vector<outbox_entry> out;
        auto r = each_row(
            db_,
            "SELECT cmd_id, city, type, payload, attempts FROM outbox "
            "WHERE city = ?1 AND state = 'pending' ORDER BY created_at, rowid",
            [&](const statement& st) {
                out.push_back(outbox_entry{st.column_text(0), st.column_text(1), st.column_text(2),
                                           st.column_text(3),
                                           static_cast<std::uint32_t>(st.column_int64(4))});
            },
            city);
        if (!r) return std::unexpected(r.error());
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
        auto r = each_row(
            db_, "SELECT result FROM outbox WHERE cmd_id = ?1 AND state = 'done'",
            [&](const statement& st) { out = st.column_optional_text(0); }, cmd_id);
        if (!r) return std::unexpected(r.error());
        return out;
    }

  private:
    result<void> insert_device_locked(const device_record& d, clock_ms now) {
        auto st = db_.prepare(
            "INSERT INTO devices(id, class, model, city, serial, analyte, calibration_due, "
            "registration_id, flight_hours, battery_cycles, retired, created_at, updated_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)");
        if (!st) return std::unexpected(st.error());
        if (auto b = bind_record(*st, d); !b) return b;
        if (auto b = st->bind(12, text_ts(now)); !b) return b;
        auto r = st->exec();
        if (!r && r.error().code == errc::conflict)
            return fail(errc::conflict, "id", "device " + d.id + " is already registered");
        return r;
    }

    result<std::optional<alert_view>> find_alert_locked(std::string_view id) {
        std::optional<alert_view> out;
        auto r = each_row(
            db_, std::string(alert_columns) + " WHERE id = ?1",
            [&](const statement& st) { out = read_alert(st); }, id);
        if (!r) return std::unexpected(r.error());
        return out;
    }

    result<chain_state> load_chain(const std::string& city) {
        if (auto it = chains_.find(city); it != chains_.end()) return it->second;
        chain_state c{ledger_verifier{}, std::nullopt};
        auto r = each_row(
            db_, "SELECT next_index, head_hash, broken_message FROM ledger_heads WHERE city = ?1",
            [&](const statement& st) {
                c.verifier = ledger_verifier(st.column_text(1),
                                             static_cast<std::uint64_t>(st.column_int64(0)));
                c.broken_message = st.column_optional_text(2);
            },
            city);
        if (!r) return std::unexpected(r.error());
        chains_.insert_or_assign(city, c);
        return c;
    }

    result<void> upsert_alert(const std::string& city, const alert_body& a, clock_ms ts,
                              batch_outcome& out) {
        auto r =
            run(db_,
                "INSERT INTO alerts(id, city, type, state, severity, detail, device_id, "
                "raised_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
                "severity = excluded.severity, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                a.alert_id, city, std::string(to_string(a.type)), std::string(to_string(a.state)),
                std::string(to_string(a.severity)), a.detail, a.device_id, text_ts(ts));
        if (!r) return r;
        auto view = find_alert_locked(a.alert_id);
        if (!view) return std::unexpected(view.error());
        if (*view) out.alerts.push_back(**view);
        return {};
    }

    result<void> apply_custody(const batch_input& in, const custody_record& rec, clock_ms ts,
                               batch_statements& sts, chain_state& chain, bool& chain_touched,
                               std::set<std::string>& changed, batch_outcome& out) {
        // Verify first (the stored row says whether it verified), then insert: when the row
        // is there already (the same record under a new msg_id) the chain is put back as it
        // was and nothing else happens, so no existence query is needed.
        bool verified = !chain.broken_message.has_value();
        verify_result v;
        std::optional<ledger_verifier> before;
        if (verified) {
            before = chain.verifier;
            v = chain.verifier.feed(rec);
            verified = v.ok();
        }
        if (auto r = sts.insert_custody.run(db_, in.city, static_cast<std::int64_t>(rec.index),
                                            rec.hash, rec.device_id, text_ts(rec.ts),
                                            record_text(rec), verified ? 1 : 0);
            !r)
            return r;
        if (db_.changes() == 0) {
            if (before) chain.verifier = std::move(*before);
            return {};
        }
        chain_touched = true;
        if (!v.ok()) {
            chain.broken_message = v.message;
            alert_body a;
            a.alert_id = "ledger-" + in.city + "-" + std::to_string(rec.index);
            a.type = alert_type::ledger_broken;
            a.state = alert_state::raised;
            a.severity = alert_severity::critical;
            a.detail = "custody record " + std::to_string(rec.index) + " (device " + rec.device_id +
                       ") of city " + in.city + " breaks the hash chain (" +
                       std::string(to_string(v.reason)) + "): " + v.message;
            if (a.detail.size() > max_detail_chars) a.detail.resize(max_detail_chars);
            a.device_id = rec.device_id;
            if (auto r = upsert_alert(in.city, a, ts, out); !r) return r;
        }
        std::optional<std::string> due;
        if (rec.due) due = text_ts(*rec.due);
        // A transfer's receipt moves the device into the receiving gateway's city.
        std::optional<std::string> new_city;
        if (rec.action == custody_action::transfer_in) new_city = in.city;
        if (auto r =
                sts.custody_device.run(db_, rec.device_id, std::string(to_string(rec.to_state)),
                                       rec.holder, due, new_city, text_ts(rec.ts));
            !r)
            return r;
        if (db_.changes() > 0) changed.insert(rec.device_id);
        return {};
    }

    result<void> apply_event(const batch_input& in, const gw_event& e, batch_statements& sts,
                             chain_state& chain, bool& chain_touched,
                             std::set<std::string>& changed, batch_outcome& out) {
        struct visitor {
            sqlite_region_store& self;
            const batch_input& in;
            const gw_event& e;
            batch_statements& sts;
            chain_state& chain;
            bool& chain_touched;
            std::set<std::string>& changed;
            batch_outcome& out;

            result<void> operator()(const custody_record& rec) const {
                return self.apply_custody(in, rec, e.ts, sts, chain, chain_touched, changed, out);
            }
            result<void> operator()(const device_state_body& d) const {
                auto r = sts.device_state.run(self.db_, d.device_id, d.online ? 1 : 0, d.fw,
                                              text_ts(e.ts));
                if (!r) return r;
                if (self.db_.changes() > 0) changed.insert(d.device_id);
                return {};
            }
            result<void> operator()(const telemetry_summary_body& t) const {
                std::optional<std::string> gps;
                if (t.gps) gps = to_json(*t.gps).dump();
                auto r = sts.upsert_telemetry.run(self.db_, t.device_id, in.city, text_ts(t.minute),
                                                  static_cast<std::int64_t>(t.count),
                                                  t.battery_pct_min, t.battery_pct_last,
                                                  t.storage_free_mb_last, t.temp_c_max, gps);
                if (!r) return r;
                return sts.device_seen.run(self.db_, t.device_id, text_ts(e.ts));
            }
            result<void> operator()(const alert_body& a) const {
                return self.upsert_alert(in.city, a, e.ts, out);
            }
            result<void> operator()(const command_result_body& c) const {
                auto r = run(self.db_,
                             "UPDATE outbox SET state = 'done', result = ?2, done_at = ?3 "
                             "WHERE cmd_id = ?1",
                             c.cmd_id, to_string(c.result), text_ts(in.now));
                if (!r) return r;
                out.command_results.push_back(c);
                return {};
            }
        };
        return std::visit(visitor{*this, in, e, sts, chain, chain_touched, changed, out}, e.body);
    }

    std::mutex mutex_;
    std::atomic<std::uint64_t> revision_{0};
    database db_;
    std::map<std::string, chain_state, std::less<>> chains_;
};

}  // namespace

result<std::unique_ptr<region_store>> open_sqlite_region_store(const std::filesystem::path& path) {
    store::database_options options;
    // The outbox and the applied seq are what srv/ack promises: they must survive power loss.
    options.synchronous = store::synchronous_mode::full;
    auto db = database::open(path, options);
    if (!db) return std::unexpected(db.error());
    auto v = store::migrate(*db, migrations);
    if (!v) return std::unexpected(v.error());
    return std::unique_ptr<region_store>(std::make_unique<sqlite_region_store>(std::move(*db)));
}

}  // namespace eqm::server
