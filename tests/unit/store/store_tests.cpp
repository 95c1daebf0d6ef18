// eqm_store against real SQLite files: statements, transactions, migrations, and the
// failures a gateway must survive (disk full, a locked database).
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "eqm/store/database.hpp"
#include "eqm/store/migration.hpp"
#include "eqm/test/temp_dir.hpp"

using eqm::errc;
using namespace eqm::store;

namespace {

database_options with_synchronous(synchronous_mode mode) {
    database_options options;
    options.synchronous = mode;
    return options;
}

database open_db(const std::filesystem::path& path, database_options options = {}) {
    auto db = database::open(path, options);
    REQUIRE(db.has_value());
    return std::move(*db);
}

std::int64_t count_rows(database& db, std::string_view table) {
    auto stmt = db.prepare("SELECT count(*) FROM " + std::string(table));
    REQUIRE(stmt.has_value());
    auto row = stmt->step();
    REQUIRE(row.has_value());
    REQUIRE(*row);
    return stmt->column_int64(0);
}

bool table_exists(database& db, std::string_view table) {
    auto stmt = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
    REQUIRE(stmt.has_value());
    REQUIRE(stmt->bind(1, table));
    auto row = stmt->step();
    REQUIRE(row.has_value());
    return *row;
}

constexpr std::array<migration, 2> base_migrations{{
    {1, "devices", "CREATE TABLE devices(id TEXT PRIMARY KEY, battery REAL);"},
    {2, "events",
     "CREATE TABLE events(seq INTEGER PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id),"
     " body TEXT);"},
}};

}  // namespace

TEST_CASE("open sets WAL, foreign keys and the chosen synchronous mode") {
    eqm::test::temp_dir dir;
    const auto [mode, expected] = GENERATE(table<synchronous_mode, std::int64_t>({
        {synchronous_mode::normal, 1},
        {synchronous_mode::full, 2},
    }));
    auto db = open_db(dir / "a.db", with_synchronous(mode));
    auto journal = db.prepare("PRAGMA journal_mode");
    REQUIRE(journal);
    REQUIRE(journal->step().value());
    CHECK(journal->column_text(0) == "wal");
    auto sync = db.prepare("PRAGMA synchronous");
    REQUIRE(sync);
    REQUIRE(sync->step().value());
    CHECK(sync->column_int64(0) == expected);
    auto fk = db.prepare("PRAGMA foreign_keys");
    REQUIRE(fk);
    REQUIRE(fk->step().value());
    CHECK(fk->column_int64(0) == 1);
}

TEST_CASE("opening a missing file without create fails as unavailable") {
    eqm::test::temp_dir dir;
    database_options options;
    options.create = false;
    auto db = database::open(dir / "missing.db", options);
    REQUIRE_FALSE(db.has_value());
    CHECK(db.error().code == errc::unavailable);
    CHECK_FALSE(std::filesystem::exists(dir / "missing.db"));
}

TEST_CASE("statements bind and read every column type and are reused from the cache") {
    eqm::test::temp_dir dir;
    auto db = open_db(dir / "a.db");
    REQUIRE(db.execute("CREATE TABLE t(i INTEGER, d REAL, s TEXT, n TEXT)"));
    {
        auto insert = db.prepare("INSERT INTO t VALUES(?, ?, ?, ?)");
        REQUIRE(insert);
        REQUIRE(
            insert->bind_all(std::int64_t{1} << 40, 2.5, "héllo", std::optional<std::string>{}));
        REQUIRE(insert->exec());
        CHECK(db.changes() == 1);
        REQUIRE(insert->bind_all(7, 0.0, std::string("x"), std::optional<std::string>{"set"}));
        REQUIRE(insert->exec());
    }
    auto select = db.prepare("SELECT i, d, s, n FROM t ORDER BY i DESC");
    REQUIRE(select);
    REQUIRE(select->step().value());
    CHECK(select->column_int64(0) == (std::int64_t{1} << 40));
    CHECK(select->column_double(1) == 2.5);
    CHECK(select->column_text(2) == "héllo");
    CHECK(select->column_is_null(3));
    CHECK(select->column_optional_text(3) == std::nullopt);
    REQUIRE(select->step().value());
    CHECK(select->column_int64(0) == 7);
    CHECK(select->column_optional_text(3) == std::optional<std::string>{"set"});
    CHECK_FALSE(select->step().value());

    // The same SQL text again gives back the cached handle, reset and unbound.
    auto again = db.prepare("INSERT INTO t VALUES(?, ?, ?, ?)");
    REQUIRE(again);
    REQUIRE(again->exec());
    auto nulls = db.prepare("SELECT count(*) FROM t WHERE i IS NULL AND s IS NULL");
    REQUIRE(nulls);
    REQUIRE(nulls->step().value());
    CHECK(nulls->column_int64(0) == 1);
}

TEST_CASE("a bad statement fails to prepare and names the SQL") {
    eqm::test::temp_dir dir;
    auto db = open_db(dir / "a.db");
    auto stmt = db.prepare("SELEKT 1");
    REQUIRE_FALSE(stmt.has_value());
    CHECK(stmt.error().code == errc::internal);
    CHECK_THAT(stmt.error().message, Catch::Contains("SELEKT 1"));
}

TEST_CASE("constraint violations map to conflict") {
    eqm::test::temp_dir dir;
    auto db = open_db(dir / "a.db");
    REQUIRE(migrate(db, base_migrations));
    REQUIRE(db.execute("INSERT INTO devices VALUES('cam-1', 80)"));
    const std::string sql = GENERATE(as<std::string>{},
                                     "INSERT INTO devices VALUES('cam-1', 10)",       // primary key
                                     "INSERT INTO events(device_id) VALUES('nope')",  // foreign key
                                     "INSERT INTO events(body) VALUES('x')");         // not null
    auto stmt = db.prepare(sql);
    REQUIRE(stmt);
    auto r = stmt->exec();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::conflict);
    CHECK_THAT(r.error().message, Catch::Contains(sql));
}

TEST_CASE("a transaction commits, and rolls back when destroyed uncommitted") {
    eqm::test::temp_dir dir;
    auto db = open_db(dir / "a.db");
    REQUIRE(db.execute("CREATE TABLE t(x INTEGER)"));
    {
        auto tx = transaction::begin(db);
        REQUIRE(tx);
        REQUIRE(db.execute("INSERT INTO t VALUES(1)"));
        REQUIRE(tx->commit());
        CHECK_FALSE(tx->active());
    }
    {
        auto tx = transaction::begin(db);
        REQUIRE(tx);
        REQUIRE(db.execute("INSERT INTO t VALUES(2)"));
        REQUIRE(db.execute("INSERT INTO t VALUES(3)"));
        CHECK(count_rows(db, "t") == 3);
        // leaving the scope without commit
    }
    CHECK(db.autocommit());
    CHECK(count_rows(db, "t") == 1);

    // And the rollback is durable: a fresh connection sees only the committed row.
    auto other = open_db(dir / "a.db");
    CHECK(count_rows(other, "t") == 1);
}

TEST_CASE("migrations apply once and resume after reopening") {
    eqm::test::temp_dir dir;
    const auto path = dir / "m.db";
    {
        auto db = open_db(path);
        auto v = migrate(db, std::span(base_migrations).first(1));
        REQUIRE(v);
        CHECK(*v == 1);
        REQUIRE(db.execute("INSERT INTO devices VALUES('cam-1', 80)"));
        // Running again is a no-op (a second CREATE TABLE would fail).
        auto again = migrate(db, std::span(base_migrations).first(1));
        REQUIRE(again);
        CHECK(*again == 1);
    }
    {
        auto db = open_db(path);
        CHECK(db.user_version().value() == 1);
        CHECK_FALSE(table_exists(db, "events"));
        auto v = migrate(db, base_migrations);
        REQUIRE(v);
        CHECK(*v == 2);
        CHECK(table_exists(db, "events"));
        CHECK(count_rows(db, "devices") == 1);
    }
    auto db = open_db(path);
    CHECK(db.user_version().value() == 2);
}

TEST_CASE("a failed migration rolls back entirely and reports which one") {
    eqm::test::temp_dir dir;
    const auto path = dir / "m.db";
    const std::array<migration, 3> broken{{
        base_migrations[0],
        base_migrations[1],
        {3, "half_broken",
         "CREATE TABLE alerts(id INTEGER PRIMARY KEY);"
         "INSERT INTO devices VALUES('cam-9', 1);"
         "CREATE TABLE devices(id TEXT);"},  // already exists: fails after two good statements
    }};
    {
        auto db = open_db(path);
        auto v = migrate(db, broken);
        REQUIRE_FALSE(v.has_value());
        CHECK_THAT(v.error().message, Catch::Contains("migration 3 (half_broken)"));
        CHECK_THAT(v.error().message, Catch::Contains("rolled back"));
        CHECK(db.user_version().value() == 2);
        CHECK_FALSE(table_exists(db, "alerts"));
        CHECK(count_rows(db, "devices") == 0);
    }
    // A fixed list resumes from version 2.
    std::array<migration, 3> fixed = broken;
    fixed[2].sql = "CREATE TABLE alerts(id INTEGER PRIMARY KEY);";
    auto db = open_db(path);
    auto v = migrate(db, fixed);
    REQUIRE(v);
    CHECK(*v == 3);
    CHECK(table_exists(db, "alerts"));
}

TEST_CASE("migrate refuses a malformed list and a database newer than the program") {
    eqm::test::temp_dir dir;
    auto db = open_db(dir / "m.db");
    const std::array<migration, 2> gap{
        {{1, "a", "CREATE TABLE a(x);"}, {3, "c", "CREATE TABLE c(x);"}}};
    auto bad = migrate(db, gap);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == errc::internal);
    CHECK_FALSE(table_exists(db, "a"));

    REQUIRE(migrate(db, base_migrations));
    auto older = migrate(db, std::span(base_migrations).first(1));
    REQUIRE_FALSE(older.has_value());
    CHECK(older.error().code == errc::conflict);
}

TEST_CASE("a full disk is reported as unavailable and committed rows stay intact") {
    eqm::test::temp_dir dir;
    const auto path = dir / "full.db";
    auto db = open_db(path);
    REQUIRE(db.execute("CREATE TABLE outbox(seq INTEGER PRIMARY KEY, body TEXT)"));
    {
        auto tx = transaction::begin(db);
        REQUIRE(tx);
        for (int i = 0; i < 10; ++i) {
            auto insert = db.prepare("INSERT INTO outbox(body) VALUES(?)");
            REQUIRE(insert);
            REQUIRE(insert->bind(1, std::string(100, 'a')));
            REQUIRE(insert->exec());
        }
        REQUIRE(tx->commit());
    }
    // Quota: what is there now plus a few pages; 64 KiB rows cannot fit.
    const auto pages = db.page_count().value();
    REQUIRE(db.set_max_page_count(pages + 2).value() == pages + 2);

    const std::string big(64 * 1024, 'b');
    auto tx = transaction::begin(db);
    REQUIRE(tx);
    eqm::result<void> outcome{};
    for (int i = 0; i < 8 && outcome; ++i) {
        auto insert = db.prepare("INSERT INTO outbox(body) VALUES(?)");
        REQUIRE(insert);
        REQUIRE(insert->bind(1, big));
        outcome = insert->exec();
    }
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error().code == errc::unavailable);
    CHECK_THAT(outcome.error().message, Catch::StartsWith("disk full"));
    CHECK_THAT(outcome.error().message, Catch::Contains("INSERT INTO outbox"));
    CHECK(tx->rollback());

    CHECK(count_rows(db, "outbox") == 10);
    // Another connection (no quota) reads the same committed rows: nothing was corrupted.
    auto reader = open_db(path);
    CHECK(count_rows(reader, "outbox") == 10);
    auto check = reader.prepare("PRAGMA integrity_check");
    REQUIRE(check);
    REQUIRE(check->step().value());
    CHECK(check->column_text(0) == "ok");
}

TEST_CASE("the max_page_count option limits a connection from the start") {
    eqm::test::temp_dir dir;
    {
        auto db = open_db(dir / "q.db");
        REQUIRE(db.execute("CREATE TABLE t(b TEXT)"));
    }
    database_options options;
    options.max_page_count = 4;
    auto db = open_db(dir / "q.db", options);
    auto insert = db.prepare("INSERT INTO t VALUES(?)");
    REQUIRE(insert);
    REQUIRE(insert->bind(1, std::string(256 * 1024, 'x')));
    auto r = insert->exec();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::unavailable);
    CHECK_THAT(r.error().message, Catch::StartsWith("disk full"));
}

TEST_CASE("a write lock held by another connection fails writes with database locked") {
    using std::chrono::milliseconds;
    eqm::test::temp_dir dir;
    const auto path = dir / "lock.db";
    constexpr milliseconds busy_timeout{150};
    database_options options;
    options.busy_timeout = busy_timeout;
    auto writer = open_db(path, options);
    REQUIRE(writer.execute("CREATE TABLE t(x INTEGER)"));
    REQUIRE(writer.execute("INSERT INTO t VALUES(1)"));

    auto holder = open_db(path);
    auto held = transaction::begin(holder);
    REQUIRE(held);

    const auto started = std::chrono::steady_clock::now();
    auto tx = transaction::begin(writer);
    const auto waited = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(tx.has_value());
    CHECK(tx.error().code == errc::unavailable);
    CHECK_THAT(tx.error().message, Catch::StartsWith("database locked"));
    CHECK(waited >= busy_timeout);

    // A plain (autocommit) write is refused the same way.
    auto insert = writer.prepare("INSERT INTO t VALUES(2)");
    REQUIRE(insert);
    auto r = insert->exec();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::StartsWith("database locked"));
    CHECK_THAT(r.error().message, Catch::Contains("INSERT INTO t VALUES(2)"));

    // Reads still work in WAL mode, and once the lock is gone writes go through.
    CHECK(count_rows(writer, "t") == 1);
    REQUIRE(held->rollback());
    REQUIRE(insert->exec());
    CHECK(count_rows(writer, "t") == 2);
}
