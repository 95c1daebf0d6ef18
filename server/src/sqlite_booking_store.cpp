// Bookings in SQLite (see sqlite_booking_store.hpp). Times are stored as milliseconds since the
// epoch so a window check is an integer range on an index.
#include "sqlite_booking_store.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "eqm/domain/booking_capacity.hpp"
#include "eqm/domain/reservation.hpp"
#include "eqm/domain/try.hpp"

namespace eqm::server::booking_sql {

using nlohmann::json;
using store::database;
using store::statement;
using store::transaction;

namespace {

constexpr std::string_view booking_columns =
    "SELECT id, person_id, city, device_id, class, analyte, start_ms, end_ms, purpose, case_no, "
    "status, unit_id, reason, decided_by, created_ms, updated_ms, picked_up_ms, returned_ms, seq "
    "FROM bookings ";
constexpr std::string_view held_statuses = "('requested','approved','active','overdue')";
/// Custody records read per pass of advance().
constexpr std::int64_t sweep_batch = 2000;
/// How far beyond a window the alternatives may lie (30 days) plus the longest buffer.
constexpr auto decision_margin = alternative_horizon + std::chrono::days{1};

std::int64_t ms(clock_ms t) {
    return t.time_since_epoch().count();
}
clock_ms at_ms(std::int64_t v) {
    return clock_ms{std::chrono::milliseconds{v}};
}
std::optional<clock_ms> at_ms(std::optional<std::int64_t> v) {
    if (!v) return std::nullopt;
    return at_ms(*v);
}
std::optional<std::int64_t> ms(const std::optional<clock_ms>& t) {
    if (!t) return std::nullopt;
    return ms(*t);
}
std::optional<std::string> analyte_text(std::optional<eqm::analyte> a) {
    if (!a) return std::nullopt;
    return std::string(to_string(*a));
}

template <class F, class... Ts>
result<void> each_row(database& db, std::string_view sql, F&& on_row, const Ts&... values) {
    EQM_TRY_LET(st, db.prepare(sql));
    EQM_TRY(st.bind_all(values...));
    for (;;) {
        EQM_TRY_LET(more, st.step());
        if (!more) break;
        on_row(st);
    }
    return {};
}

template <class... Ts>
result<void> run(database& db, std::string_view sql, const Ts&... values) {
    EQM_TRY_LET(st, db.prepare(sql));
    EQM_TRY(st.bind_all(values...));
    return st.exec();
}

booking read_booking(const statement& st) {
    booking b;
    b.id = st.column_text(0);
    b.person_id = st.column_text(1);
    b.city = st.column_text(2);
    b.device_id = st.column_optional_text(3);
    b.cls = parse_device_class(st.column_text(4)).value_or(device_class::body_camera);
    if (auto a = st.column_optional_text(5)) b.analyte = parse_analyte(*a);
    b.start = at_ms(st.column_int64(6));
    b.end = at_ms(st.column_int64(7));
    b.purpose = st.column_text(8);
    b.case_no = st.column_optional_text(9);
    b.status = parse_reservation_status(st.column_text(10)).value_or(reservation_status::requested);
    b.unit_id = st.column_optional_text(11);
    b.reason = st.column_optional_text(12);
    b.decided_by = st.column_optional_text(13);
    b.created_at = at_ms(st.column_int64(14));
    b.updated_at = at_ms(st.column_int64(15));
    b.picked_up_at = at_ms(st.column_optional_int64(16));
    b.returned_at = at_ms(st.column_optional_int64(17));
    return b;
}

result<std::vector<booking>> query_bookings(database& db, std::string_view where, auto... values) {
    std::vector<booking> out;
    EQM_TRY(each_row(
        db, std::string(booking_columns) + std::string(where),
        [&](const statement& st) { out.push_back(read_booking(st)); }, values...));
    return out;
}

result<void> insert_booking(database& db, const booking& b, std::int64_t seq) {
    // The longest booking of the city and class bounds how far back a window query looks.
    EQM_TRY(run(db,
                "INSERT INTO booking_spans(city, class, max_ms) VALUES (?1, ?2, ?3) ON "
                "CONFLICT(city, class) DO UPDATE SET max_ms = MAX(max_ms, excluded.max_ms)",
                b.city, std::string(to_string(b.cls)), ms(b.end) - ms(b.start)));
    return run(db,
               "INSERT INTO bookings(seq, id, person_id, city, device_id, class, analyte, "
               "start_ms, end_ms, purpose, case_no, status, unit_id, reason, decided_by, "
               "created_ms, updated_ms, picked_up_ms, returned_ms) VALUES (?1, ?2, ?3, ?4, ?5, "
               "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
               seq, b.id, b.person_id, b.city, b.device_id, std::string(to_string(b.cls)),
               analyte_text(b.analyte), ms(b.start), ms(b.end), b.purpose, b.case_no,
               std::string(to_string(b.status)), b.unit_id, b.reason, b.decided_by,
               ms(b.created_at), ms(b.updated_at), ms(b.picked_up_at), ms(b.returned_at));
}

/// Writes what an action may change.
result<void> update_booking(database& db, const booking& b) {
    return run(db,
               "UPDATE bookings SET status = ?2, unit_id = ?3, reason = ?4, decided_by = ?5, "
               "updated_ms = ?6, picked_up_ms = ?7, returned_ms = ?8 WHERE id = ?1",
               b.id, std::string(to_string(b.status)), b.unit_id, b.reason, b.decided_by,
               ms(b.updated_at), ms(b.picked_up_at), ms(b.returned_at));
}

result<std::optional<device_facts>> device_facts_of(database& db, std::string_view id) {
    std::optional<device_facts> out;
    EQM_TRY(each_row(
        db, "SELECT id, class, analyte, city, status FROM devices WHERE id = ?1",
        [&](const statement& st) {
            device_facts d;
            d.id = st.column_text(0);
            d.cls = parse_device_class(st.column_text(1)).value_or(device_class::dock);
            if (auto a = st.column_optional_text(2)) d.analyte = parse_analyte(*a);
            d.city = st.column_text(3);
            d.state = parse_custody_state(st.column_text(4)).value_or(custody_state::available);
            out = std::move(d);
        },
        std::string(id)));
    return out;
}

/// The serviceable units of a class (and analyte) at a city.
result<std::vector<std::string>> units_of(database& db, std::string_view city, device_class cls,
                                          std::optional<eqm::analyte> analyte) {
    std::vector<device_facts> devices;
    EQM_TRY(each_row(
        db, "SELECT id, analyte, status FROM devices WHERE city = ?1 AND class = ?2",
        [&](const statement& st) {
            device_facts d;
            d.id = st.column_text(0);
            d.cls = cls;
            if (auto a = st.column_optional_text(1)) d.analyte = parse_analyte(*a);
            d.city = std::string(city);
            d.state = parse_custody_state(st.column_text(2)).value_or(custody_state::available);
            devices.push_back(std::move(d));
        },
        std::string(city), std::string(to_string(cls))));
    return serviceable_units(devices, city, cls, analyte);
}

result<std::int64_t> next_seq(database& db) {
    std::int64_t seq = 1;
    EQM_TRY(each_row(db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM bookings",
                     [&](const statement& st) { seq = st.column_int64(0); }));
    return seq;
}

result<void> note_refusal(database& db, const booking& b, clock_ms now) {
    return run(db,
               "INSERT INTO booking_refusals(city, class, analyte, start_ms, end_ms, person_id, "
               "ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
               b.city, std::string(to_string(b.cls)), analyte_text(b.analyte), ms(b.start),
               ms(b.end), b.person_id, format_timestamp(now));
}

}  // namespace

result<std::vector<booking>> held_in_range(database& db, std::string_view city, device_class cls,
                                           clock_ms lo, clock_ms hi) {
    const std::string c(city), k(to_string(cls));
    std::int64_t longest =
        std::chrono::duration_cast<std::chrono::milliseconds>(max_rule_length).count();
    EQM_TRY(each_row(
        db, "SELECT max_ms FROM booking_spans WHERE city = ?1 AND class = ?2",
        [&](const statement& st) { longest = st.column_int64(0); }, c, k));
    // By start on the index: a booking overlapping [lo, hi) starts before hi and at most the
    // longest booking's length before lo.
    EQM_TRY_LET(out, query_bookings(db,
                                    std::string("WHERE city = ?1 AND class = ?2 AND start_ms < ?4 "
                                                "AND start_ms >= ?5 AND end_ms > ?3 AND +status "
                                                "IN ") +
                                        std::string(held_statuses),
                                    c, k, ms(lo), ms(hi), ms(lo) - longest));
    // Units still out hold their booking until they come back, whatever its end.
    EQM_TRY_LET(out_now, query_bookings(db,
                                        "WHERE status IN ('active','overdue') AND city = ?1 AND "
                                        "class = ?2 AND end_ms <= ?3",
                                        c, k, ms(lo)));
    out.insert(out.end(), out_now.begin(), out_now.end());
    return out;
}

result<reservation_rules> rules(database& db) {
    std::optional<std::string> doc;
    EQM_TRY(each_row(db, "SELECT doc FROM reservation_rules_doc WHERE k = 1",
                     [&](const statement& st) { doc = st.column_text(0); }));
    if (!doc) return default_reservation_rules();
    auto j = json::parse(*doc, nullptr, false);
    return parse_reservation_rules(j);
}

result<void> replace_rules(database& db, const reservation_rules& r, clock_ms now) {
    return run(db,
               "INSERT INTO reservation_rules_doc(k, doc, updated_at) VALUES (1, ?1, ?2) "
               "ON CONFLICT(k) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
               to_json(r).dump(), format_timestamp(now));
}

result<booking_result<booking>> admit(database& db, const booking_request& request,
                                      const booking_requester& who, clock_ms now) {
    EQM_TRY_LET(tx, transaction::begin(db));
    EQM_TRY_LET(table, rules(db));
    booking_facts facts;
    facts.requester = who;
    if (request.device_id) {
        EQM_TRY_LET(d, device_facts_of(db, *request.device_id));
        facts.device = std::move(d);
    }
    EQM_TRY_LET(mine, query_bookings(db,
                                     std::string("WHERE person_id = ?1 AND status IN ") +
                                         std::string(held_statuses),
                                     who.person_id));
    facts.requester_bookings = mine;
    auto checked = validate_booking(request, facts, table, now);
    if (!checked) return booking_result<booking>(std::unexpected(std::move(checked.error())));
    booking b = std::move(*checked);
    const auto rule = table.rule_for(b.cls, b.analyte);
    const auto lo = b.start - decision_margin -
                    std::chrono::duration_cast<std::chrono::milliseconds>(b.end - b.start);
    EQM_TRY_LET(city_bookings, held_in_range(db, b.city, b.cls, lo, b.end + decision_margin));
    EQM_TRY_LET(units, units_of(db, b.city, b.cls, b.analyte));
    if (auto ok = check_availability(b, city_bookings, units, rule, now); !ok) {
        if (ok.error().rule == booking_rule::class_capacity && b.by_class()) {
            EQM_TRY(note_refusal(db, b, now));
            EQM_TRY(tx.commit());
        }
        return booking_result<booking>(std::unexpected(std::move(ok.error())));
    }
    EQM_TRY_LET(seq, next_seq(db));
    b.id = "r-" + std::to_string(seq);
    EQM_TRY(insert_booking(db, b, seq));
    EQM_TRY(tx.commit());
    return booking_result<booking>(std::move(b));
}

result<std::optional<booking>> find(database& db, std::string_view id) {
    EQM_TRY_LET(list, query_bookings(db, "WHERE id = ?1", std::string(id)));
    if (list.empty()) return std::optional<booking>();
    return std::optional<booking>(std::move(list.front()));
}

result<page<booking>> list(database& db, const booking_filter& f, const page_query& q) {
    std::string where = "WHERE seq > ?1";
    std::int64_t after = 0;
    if (q.after) {
        try {
            after = std::stoll(*q.after);
        } catch (...) {
            return fail(errc::bad_field, "cursor", "is not a cursor of this list");
        }
    }
    if (f.city) where += " AND city = ?2";
    if (f.status) where += " AND status = ?3";
    if (f.person_id) where += " AND person_id = ?4";
    if (f.device_id) where += " AND (device_id = ?5 OR unit_id = ?5)";
    if (f.from) where += " AND end_ms > ?6";
    if (f.to) where += " AND start_ms < ?7";
    where += " ORDER BY seq LIMIT ?8";
    std::optional<std::string> status;
    if (f.status) status = std::string(to_string(*f.status));
    std::vector<std::int64_t> seqs;
    page<booking> out;
    EQM_TRY(each_row(
        db, std::string(booking_columns) + where,
        [&](const statement& st) {
            out.items.push_back(read_booking(st));
            seqs.push_back(st.column_int64(18));
        },
        after, f.city, status, f.person_id, f.device_id, ms(f.from), ms(f.to),
        static_cast<std::int64_t>(q.limit + 1)));
    if (out.items.size() > q.limit) {
        out.items.resize(q.limit);
        out.next_key = std::to_string(seqs[q.limit - 1]);
    }
    return out;
}

result<booking_result<booking>> act(database& db, std::string_view id, const booking_command& cmd,
                                    clock_ms now) {
    EQM_TRY_LET(tx, transaction::begin(db));
    EQM_TRY_LET(b, find(db, id));
    if (!b) return fail(errc::not_found, "id", "no reservation " + std::string(id));
    auto next = apply(*b, cmd, now);
    if (!next) return booking_result<booking>(std::unexpected(std::move(next.error())));
    EQM_TRY(update_booking(db, *next));
    EQM_TRY(tx.commit());
    return booking_result<booking>(std::move(*next));
}

namespace {

/// The booking a custody record moves on, and how: a check-out naming it (or the booker's
/// check-out of the device they booked by name, in its window), or the check-in of its unit.
result<std::optional<std::pair<booking, booking_command>>> custody_effect(
    database& db, const custody_record& rec) {
    using out_t = std::optional<std::pair<booking, booking_command>>;
    booking_command cmd;
    cmd.at = rec.ts;
    if (rec.action == custody_action::checkout) {
        cmd.action = booking_action::check_out;
        cmd.unit_id = rec.device_id;
        std::vector<booking> found;
        if (rec.reservation_id) {
            EQM_TRY_LET(list, query_bookings(db, "WHERE id = ?1", *rec.reservation_id));
            found = std::move(list);
        } else if (rec.holder) {
            EQM_TRY_LET(list, query_bookings(db,
                                             "WHERE device_id = ?1 AND person_id = ?2 AND status "
                                             "IN ('approved','no_show') AND start_ms <= ?3 AND "
                                             "end_ms > ?4 ORDER BY start_ms LIMIT 1",
                                             rec.device_id, *rec.holder,
                                             ms(rec.ts + default_booking_lead), ms(rec.ts)));
            found = std::move(list);
        }
        if (found.empty()) return out_t();
        return out_t(std::pair{std::move(found.front()), cmd});
    }
    if (rec.from_state != custody_state::checked_out) return out_t();
    cmd.action = booking_action::check_in;
    EQM_TRY_LET(list, query_bookings(db,
                                     "WHERE unit_id = ?1 AND status IN ('active','overdue') "
                                     "ORDER BY start_ms LIMIT 1",
                                     rec.device_id));
    if (list.empty()) return out_t();
    return out_t(std::pair{std::move(list.front()), cmd});
}

std::string overdue_alert_id(const booking& b) {
    return "booking-overdue-" + b.id;
}

/// Raises (overdue) or clears (completed) the server's alert about a booking's unit.
result<std::optional<alert_view>> booking_alert(database& db, const booking& b, clock_ms now) {
    alert_view a;
    a.id = overdue_alert_id(b);
    a.city = b.city;
    a.type = alert_type::overdue_return;
    a.severity = alert_severity::warning;
    a.device_id = b.unit_id;
    a.raised_at = now;
    a.updated_at = now;
    a.detail = "reservation " + b.id + " of " + b.person_id + ": unit " + b.unit_id.value_or("?") +
               " still out after its end " + format_timestamp(b.end);
    if (b.status == reservation_status::overdue) {
        a.state = alert_state::raised;
        EQM_TRY(run(db,
                    "INSERT OR IGNORE INTO alerts(id, city, type, state, severity, detail, "
                    "device_id, raised_at, updated_at, origin) VALUES (?1, ?2, 'overdue_return', "
                    "'raised', 'warning', ?3, ?4, ?5, ?5, 'server')",
                    a.id, a.city, a.detail, a.device_id, format_timestamp(now)));
        return std::optional<alert_view>(a);
    }
    if (b.status != reservation_status::completed) return std::optional<alert_view>();
    EQM_TRY(run(db,
                "UPDATE alerts SET state = 'cleared', updated_at = ?2 WHERE id = ?1 AND "
                "state = 'raised'",
                a.id, format_timestamp(now)));
    if (db.changes() == 0) return std::optional<alert_view>();
    a.state = alert_state::cleared;
    return std::optional<alert_view>(a);
}

/// Stores an action's outcome (a refused one changes nothing) and notes what changed.
result<void> settle(database& db, const booking& b, const booking_command& cmd, clock_ms now,
                    std::vector<booking_change>& changes) {
    auto next = apply(b, cmd, now);
    if (!next) return {};
    EQM_TRY(update_booking(db, *next));
    EQM_TRY_LET(alert, booking_alert(db, *next, now));
    changes.push_back({std::move(*next), std::move(alert)});
    return {};
}

/// Reads the custody records since the last pass; returns false when none were left.
result<bool> sweep_custody(database& db, clock_ms now, std::vector<booking_change>& changes) {
    std::int64_t mark = 0;
    EQM_TRY(each_row(db, "SELECT custody_rowid FROM booking_sweep WHERE k = 1",
                     [&](const statement& st) { mark = st.column_int64(0); }));
    std::vector<std::pair<std::int64_t, std::string>> rows;
    EQM_TRY(each_row(
        db, "SELECT rowid, record FROM custody WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        [&](const statement& st) { rows.emplace_back(st.column_int64(0), st.column_text(1)); },
        mark, sweep_batch));
    if (rows.empty()) return false;
    for (const auto& [rowid, text] : rows) {
        auto j = json::parse(text, nullptr, false);
        auto rec = parse_stored_custody_record(j);
        if (!rec) continue;
        EQM_TRY_LET(effect, custody_effect(db, *rec));
        if (effect) EQM_TRY(settle(db, effect->first, effect->second, now, changes));
    }
    EQM_TRY(run(db,
                "INSERT INTO booking_sweep(k, custody_rowid) VALUES (1, ?1) ON CONFLICT(k) DO "
                "UPDATE SET custody_rowid = excluded.custody_rowid",
                rows.back().first));
    return static_cast<std::int64_t>(rows.size()) == sweep_batch;
}

result<void> run_timers(database& db, clock_ms now, std::vector<booking_change>& changes) {
    EQM_TRY_LET(starting, query_bookings(db,
                                         "WHERE status IN ('requested','approved') AND "
                                         "start_ms <= ?1",
                                         ms(now - no_show_after)));
    EQM_TRY_LET(ending, query_bookings(db, "WHERE status = 'active' AND end_ms <= ?1", ms(now)));
    starting.insert(starting.end(), ending.begin(), ending.end());
    for (const auto& b : starting) {
        auto due = due_action(b, now);
        if (!due) continue;
        booking_command cmd;
        cmd.action = *due;
        EQM_TRY(settle(db, b, cmd, now, changes));
    }
    return {};
}

}  // namespace

result<std::vector<booking_change>> advance(database& db, clock_ms now) {
    std::vector<booking_change> changes;
    EQM_TRY_LET(tx, transaction::begin(db));
    for (;;) {
        EQM_TRY_LET(more, sweep_custody(db, now, changes));
        if (!more) break;
    }
    EQM_TRY(run_timers(db, now, changes));
    EQM_TRY(tx.commit());
    return changes;
}

result<availability_view> availability(database& db, std::string_view city, device_class cls,
                                       std::optional<eqm::analyte> analyte, clock_ms from,
                                       clock_ms to, clock_ms now) {
    EQM_TRY_LET(table, rules(db));
    const auto rule = table.rule_for(cls, analyte);
    const auto buffer = std::chrono::duration_cast<std::chrono::milliseconds>(rule.buffer);
    EQM_TRY_LET(units, units_of(db, city, cls, analyte));
    EQM_TRY_LET(held, held_in_range(db, city, cls, from - buffer, to));
    const std::set<std::string> pool(units.begin(), units.end());
    std::map<clock_ms, std::int64_t> delta;
    for (const auto& b : held) {
        const auto& dev = b.held_device();
        const bool takes = dev ? pool.contains(*dev) : (!analyte || b.analyte == analyte);
        if (!takes) continue;
        delta[b.start] += 1;
        delta[held_until(b, now) + buffer] -= 1;
    }
    availability_view out;
    out.units = units.size();
    out.buffer = rule.buffer;
    std::int64_t used = 0;
    auto it = delta.begin();
    for (; it != delta.end() && it->first <= from; ++it) used += it->second;
    out.steps.push_back({from, static_cast<std::int64_t>(units.size()) - used});
    for (; it != delta.end() && it->first < to; ++it) {
        used += it->second;
        const auto free = static_cast<std::int64_t>(units.size()) - used;
        if (free != out.steps.back().free) out.steps.push_back({it->first, free});
    }
    return out;
}

result<std::optional<std::string>> calendar_owner(database& db, std::string_view secret_hash) {
    std::optional<std::string> out;
    EQM_TRY(each_row(
        db, "SELECT person_id FROM calendar_links WHERE secret_hash = ?1",
        [&](const statement& st) { out = st.column_text(0); }, std::string(secret_hash)));
    return out;
}

result<void> set_calendar_secret(database& db, std::string_view person_id,
                                 std::optional<std::string> secret_hash, clock_ms now) {
    if (!secret_hash)
        return run(db, "DELETE FROM calendar_links WHERE person_id = ?1", std::string(person_id));
    return run(db,
               "INSERT INTO calendar_links(person_id, secret_hash, created_at) VALUES (?1, ?2, "
               "?3) ON CONFLICT(person_id) DO UPDATE SET secret_hash = excluded.secret_hash, "
               "created_at = excluded.created_at",
               std::string(person_id), *secret_hash, format_timestamp(now));
}

result<std::vector<booking>> of_person(database& db, std::string_view person_id, clock_ms since) {
    constexpr std::int64_t max_feed_events = 2000;
    return query_bookings(db, "WHERE person_id = ?1 AND end_ms > ?2 ORDER BY start_ms LIMIT ?3",
                          std::string(person_id), ms(since), max_feed_events);
}

}  // namespace eqm::server::booking_sql
