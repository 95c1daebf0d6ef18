#pragma once
/// The reservations part of the SQLite engine (sqlite_region_store.cpp holds the connection and
/// its mutex and calls these with the lock held): bookings, the rules table, refusals for lack
/// of units, calendar secrets, and moving bookings on from custody records and timers.
/// docs/reservations.md describes what they do; region_store.hpp documents each entry point.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/store/database.hpp"
#include "region_store.hpp"

namespace eqm::server::booking_sql {

// Bookings (ids r-<seq>), the rules table as one document, class bookings refused for lack of
// units (read by the allocation), calendar secrets, and how far the custody ledger has been read
// for bookings.
/// The migration that adds the tables (appended to the server's list).
inline constexpr std::string_view schema = R"sql(
CREATE TABLE bookings (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, person_id TEXT NOT NULL, city TEXT NOT NULL,
  device_id TEXT, class TEXT NOT NULL, analyte TEXT, start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL, purpose TEXT NOT NULL, case_no TEXT, status TEXT NOT NULL,
  unit_id TEXT, reason TEXT, decided_by TEXT, created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL, picked_up_ms INTEGER, returned_ms INTEGER
);
CREATE INDEX bookings_by_window ON bookings(city, class, start_ms);
CREATE TABLE booking_spans (
  city TEXT NOT NULL, class TEXT NOT NULL, max_ms INTEGER NOT NULL, PRIMARY KEY (city, class)
) WITHOUT ROWID;
CREATE INDEX bookings_by_status ON bookings(status, city, class);
CREATE INDEX bookings_by_start ON bookings(status, start_ms);
CREATE INDEX bookings_by_person ON bookings(person_id, end_ms);
CREATE INDEX bookings_by_device ON bookings(device_id);
CREATE INDEX bookings_by_unit ON bookings(unit_id);
CREATE TABLE reservation_rules_doc (
  k INTEGER PRIMARY KEY CHECK (k = 1), doc TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE booking_refusals (
  id INTEGER PRIMARY KEY, city TEXT NOT NULL, class TEXT NOT NULL, analyte TEXT,
  start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, person_id TEXT NOT NULL, ts TEXT NOT NULL
);
CREATE INDEX booking_refusals_by_city ON booking_refusals(city, class, ts);
CREATE TABLE calendar_links (
  person_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL
);
CREATE TABLE booking_sweep (k INTEGER PRIMARY KEY CHECK (k = 1), custody_rowid INTEGER NOT NULL);
)sql";

result<reservation_rules> rules(store::database& db);
result<void> replace_rules(store::database& db, const reservation_rules& rules, clock_ms now);
result<booking_result<booking>> admit(store::database& db, const booking_request& request,
                                      const booking_requester& who, clock_ms now);
result<std::optional<booking>> find(store::database& db, std::string_view id);
result<page<booking>> list(store::database& db, const booking_filter& f, const page_query& q);
result<booking_result<booking>> act(store::database& db, std::string_view id,
                                    const booking_command& cmd, clock_ms now);
result<std::vector<booking_change>> advance(store::database& db, clock_ms now);
result<availability_view> availability(store::database& db, std::string_view city, device_class cls,
                                       std::optional<eqm::analyte> analyte, clock_ms from,
                                       clock_ms to, clock_ms now);
result<std::optional<std::string>> calendar_owner(store::database& db,
                                                  std::string_view secret_hash);
result<void> set_calendar_secret(store::database& db, std::string_view person_id,
                                 std::optional<std::string> secret_hash, clock_ms now);
result<std::vector<booking>> of_person(store::database& db, std::string_view person_id,
                                       clock_ms since);

/// The held bookings of a city and class whose window overlaps [lo, hi), plus every active or
/// overdue one (their unit is out whatever their end): what a decision at the city reads. The
/// benchmark times it as the raw range query next to whole decisions.
result<std::vector<booking>> held_in_range(store::database& db, std::string_view city,
                                           device_class cls, clock_ms lo, clock_ms hi);

}  // namespace eqm::server::booking_sql
