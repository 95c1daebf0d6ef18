#include "city_ledger.hpp"

#include <array>
#include <nlohmann/json.hpp>
#include <tuple>

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/store/migration.hpp"

namespace eqm::gateway {
namespace {

/// Small page cache: the gateway runs on a small ARM box next to 10,000 devices' worth of
/// rows; hot rows stay in the OS page cache anyway. Negative: KiB.
constexpr std::string_view cache_pragma = "PRAGMA cache_size=-2048";

constexpr std::array<store::migration, 6> migrations{{
    {1, "city ledger",
     R"sql(
CREATE TABLE gateway_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE devices(
  id TEXT PRIMARY KEY,
  registered INTEGER NOT NULL DEFAULT 0,
  class TEXT, model TEXT, city TEXT, calibration_due TEXT, record TEXT,
  online INTEGER NOT NULL DEFAULT 0, bd_seq INTEGER, fw TEXT,
  first_seen_ms INTEGER, last_seen_ms INTEGER
) WITHOUT ROWID;
CREATE TABLE people(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, city TEXT, badge TEXT,
  active INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE INDEX people_by_badge ON people(badge);
CREATE TABLE custody(
  device_id TEXT PRIMARY KEY, state TEXT NOT NULL, holder TEXT, due_ms INTEGER,
  transfer_id TEXT, locked INTEGER NOT NULL DEFAULT 0, lock_reason TEXT,
  docked INTEGER NOT NULL DEFAULT 0, removed_ms INTEGER
) WITHOUT ROWID;
CREATE TABLE ledger(
  idx INTEGER PRIMARY KEY, device_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
  hash TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX ledger_by_device ON ledger(device_id, idx);
CREATE TABLE telemetry_latest(
  device_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  battery_pct REAL NOT NULL, storage_free_mb REAL NOT NULL, temp_c REAL NOT NULL,
  charging INTEGER, docked INTEGER, footage_pending_since_ms INTEGER, calibration_due TEXT,
  lat REAL, lon REAL
) WITHOUT ROWID;
CREATE TABLE telemetry_minute(
  device_id TEXT NOT NULL, minute_ms INTEGER NOT NULL, count INTEGER NOT NULL,
  battery_pct_min REAL NOT NULL, battery_pct_last REAL NOT NULL,
  storage_free_mb_last REAL NOT NULL, temp_c_max REAL NOT NULL, lat REAL, lon REAL,
  PRIMARY KEY(device_id, minute_ms)
) WITHOUT ROWID;
CREATE INDEX telemetry_minute_by_age ON telemetry_minute(minute_ms);
CREATE TABLE reservations(
  id TEXT PRIMARY KEY, device_id TEXT NOT NULL, person_id TEXT NOT NULL,
  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, status TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX reservations_by_device ON reservations(device_id);
CREATE TABLE alerts(
  n INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  device_id TEXT, severity TEXT NOT NULL, detail TEXT NOT NULL, raised_ms INTEGER NOT NULL,
  cleared_ms INTEGER, acked_ms INTEGER, acked_by TEXT
);
CREATE INDEX alerts_by_cleared ON alerts(cleared_ms);
CREATE TABLE processed_events(
  client_id TEXT NOT NULL, event_id TEXT NOT NULL, result TEXT NOT NULL, ts_ms INTEGER NOT NULL,
  PRIMARY KEY(client_id, event_id)
) WITHOUT ROWID;
CREATE TABLE processed_commands(
  cmd_id TEXT PRIMARY KEY, type TEXT NOT NULL, result TEXT NOT NULL, detail TEXT,
  record_index INTEGER, ts_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ts_ms INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX outbox_by_kind ON outbox(kind, seq);
CREATE TABLE outbox_skipped(from_seq INTEGER PRIMARY KEY, to_seq INTEGER NOT NULL);
)sql"},
    {2, "telemetry session",
     R"sql(
ALTER TABLE telemetry_latest ADD COLUMN bd_seq INTEGER NOT NULL DEFAULT 0;
)sql"},
    {3, "registry sync in parts",
     R"sql(
CREATE TABLE registry_sync(
  sync_id TEXT PRIMARY KEY, parts INTEGER NOT NULL, started_ms INTEGER NOT NULL,
  completed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE registry_sync_part(
  sync_id TEXT NOT NULL, part INTEGER NOT NULL, PRIMARY KEY(sync_id, part)
) WITHOUT ROWID;
CREATE TABLE registry_sync_listed(
  sync_id TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(sync_id, kind, id)
) WITHOUT ROWID;
)sql"},
    {4, "logins",
     R"sql(
ALTER TABLE people ADD COLUMN password_hash TEXT;
CREATE INDEX people_by_name ON people(name);
CREATE TABLE sessions(
  token_hash TEXT PRIMARY KEY, person_id TEXT NOT NULL, expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_person ON sessions(person_id);
)sql"},
    {5, "badge cities",
     R"sql(
ALTER TABLE people ADD COLUMN badge_cities TEXT;
)sql"},
    {6, "transfer orders",
     R"sql(
CREATE TABLE transfer_orders(
  transfer_id TEXT NOT NULL, device_id TEXT NOT NULL, step TEXT NOT NULL,
  from_city TEXT NOT NULL, to_city TEXT NOT NULL, device_record TEXT,
  PRIMARY KEY(transfer_id, device_id)
) WITHOUT ROWID;
CREATE INDEX transfer_orders_by_device ON transfer_orders(device_id);
)sql"},
}};

std::int64_t ms(clock_ms t) {
    return t.time_since_epoch().count();
}
clock_ms from_ms(std::int64_t v) {
    return clock_ms{std::chrono::milliseconds{v}};
}
std::optional<clock_ms> opt_ms(const std::optional<std::int64_t>& v) {
    if (!v) return std::nullopt;
    return from_ms(*v);
}
std::optional<std::int64_t> opt_int(const std::optional<clock_ms>& t) {
    if (!t) return std::nullopt;
    return ms(*t);
}
std::optional<std::string> opt_date_text(const std::optional<date>& d) {
    if (!d) return std::nullopt;
    return format_date(*d);
}
std::optional<date> opt_date(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    auto d = parse_date(*s);
    if (!d) return std::nullopt;
    return *d;
}
std::optional<std::int64_t> opt_bool(const std::optional<bool>& b) {
    if (!b) return std::nullopt;
    return *b ? 1 : 0;
}

device_row read_device(const store::statement& s, int c) {
    device_row d;
    d.id = s.column_text(c + 0);
    d.registered = s.column_int64(c + 1) != 0;
    if (auto t = s.column_optional_text(c + 2)) d.cls = parse_device_class(*t);
    d.model = s.column_optional_text(c + 3);
    d.city = s.column_optional_text(c + 4);
    d.calibration_due = opt_date(s.column_optional_text(c + 5));
    d.online = s.column_int64(c + 6) != 0;
    if (auto v = s.column_optional_int64(c + 7)) d.bd_seq = static_cast<std::uint64_t>(*v);
    d.fw = s.column_optional_text(c + 8);
    d.last_seen = opt_ms(s.column_optional_int64(c + 9));
    return d;
}
constexpr std::string_view device_columns =
    "d.id, d.registered, d.class, d.model, d.city, d.calibration_due, d.online, d.bd_seq, d.fw, "
    "d.last_seen_ms";

custody_row read_custody(const store::statement& s, int c) {
    custody_row r;
    if (s.column_is_null(c)) return r;  // never recorded: available
    r.custody.state = parse_custody_state(s.column_text(c)).value_or(custody_state::available);
    r.custody.holder = s.column_optional_text(c + 1);
    r.custody.due = opt_ms(s.column_optional_int64(c + 2));
    r.custody.transfer_id = s.column_optional_text(c + 3);
    r.custody.locked = s.column_int64(c + 4) != 0;
    r.lock_reason = s.column_optional_text(c + 5);
    r.docked = s.column_int64(c + 6) != 0;
    r.unauthorised_removal_at = opt_ms(s.column_optional_int64(c + 7));
    return r;
}
constexpr std::string_view custody_columns =
    "c.state, c.holder, c.due_ms, c.transfer_id, c.locked, c.lock_reason, c.docked, c.removed_ms";

person_record read_person(const store::statement& s) {
    person_record p;
    p.id = s.column_text(0);
    p.name = s.column_text(1);
    p.role = parse_person_role(s.column_text(2)).value_or(person_role::officer);
    p.city = s.column_optional_text(3);
    p.badge = s.column_optional_text(4);
    if (s.column_int64(5) == 0) p.active = false;
    // Written by upsert_person from a checked record: a JSON array of city codes.
    if (auto cities = s.column_optional_text(6)) {
        auto j = nlohmann::json::parse(*cities, nullptr, false);
        if (j.is_array()) {
            p.badge_cities.emplace();
            for (const auto& c : j)
                if (c.is_string()) p.badge_cities->push_back(c.get<std::string>());
        }
    }
    return p;
}
constexpr std::string_view person_columns =
    "p.id, p.name, p.role, p.city, p.badge, p.active, p.badge_cities";

result<custody_record> parse_ledger_text(const std::string& text) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return fail(errc::ledger_broken, "ledger", "a stored record is not JSON");
    return parse_custody_record(j);
}

}  // namespace

result<city_ledger> city_ledger::open(const std::string& path,
                                      std::chrono::milliseconds busy_timeout) {
    store::database_options opts;
    // Acks promise durability: FULL makes a commit survive power loss, not only a crash.
    // Group commit keeps the fsync count per decision low.
    opts.synchronous = store::synchronous_mode::full;
    opts.busy_timeout = busy_timeout;
    EQM_TRY_LET(db, store::database::open(path, opts));
    EQM_TRY(db.execute(cache_pragma));
    EQM_TRY(store::migrate(db, migrations));
    return city_ledger(std::move(db));
}

result<std::optional<std::int64_t>> city_ledger::meta(std::string_view key) {
    EQM_TRY_LET(s, db_.prepare("SELECT value FROM gateway_meta WHERE key = ?"));
    EQM_TRY(s.bind(1, key));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>{s.column_int64(0)};
}

result<void> city_ledger::set_meta(std::string_view key, std::int64_t value) {
    EQM_TRY_LET(s, db_.prepare("INSERT INTO gateway_meta(key, value) VALUES(?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
    EQM_TRY(s.bind_all(key, value));
    return s.exec();
}

result<void> city_ledger::upsert_device(const device_record& d) {
    EQM_TRY_LET(
        s, db_.prepare("INSERT INTO devices(id, registered, class, model, city, calibration_due, "
                       "record) VALUES(?, 1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                       "registered = 1, class = excluded.class, model = excluded.model, "
                       "city = excluded.city, calibration_due = excluded.calibration_due, "
                       "record = excluded.record"));
    EQM_TRY(s.bind_all(d.id, to_string(d.cls), d.model, d.city));
    EQM_TRY(s.bind(5, opt_date_text(d.calibration_due)));
    EQM_TRY(s.bind(6, to_json(d).dump()));
    EQM_TRY(s.exec());
    if (d.retired.value_or(false)) {
        // The registry retired it: custody follows without a ledger record of its own
        // (the registry change is the record of that).
        EQM_TRY_LET(
            u, db_.prepare("INSERT INTO custody(device_id, state) VALUES(?, 'retired') "
                           "ON CONFLICT(device_id) DO UPDATE SET state = 'retired', holder = NULL, "
                           "due_ms = NULL"));
        EQM_TRY(u.bind(1, d.id));
        EQM_TRY(u.exec());
    }
    return {};
}

result<void> city_ledger::unregister_devices_except(const std::vector<std::string>& keep) {
    EQM_TRY(db_.execute("CREATE TEMP TABLE IF NOT EXISTS keep_ids(id TEXT PRIMARY KEY)"));
    EQM_TRY(db_.execute("DELETE FROM keep_ids"));
    EQM_TRY_LET(ins, db_.prepare("INSERT OR IGNORE INTO keep_ids(id) VALUES(?)"));
    for (const auto& id : keep) {
        EQM_TRY(ins.bind(1, id));
        EQM_TRY(ins.exec());
    }
    return db_.execute(
        "UPDATE devices SET registered = 0 WHERE registered = 1 AND id NOT IN (SELECT id FROM "
        "keep_ids)");
}

result<void> city_ledger::upsert_person(const person_record& p) {
    EQM_TRY_LET(
        s, db_.prepare("INSERT INTO people(id, name, role, city, badge, active, password_hash, "
                       "badge_cities) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                       "name = excluded.name, role = excluded.role, city = excluded.city, "
                       "badge = excluded.badge, active = excluded.active, "
                       "password_hash = excluded.password_hash, "
                       "badge_cities = excluded.badge_cities"));
    EQM_TRY(s.bind_all(p.id, p.name, to_string(p.role)));
    EQM_TRY(s.bind(4, p.city));
    EQM_TRY(s.bind(5, p.badge));
    EQM_TRY(s.bind(6, p.is_active() ? 1 : 0));
    EQM_TRY(s.bind(7, p.password_hash));
    std::optional<std::string> cities;
    if (p.badge_cities && !p.badge_cities->empty()) cities = nlohmann::json(*p.badge_cities).dump();
    EQM_TRY(s.bind(8, cities));
    EQM_TRY(s.exec());
    // A deactivated person's logins end now (authenticate() checks again at every request).
    if (!p.is_active()) EQM_TRY(delete_sessions_of(p.id));
    return {};
}

result<std::vector<person_record>> city_ledger::people_named(std::string_view name) {
    EQM_TRY_LET(s, db_.prepare("SELECT " + std::string(person_columns) +
                               ", p.password_hash FROM people p WHERE p.name = ? ORDER BY p.id"));
    EQM_TRY(s.bind(1, name));
    std::vector<person_record> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        auto p = read_person(s);
        p.password_hash = s.column_optional_text(7);
        out.push_back(std::move(p));
    }
    return out;
}

result<void> city_ledger::insert_session(std::string_view token_hash, std::string_view person_id,
                                         clock_ms expires) {
    EQM_TRY_LET(s, db_.prepare("INSERT INTO sessions(token_hash, person_id, expires_ms) "
                               "VALUES(?,?,?)"));
    EQM_TRY(s.bind_all(token_hash, person_id, ms(expires)));
    return s.exec();
}

result<std::optional<person_record>> city_ledger::session_person(std::string_view token_hash,
                                                                 clock_ms now) {
    // Joined, so a person deleted by a full sync has no valid session left.
    EQM_TRY_LET(s, db_.prepare("SELECT " + std::string(person_columns) +
                               " FROM sessions t JOIN people p ON p.id = t.person_id "
                               "WHERE t.token_hash = ? AND t.expires_ms > ?"));
    EQM_TRY(s.bind_all(token_hash, ms(now)));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<person_record>{};
    return std::optional<person_record>{read_person(s)};
}

result<void> city_ledger::delete_sessions_of(std::string_view person_id) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM sessions WHERE person_id = ?"));
    EQM_TRY(s.bind(1, person_id));
    return s.exec();
}

result<void> city_ledger::prune_sessions(clock_ms now) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM sessions WHERE expires_ms <= ? OR person_id NOT IN "
                               "(SELECT id FROM people WHERE active = 1)"));
    EQM_TRY(s.bind(1, ms(now)));
    return s.exec();
}

result<void> city_ledger::delete_people_except(const std::vector<std::string>& keep) {
    EQM_TRY(db_.execute("CREATE TEMP TABLE IF NOT EXISTS keep_people(id TEXT PRIMARY KEY)"));
    EQM_TRY(db_.execute("DELETE FROM keep_people"));
    EQM_TRY_LET(ins, db_.prepare("INSERT OR IGNORE INTO keep_people(id) VALUES(?)"));
    for (const auto& id : keep) {
        EQM_TRY(ins.bind(1, id));
        EQM_TRY(ins.exec());
    }
    return db_.execute("DELETE FROM people WHERE id NOT IN (SELECT id FROM keep_people)");
}

namespace {
registry_sync_row read_sync(const store::statement& s) {
    return registry_sync_row{s.column_text(0), static_cast<std::uint64_t>(s.column_int64(1)),
                             from_ms(s.column_int64(2)), s.column_int64(3) != 0};
}
}  // namespace

result<std::optional<registry_sync_row>> city_ledger::find_sync(std::string_view sync_id) {
    EQM_TRY_LET(s, db_.prepare("SELECT sync_id, parts, started_ms, completed FROM registry_sync "
                               "WHERE sync_id = ?"));
    EQM_TRY(s.bind(1, sync_id));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<registry_sync_row>{};
    return std::optional<registry_sync_row>{read_sync(s)};
}

result<std::optional<registry_sync_row>> city_ledger::latest_sync() {
    EQM_TRY_LET(s, db_.prepare("SELECT sync_id, parts, started_ms, completed FROM registry_sync "
                               "ORDER BY started_ms DESC, completed ASC LIMIT 1"));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<registry_sync_row>{};
    return std::optional<registry_sync_row>{read_sync(s)};
}

result<void> city_ledger::drop_syncs_except(std::string_view keep) {
    for (const char* table : {"registry_sync_listed", "registry_sync_part", "registry_sync"}) {
        EQM_TRY_LET(s, db_.prepare(std::string("DELETE FROM ") + table + " WHERE sync_id != ?"));
        EQM_TRY(s.bind(1, keep));
        EQM_TRY(s.exec());
    }
    return {};
}

result<void> city_ledger::start_sync(std::string_view sync_id, std::uint64_t parts,
                                     clock_ms started) {
    EQM_TRY(drop_syncs_except(sync_id));
    EQM_TRY_LET(s, db_.prepare("INSERT INTO registry_sync(sync_id, parts, started_ms) "
                               "VALUES(?,?,?)"));
    EQM_TRY(s.bind_all(sync_id, static_cast<std::int64_t>(parts), ms(started)));
    return s.exec();
}

result<std::uint64_t> city_ledger::add_sync_part(std::string_view sync_id, std::uint64_t part,
                                                 const std::vector<std::string>& devices,
                                                 const std::vector<std::string>& people) {
    EQM_TRY_LET(listed, db_.prepare("INSERT OR IGNORE INTO registry_sync_listed(sync_id, kind, "
                                    "id) VALUES(?,?,?)"));
    for (const auto& [kind, ids] : {std::pair{"device", &devices}, std::pair{"person", &people}})
        for (const auto& id : *ids) {
            EQM_TRY(listed.bind_all(sync_id, std::string_view(kind), id));
            EQM_TRY(listed.exec());
        }
    EQM_TRY_LET(p, db_.prepare("INSERT OR IGNORE INTO registry_sync_part(sync_id, part) "
                               "VALUES(?,?)"));
    EQM_TRY(p.bind_all(sync_id, static_cast<std::int64_t>(part)));
    EQM_TRY(p.exec());
    EQM_TRY_LET(n, db_.prepare("SELECT COUNT(*) FROM registry_sync_part WHERE sync_id = ?"));
    EQM_TRY(n.bind(1, sync_id));
    EQM_TRY(n.step());
    return static_cast<std::uint64_t>(n.column_int64(0));
}

result<void> city_ledger::complete_sync(std::string_view sync_id) {
    EQM_TRY_LET(devices, db_.prepare("UPDATE devices SET registered = 0 WHERE registered = 1 AND "
                                     "id NOT IN (SELECT id FROM registry_sync_listed WHERE "
                                     "sync_id = ? AND kind = 'device')"));
    EQM_TRY(devices.bind(1, sync_id));
    EQM_TRY(devices.exec());
    EQM_TRY_LET(people, db_.prepare("DELETE FROM people WHERE id NOT IN (SELECT id FROM "
                                    "registry_sync_listed WHERE sync_id = ? AND kind = 'person')"));
    EQM_TRY(people.bind(1, sync_id));
    EQM_TRY(people.exec());
    // Only the finished sync's row stays, so a late part of it is recognised.
    EQM_TRY(drop_syncs_except(sync_id));
    for (const char* table : {"registry_sync_listed", "registry_sync_part"}) {
        EQM_TRY_LET(s, db_.prepare(std::string("DELETE FROM ") + table + " WHERE sync_id = ?"));
        EQM_TRY(s.bind(1, sync_id));
        EQM_TRY(s.exec());
    }
    EQM_TRY_LET(done, db_.prepare("UPDATE registry_sync SET completed = 1 WHERE sync_id = ?"));
    EQM_TRY(done.bind(1, sync_id));
    return done.exec();
}

result<std::optional<device_row>> city_ledger::find_device(std::string_view id) {
    EQM_TRY_LET(
        s, db_.prepare("SELECT " + std::string(device_columns) + " FROM devices d WHERE d.id = ?"));
    EQM_TRY(s.bind(1, id));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<device_row>{};
    return std::optional<device_row>{read_device(s, 0)};
}

result<bool> city_ledger::note_device_seen(std::string_view id, clock_ms now) {
    EQM_TRY_LET(s, db_.prepare("INSERT INTO devices(id, registered, first_seen_ms, last_seen_ms) "
                               "VALUES(?, 0, ?, ?) ON CONFLICT(id) DO NOTHING"));
    EQM_TRY(s.bind_all(id, ms(now), ms(now)));
    EQM_TRY(s.exec());
    return db_.changes() > 0;
}

result<void> city_ledger::set_liveness(std::string_view id, bool online, std::uint64_t bd_seq,
                                       const std::optional<device_class>& cls,
                                       const std::optional<std::string>& model,
                                       const std::optional<std::string>& fw, clock_ms now) {
    EQM_TRY(note_device_seen(id, now));
    // The registry's class and model win for registered devices; a birth fills them in for
    // devices the registry does not know yet.
    EQM_TRY_LET(
        s, db_.prepare("UPDATE devices SET online = ?, bd_seq = ?, fw = COALESCE(?, fw), "
                       "class = CASE WHEN registered = 1 THEN class ELSE COALESCE(?, class) END, "
                       "model = CASE WHEN registered = 1 THEN model ELSE COALESCE(?, model) END, "
                       "last_seen_ms = ? WHERE id = ?"));
    EQM_TRY(s.bind(1, online ? 1 : 0));
    EQM_TRY(s.bind(2, static_cast<std::int64_t>(bd_seq)));
    EQM_TRY(s.bind(3, fw));
    if (cls) {
        EQM_TRY(s.bind(4, to_string(*cls)));
    } else {
        EQM_TRY(s.bind_null(4));
    }
    EQM_TRY(s.bind(5, model));
    EQM_TRY(s.bind(6, ms(now)));
    EQM_TRY(s.bind(7, id));
    return s.exec();
}

result<void> city_ledger::touch_devices(const std::vector<std::pair<std::string, clock_ms>>& seen) {
    EQM_TRY_LET(ins, db_.prepare("INSERT INTO devices(id, registered, first_seen_ms, last_seen_ms) "
                                 "VALUES(?, 0, ?, ?) ON CONFLICT(id) DO UPDATE SET last_seen_ms = "
                                 "MAX(COALESCE(last_seen_ms, 0), excluded.last_seen_ms)"));
    for (const auto& [id, at] : seen) {
        EQM_TRY(ins.bind_all(id, ms(at), ms(at)));
        EQM_TRY(ins.exec());
    }
    return {};
}

result<void> city_ledger::for_each_device(
    const device_filter& filter,
    const std::function<result<bool>(const device_row&, const custody_row&)>& visit) {
    std::string sql = "SELECT " + std::string(device_columns) + ", " +
                      std::string(custody_columns) +
                      " FROM devices d LEFT JOIN custody c ON c.device_id = d.id WHERE 1";
    if (filter.cls) sql += " AND d.class = ?1";
    // A device never recorded in custody is available.
    if (filter.status) sql += " AND COALESCE(c.state, 'available') = ?2";
    if (filter.after_id) sql += " AND d.id > ?3";
    sql += " ORDER BY d.id";
    if (filter.limit) sql += " LIMIT ?4";
    EQM_TRY_LET(s, db_.prepare(sql));
    if (filter.cls) EQM_TRY(s.bind(1, to_string(*filter.cls)));
    if (filter.status) EQM_TRY(s.bind(2, to_string(*filter.status)));
    if (filter.after_id) EQM_TRY(s.bind(3, *filter.after_id));
    if (filter.limit) EQM_TRY(s.bind(4, static_cast<std::int64_t>(*filter.limit)));
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        EQM_TRY_LET(more, visit(read_device(s, 0), read_custody(s, 10)));
        if (!more) break;
    }
    return {};
}

result<std::optional<person_record>> city_ledger::find_person_by_badge(std::string_view badge) {
    EQM_TRY_LET(s, db_.prepare("SELECT " + std::string(person_columns) +
                               " FROM people p WHERE p.badge = ? ORDER BY p.active DESC LIMIT 1"));
    EQM_TRY(s.bind(1, badge));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<person_record>{};
    return std::optional<person_record>{read_person(s)};
}

result<std::optional<person_record>> city_ledger::find_person(std::string_view id) {
    EQM_TRY_LET(
        s, db_.prepare("SELECT " + std::string(person_columns) + " FROM people p WHERE p.id = ?"));
    EQM_TRY(s.bind(1, id));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<person_record>{};
    return std::optional<person_record>{read_person(s)};
}

result<std::int64_t> city_ledger::count_devices() {
    EQM_TRY_LET(s, db_.prepare("SELECT COUNT(*) FROM devices WHERE registered = 1"));
    EQM_TRY(s.step());
    return s.column_int64(0);
}

result<custody_row> city_ledger::load_custody(std::string_view device_id) {
    EQM_TRY_LET(s, db_.prepare("SELECT " + std::string(custody_columns) +
                               " FROM custody c WHERE c.device_id = ?"));
    EQM_TRY(s.bind(1, device_id));
    EQM_TRY_LET(row, s.step());
    if (!row) return custody_row{};
    return read_custody(s, 0);
}

result<void> city_ledger::save_custody(std::string_view device_id, const custody_row& c) {
    EQM_TRY_LET(
        s, db_.prepare("INSERT INTO custody(device_id, state, holder, due_ms, transfer_id, locked, "
                       "lock_reason, docked, removed_ms) VALUES(?,?,?,?,?,?,?,?,?) "
                       "ON CONFLICT(device_id) DO UPDATE SET state = excluded.state, "
                       "holder = excluded.holder, due_ms = excluded.due_ms, "
                       "transfer_id = excluded.transfer_id, locked = excluded.locked, "
                       "lock_reason = excluded.lock_reason, docked = excluded.docked, "
                       "removed_ms = excluded.removed_ms"));
    EQM_TRY(s.bind_all(device_id, to_string(c.custody.state)));
    EQM_TRY(s.bind(3, c.custody.holder));
    EQM_TRY(s.bind(4, opt_int(c.custody.due)));
    EQM_TRY(s.bind(5, c.custody.transfer_id));
    EQM_TRY(s.bind(6, c.custody.locked ? 1 : 0));
    EQM_TRY(s.bind(7, c.lock_reason));
    EQM_TRY(s.bind(8, c.docked ? 1 : 0));
    EQM_TRY(s.bind(9, opt_int(c.unauthorised_removal_at)));
    return s.exec();
}

result<std::pair<std::uint64_t, std::string>> city_ledger::ledger_head() {
    EQM_TRY_LET(s, db_.prepare("SELECT idx, hash FROM ledger ORDER BY idx DESC LIMIT 1"));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::pair<std::uint64_t, std::string>{0, std::string(genesis_prev_hash)};
    return std::pair<std::uint64_t, std::string>{static_cast<std::uint64_t>(s.column_int64(0)) + 1,
                                                 s.column_text(1)};
}

result<void> city_ledger::append_ledger(const custody_record& r) {
    EQM_TRY_LET(
        s,
        db_.prepare("INSERT INTO ledger(idx, device_id, ts_ms, hash, record) VALUES(?,?,?,?,?)"));
    EQM_TRY(s.bind_all(static_cast<std::int64_t>(r.index), r.device_id, ms(r.ts), r.hash,
                       to_json(r).dump()));
    return s.exec();
}

result<std::vector<custody_record>> city_ledger::device_ledger(std::string_view device_id,
                                                               std::optional<std::uint64_t> after,
                                                               std::size_t limit) {
    EQM_TRY_LET(s, db_.prepare("SELECT record FROM ledger WHERE device_id = ? AND idx > ? "
                               "ORDER BY idx LIMIT ?"));
    EQM_TRY(s.bind(1, device_id));
    EQM_TRY(s.bind(2, after ? static_cast<std::int64_t>(*after) : std::int64_t{-1}));
    EQM_TRY(s.bind(3, static_cast<std::int64_t>(
                          std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()))));
    std::vector<custody_record> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        EQM_TRY_LET(rec, parse_ledger_text(s.column_text(0)));
        out.push_back(std::move(rec));
    }
    return out;
}

result<void> city_ledger::scan_ledger(const std::function<bool(const custody_record&)>& visit) {
    EQM_TRY_LET(s, db_.prepare("SELECT idx, device_id, record FROM ledger ORDER BY idx"));
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        auto rec = parse_ledger_text(s.column_text(2));
        if (!rec)  // name the row, as the verifier does for a record that parses
            return fail(errc::ledger_broken, "ledger",
                        "record at index " + std::to_string(s.column_int64(0)) + " (device " +
                            s.column_text(1) + "): " + rec.error().message);
        if (!visit(*rec)) break;
    }
    return {};
}

result<void> city_ledger::upsert_reservation(const reservation_record& r) {
    EQM_TRY_LET(
        s,
        db_.prepare("INSERT INTO reservations(id, device_id, person_id, start_ms, end_ms, status) "
                    "VALUES(?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET device_id = "
                    "excluded.device_id, person_id = excluded.person_id, start_ms = "
                    "excluded.start_ms, end_ms = excluded.end_ms, status = excluded.status"));
    EQM_TRY(
        s.bind_all(r.id, r.device_id, r.person_id, ms(r.start), ms(r.end), to_string(r.status)));
    return s.exec();
}

result<bool> city_ledger::cancel_reservation(std::string_view id) {
    EQM_TRY_LET(s, db_.prepare("UPDATE reservations SET status = 'cancelled' WHERE id = ?"));
    EQM_TRY(s.bind(1, id));
    EQM_TRY(s.exec());
    return db_.changes() > 0;
}

result<std::vector<reservation>> city_ledger::device_reservations(std::string_view device_id) {
    EQM_TRY_LET(
        s,
        db_.prepare("SELECT id, device_id, person_id, start_ms, end_ms, status FROM reservations "
                    "WHERE device_id = ? AND status != 'cancelled' ORDER BY start_ms"));
    EQM_TRY(s.bind(1, device_id));
    std::vector<reservation> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        reservation r;
        r.id = s.column_text(0);
        r.device_id = s.column_text(1);
        r.person_id = s.column_text(2);
        r.start = from_ms(s.column_int64(3));
        r.end = from_ms(s.column_int64(4));
        r.status = parse_reservation_status(s.column_text(5)).value_or(reservation_status::pending);
        out.push_back(std::move(r));
    }
    return out;
}

result<void> city_ledger::upsert_latest(std::string_view device_id, const telemetry_latest& t) {
    EQM_TRY_LET(
        s,
        db_.prepare("INSERT OR REPLACE INTO telemetry_latest(device_id, ts_ms, seq, battery_pct, "
                    "storage_free_mb, temp_c, charging, docked, footage_pending_since_ms, "
                    "calibration_due, lat, lon, bd_seq) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    EQM_TRY(s.bind_all(std::string(device_id), ms(t.ts), static_cast<std::int64_t>(t.seq),
                       t.battery_pct, t.storage_free_mb, t.temp_c));
    EQM_TRY(s.bind(7, opt_bool(t.charging)));
    EQM_TRY(s.bind(8, opt_bool(t.docked)));
    EQM_TRY(s.bind(9, opt_int(t.footage_pending_since)));
    EQM_TRY(s.bind(10, opt_date_text(t.calibration_due)));
    EQM_TRY(s.bind(11, t.lat));
    EQM_TRY(s.bind(12, t.lon));
    EQM_TRY(s.bind(13, static_cast<std::int64_t>(t.bd_seq)));
    return s.exec();
}

result<std::vector<telemetry_latest_row>> city_ledger::all_latest() {
    EQM_TRY_LET(
        s,
        db_.prepare("SELECT device_id, ts_ms, seq, battery_pct, storage_free_mb, temp_c, charging, "
                    "docked, footage_pending_since_ms, calibration_due, lat, lon, bd_seq "
                    "FROM telemetry_latest"));
    std::vector<telemetry_latest_row> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        telemetry_latest_row row_out;
        row_out.device_id = s.column_text(0);
        auto& t = row_out.latest;
        t.ts = from_ms(s.column_int64(1));
        t.seq = static_cast<std::uint64_t>(s.column_int64(2));
        t.battery_pct = s.column_double(3);
        t.storage_free_mb = s.column_double(4);
        t.temp_c = s.column_double(5);
        if (auto v = s.column_optional_int64(6)) t.charging = *v != 0;
        if (auto v = s.column_optional_int64(7)) t.docked = *v != 0;
        t.footage_pending_since = opt_ms(s.column_optional_int64(8));
        t.calibration_due = opt_date(s.column_optional_text(9));
        t.lat = s.column_optional_double(10);
        t.lon = s.column_optional_double(11);
        t.bd_seq = static_cast<std::uint64_t>(s.column_int64(12));
        out.push_back(std::move(row_out));
    }
    return out;
}

result<void> city_ledger::insert_minute(const telemetry_summary_body& m) {
    EQM_TRY_LET(
        s, db_.prepare("INSERT OR REPLACE INTO telemetry_minute(device_id, minute_ms, count, "
                       "battery_pct_min, battery_pct_last, storage_free_mb_last, temp_c_max, lat, "
                       "lon) VALUES(?,?,?,?,?,?,?,?,?)"));
    EQM_TRY(s.bind_all(m.device_id, ms(m.minute), static_cast<std::int64_t>(m.count),
                       m.battery_pct_min, m.battery_pct_last, m.storage_free_mb_last,
                       m.temp_c_max));
    if (m.gps) {
        EQM_TRY(s.bind(8, m.gps->lat));
        EQM_TRY(s.bind(9, m.gps->lon));
    } else {
        EQM_TRY(s.bind_null(8));
        EQM_TRY(s.bind_null(9));
    }
    return s.exec();
}

result<std::int64_t> city_ledger::prune_minutes(clock_ms before) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM telemetry_minute WHERE minute_ms < ?"));
    EQM_TRY(s.bind(1, ms(before)));
    EQM_TRY(s.exec());
    return db_.changes();
}

result<void> city_ledger::prune_processed(clock_ms before) {
    EQM_TRY_LET(e, db_.prepare("DELETE FROM processed_events WHERE ts_ms < ?"));
    EQM_TRY(e.bind(1, ms(before)));
    EQM_TRY(e.exec());
    EQM_TRY_LET(c, db_.prepare("DELETE FROM processed_commands WHERE ts_ms < ?"));
    EQM_TRY(c.bind(1, ms(before)));
    return c.exec();
}

result<void> city_ledger::insert_alert(const alert_row& a) {
    EQM_TRY_LET(
        s, db_.prepare("INSERT INTO alerts(alert_id, type, device_id, severity, detail, raised_ms) "
                       "VALUES(?,?,?,?,?,?)"));
    EQM_TRY(s.bind_all(a.alert_id, to_string(a.type)));
    EQM_TRY(s.bind(3, a.device_id));
    EQM_TRY(s.bind(4, to_string(a.severity)));
    EQM_TRY(s.bind(5, a.detail));
    EQM_TRY(s.bind(6, ms(a.raised)));
    return s.exec();
}

result<void> city_ledger::clear_alert(std::string_view alert_id, clock_ms at) {
    EQM_TRY_LET(s, db_.prepare("UPDATE alerts SET cleared_ms = ? WHERE alert_id = ? AND "
                               "cleared_ms IS NULL"));
    EQM_TRY(s.bind_all(ms(at), alert_id));
    return s.exec();
}

result<bool> city_ledger::ack_alert(std::string_view alert_id, clock_ms at, std::string_view by) {
    EQM_TRY_LET(s, db_.prepare("UPDATE alerts SET acked_ms = COALESCE(acked_ms, ?), acked_by = "
                               "COALESCE(acked_by, ?) WHERE alert_id = ?"));
    EQM_TRY(s.bind_all(ms(at), by, alert_id));
    EQM_TRY(s.exec());
    return db_.changes() > 0;
}

namespace {
constexpr std::string_view alert_columns =
    "alert_id, type, device_id, severity, detail, raised_ms, cleared_ms, acked_ms, acked_by, n";
alert_row read_alert(const store::statement& s) {
    alert_row a;
    a.alert_id = s.column_text(0);
    a.type = parse_alert_type(s.column_text(1)).value_or(alert_type::low_battery);
    a.device_id = s.column_optional_text(2);
    a.severity = parse_alert_severity(s.column_text(3)).value_or(alert_severity::warning);
    a.detail = s.column_text(4);
    a.raised = from_ms(s.column_int64(5));
    a.cleared = opt_ms(s.column_optional_int64(6));
    a.acked = opt_ms(s.column_optional_int64(7));
    a.acked_by = s.column_optional_text(8);
    a.n = static_cast<std::uint64_t>(s.column_int64(9));
    return a;
}
}  // namespace

result<std::vector<alert_row>> city_ledger::alerts(bool include_cleared, std::size_t limit,
                                                   std::optional<std::uint64_t> before) {
    std::string sql = "SELECT " + std::string(alert_columns) + " FROM alerts WHERE n < ?1";
    if (!include_cleared) sql += " AND cleared_ms IS NULL";
    sql += " ORDER BY n DESC LIMIT ?2";
    EQM_TRY_LET(s, db_.prepare(sql));
    EQM_TRY(s.bind(
        1, before ? static_cast<std::int64_t>(*before) : std::numeric_limits<std::int64_t>::max()));
    EQM_TRY(s.bind(2, static_cast<std::int64_t>(limit)));
    std::vector<alert_row> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        out.push_back(read_alert(s));
    }
    return out;
}

result<std::optional<alert_row>> city_ledger::find_alert(std::string_view alert_id) {
    EQM_TRY_LET(
        s, db_.prepare("SELECT " + std::string(alert_columns) + " FROM alerts WHERE alert_id = ?"));
    EQM_TRY(s.bind(1, alert_id));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<alert_row>{};
    return std::optional<alert_row>{read_alert(s)};
}

result<std::optional<std::string>> city_ledger::event_result(std::string_view client_id,
                                                             std::string_view event_id) {
    EQM_TRY_LET(
        s, db_.prepare("SELECT result FROM processed_events WHERE client_id = ? AND event_id = ?"));
    EQM_TRY(s.bind_all(client_id, event_id));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<std::string>{};
    return std::optional<std::string>{s.column_text(0)};
}

result<void> city_ledger::record_event(std::string_view client_id, std::string_view event_id,
                                       std::string_view result_text, clock_ms now) {
    EQM_TRY_LET(s, db_.prepare("INSERT INTO processed_events(client_id, event_id, result, ts_ms) "
                               "VALUES(?,?,?,?)"));
    EQM_TRY(s.bind_all(client_id, event_id, result_text, ms(now)));
    return s.exec();
}

result<std::optional<command_row>> city_ledger::command_result(std::string_view cmd_id) {
    EQM_TRY_LET(s, db_.prepare("SELECT type, result, detail, record_index FROM processed_commands "
                               "WHERE cmd_id = ?"));
    EQM_TRY(s.bind(1, cmd_id));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<command_row>{};
    command_row c;
    c.type = parse_srv_cmd_type(s.column_text(0)).value_or(srv_cmd_type::registry_upsert);
    c.result = s.column_text(1);
    c.detail = s.column_optional_text(2);
    if (auto v = s.column_optional_int64(3)) c.record_index = static_cast<std::uint64_t>(*v);
    return std::optional<command_row>{std::move(c)};
}

result<void> city_ledger::record_command(std::string_view cmd_id, const command_row& c,
                                         clock_ms now) {
    EQM_TRY_LET(
        s, db_.prepare("INSERT INTO processed_commands(cmd_id, type, result, detail, record_index, "
                       "ts_ms) VALUES(?,?,?,?,?,?)"));
    EQM_TRY(s.bind_all(cmd_id, to_string(c.type), c.result));
    EQM_TRY(s.bind(4, c.detail));
    if (c.record_index) {
        EQM_TRY(s.bind(5, static_cast<std::int64_t>(*c.record_index)));
    } else {
        EQM_TRY(s.bind_null(5));
    }
    EQM_TRY(s.bind(6, ms(now)));
    return s.exec();
}

result<std::uint64_t> city_ledger::outbox_append(std::string_view kind, clock_ms ts,
                                                 std::string_view body) {
    EQM_TRY_LET(s, db_.prepare("INSERT INTO outbox(kind, ts_ms, body) VALUES(?,?,?)"));
    EQM_TRY(s.bind_all(kind, ms(ts), body));
    EQM_TRY(s.exec());
    return static_cast<std::uint64_t>(db_.last_insert_rowid());
}

result<std::vector<outbox_row>> city_ledger::outbox_from(std::uint64_t first_seq,
                                                         std::size_t limit) {
    EQM_TRY_LET(
        s, db_.prepare(
               "SELECT seq, kind, ts_ms, body FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?"));
    EQM_TRY(s.bind_all(static_cast<std::int64_t>(first_seq), static_cast<std::int64_t>(limit)));
    std::vector<outbox_row> out;
    out.reserve(limit < 1024 ? limit : 1024);
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        out.push_back(outbox_row{static_cast<std::uint64_t>(s.column_int64(0)), s.column_text(1),
                                 from_ms(s.column_int64(2)), s.column_text(3)});
    }
    return out;
}

result<void> city_ledger::outbox_delete_upto(std::uint64_t seq) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM outbox WHERE seq <= ?"));
    EQM_TRY(s.bind(1, static_cast<std::int64_t>(seq)));
    return s.exec();
}

result<std::pair<std::uint64_t, std::uint64_t>> city_ledger::outbox_stats() {
    EQM_TRY_LET(s, db_.prepare("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM outbox"));
    EQM_TRY(s.step());
    return std::pair<std::uint64_t, std::uint64_t>{static_cast<std::uint64_t>(s.column_int64(0)),
                                                   static_cast<std::uint64_t>(s.column_int64(1))};
}

result<std::uint64_t> city_ledger::outbox_last_seq() {
    EQM_TRY_LET(s, db_.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::uint64_t{0};
    return static_cast<std::uint64_t>(s.column_int64(0));
}

result<std::vector<std::tuple<std::uint64_t, std::uint64_t, clock_ms>>>
city_ledger::outbox_oldest_droppable(std::size_t limit) {
    EQM_TRY_LET(s, db_.prepare("SELECT seq, LENGTH(body), ts_ms FROM outbox WHERE kind = "
                               "'telemetry_summary' ORDER BY seq LIMIT ?"));
    EQM_TRY(s.bind(1, static_cast<std::int64_t>(limit)));
    std::vector<std::tuple<std::uint64_t, std::uint64_t, clock_ms>> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        out.emplace_back(static_cast<std::uint64_t>(s.column_int64(0)),
                         static_cast<std::uint64_t>(s.column_int64(1)), from_ms(s.column_int64(2)));
    }
    return out;
}

result<void> city_ledger::outbox_delete(std::uint64_t seq) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM outbox WHERE seq = ?"));
    EQM_TRY(s.bind(1, static_cast<std::int64_t>(seq)));
    return s.exec();
}

result<void> city_ledger::skipped_add(seq_range r) {
    // Merge with a range that ends right before this one, so contiguous drops stay one pair.
    EQM_TRY_LET(s, db_.prepare("UPDATE outbox_skipped SET to_seq = ? WHERE to_seq = ?"));
    EQM_TRY(s.bind_all(static_cast<std::int64_t>(r.to), static_cast<std::int64_t>(r.from) - 1));
    EQM_TRY(s.exec());
    if (db_.changes() > 0) return {};
    EQM_TRY_LET(i, db_.prepare("INSERT INTO outbox_skipped(from_seq, to_seq) VALUES(?,?)"));
    EQM_TRY(i.bind_all(static_cast<std::int64_t>(r.from), static_cast<std::int64_t>(r.to)));
    return i.exec();
}

result<std::vector<seq_range>> city_ledger::skipped_all() {
    EQM_TRY_LET(s, db_.prepare("SELECT from_seq, to_seq FROM outbox_skipped ORDER BY from_seq"));
    std::vector<seq_range> out;
    while (true) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        out.push_back(seq_range{static_cast<std::uint64_t>(s.column_int64(0)),
                                static_cast<std::uint64_t>(s.column_int64(1))});
    }
    return out;
}

result<void> city_ledger::skipped_delete_upto(std::uint64_t seq) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM outbox_skipped WHERE to_seq <= ?"));
    EQM_TRY(s.bind(1, static_cast<std::int64_t>(seq)));
    return s.exec();
}

// --- transfer orders -------------------------------------------------------------------------

result<void> city_ledger::add_transfer_order(const transfer_order_row& o) {
    EQM_TRY_LET(s, db_.prepare("INSERT INTO transfer_orders(transfer_id, device_id, step, "
                               "from_city, to_city, device_record) VALUES(?,?,?,?,?,?) "
                               "ON CONFLICT DO UPDATE SET step = excluded.step, "
                               "device_record = excluded.device_record"));
    EQM_TRY(s.bind_all(o.transfer_id, o.device_id, to_string(o.step), o.from_city, o.to_city));
    std::optional<std::string> record;
    if (o.device) record = to_json(*o.device).dump();
    EQM_TRY(s.bind(6, record));
    return s.exec();
}

result<std::optional<transfer_order_row>> city_ledger::transfer_order_of(std::string_view device_id,
                                                                         transfer_step step) {
    EQM_TRY_LET(s, db_.prepare("SELECT transfer_id, device_id, from_city, to_city, device_record "
                               "FROM transfer_orders WHERE device_id = ? AND step = ? "
                               "ORDER BY transfer_id LIMIT 1"));
    EQM_TRY(s.bind_all(device_id, to_string(step)));
    EQM_TRY_LET(row, s.step());
    if (!row) return std::optional<transfer_order_row>{};
    transfer_order_row o;
    o.transfer_id = s.column_text(0);
    o.device_id = s.column_text(1);
    o.step = step;
    o.from_city = s.column_text(2);
    o.to_city = s.column_text(3);
    if (auto text = s.column_optional_text(4)) {
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (!j.is_discarded()) {
            if (auto d = from_json_device_record(j)) o.device = std::move(*d);
        }
    }
    return std::optional<transfer_order_row>{std::move(o)};
}

result<std::size_t> city_ledger::remove_transfer_orders(
    std::string_view transfer_id, const std::optional<std::string>& device_id) {
    EQM_TRY_LET(s, db_.prepare("DELETE FROM transfer_orders WHERE transfer_id = ? AND "
                               "(?2 IS NULL OR device_id = ?2)"));
    EQM_TRY(s.bind(1, transfer_id));
    EQM_TRY(s.bind(2, device_id));
    EQM_TRY(s.exec());
    return static_cast<std::size_t>(db_.changes());
}

result<std::vector<std::string>> city_ledger::transfer_candidates(
    device_class cls, std::optional<analyte> analyte_type) {
    EQM_TRY_LET(
        s, db_.prepare("SELECT d.id, d.record FROM devices d LEFT JOIN custody c ON c.device_id = "
                       "d.id WHERE d.registered = 1 AND d.class = ? AND "
                       "COALESCE(c.state, 'available') = 'available' AND COALESCE(c.locked, 0) = 0 "
                       "AND NOT EXISTS (SELECT 1 FROM transfer_orders o WHERE o.device_id = d.id) "
                       "ORDER BY d.id"));
    EQM_TRY(s.bind(1, to_string(cls)));
    std::vector<std::string> out;
    for (;;) {
        EQM_TRY_LET(row, s.step());
        if (!row) break;
        if (analyte_type) {
            auto j =
                nlohmann::json::parse(s.column_optional_text(1).value_or("{}"), nullptr, false);
            if (j.is_discarded() || j.value("analyte", "") != to_string(*analyte_type)) continue;
        }
        out.push_back(s.column_text(0));
    }
    return out;
}

result<void> city_ledger::device_left(const device_record& d) {
    EQM_TRY_LET(s, db_.prepare("UPDATE devices SET registered = 0, city = ?, record = ? "
                               "WHERE id = ?"));
    EQM_TRY(s.bind_all(d.city, to_json(d).dump(), d.id));
    return s.exec();
}

}  // namespace eqm::gateway
