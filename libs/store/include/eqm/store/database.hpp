#pragma once
/// The SQLite adapter: RAII connection, cached prepared statements and transactions.
/// Nothing here throws; every failure is an eqm::result carrying an eqm::error:
///   SQLITE_FULL            -> errc::unavailable, message "disk full: ..."
///   SQLITE_BUSY / LOCKED   -> errc::unavailable, message "database locked: ..."
///   SQLITE_IOERR / CANTOPEN-> errc::unavailable, message "disk I/O error: ..." / "cannot open:
///   ..." SQLITE_CONSTRAINT      -> errc::conflict,    message "constraint failed: ..." anything
///   else          -> errc::internal,    message "sqlite error: ..."
/// and every message ends with "[sql: <the statement that failed>]".
///
/// Threading: a database (and its statements) belongs to one thread or executor at a time;
/// SQLite is opened in multi-thread mode, so give each thread its own connection.
#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace eqm::store {

/// PRAGMA synchronous. NORMAL is durable against process crashes in WAL mode; FULL also
/// survives power loss at the cost of an fsync per commit (ledgers and outboxes may want it).
enum class synchronous_mode { normal, full };

/// Default time a writer waits for another connection's lock before "database locked".
inline constexpr std::chrono::milliseconds default_busy_timeout{5000};

/// How a database is opened.
struct database_options {
    /// Create the file when it does not exist.
    bool create = true;
    synchronous_mode synchronous = synchronous_mode::normal;
    /// How long a statement waits for a lock held by another connection.
    std::chrono::milliseconds busy_timeout = default_busy_timeout;
    /// PRAGMA max_page_count for this connection: the file cannot grow beyond this many
    /// pages, and a write that needs more fails as "disk full". Tests use it to simulate a
    /// full disk; production can use it as a quota. nullopt: SQLite's default (no limit).
    std::optional<std::int64_t> max_page_count;
};

/// Maps a SQLite result code to an eqm::error (see the table at the top of this file).
/// `detail` is SQLite's own message, `sql` the statement that failed (truncated).
error make_error(int sqlite_code, std::string_view detail, std::string_view sql);

class database;

/// A prepared statement borrowed from its database's cache. Bind parameters are 1-based,
/// column indexes 0-based (as in SQLite). On destruction it is reset, its bindings are
/// cleared and it goes back to the cache, so preparing the same SQL again is cheap.
/// The database must outlive every statement prepared from it.
class statement {
  public:
    statement(statement&& other) noexcept;
    statement& operator=(statement&& other) noexcept;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    ~statement();

    /// Binds an integer (any integral type, including bool) to parameter `index` (1-based).
    template <std::integral T>
    result<void> bind(int index, T value) {
        return bind_int64(index, static_cast<std::int64_t>(value));
    }
    /// Binds a floating-point value.
    result<void> bind(int index, double value);
    /// Binds text (copied by SQLite, so temporaries are fine).
    result<void> bind(int index, std::string_view value);
    result<void> bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    result<void> bind(int index, const std::string& value) {
        return bind(index, std::string_view(value));
    }
    /// Binds SQL NULL.
    result<void> bind(int index, std::nullopt_t);
    result<void> bind_null(int index);
    /// Binds the value, or NULL when empty.
    template <class T>
    result<void> bind(int index, const std::optional<T>& value) {
        if (!value) return bind_null(index);
        return bind(index, *value);
    }
    /// Binds `values` to parameters 1..N in order; stops at the first failure.
    template <class... Ts>
    result<void> bind_all(const Ts&... values) {
        int index = 0;
        result<void> outcome{};
        ((outcome ? void(outcome = bind(++index, values)) : void()), ...);
        return outcome;
    }
    result<void> bind_int64(int index, std::int64_t value);

    /// Runs the statement one step: true when a row is available, false when done.
    result<bool> step();
    /// Steps to completion, discarding rows (INSERT, UPDATE, DELETE, DDL); then resets,
    /// keeping the bindings, so the statement can be run again with new ones.
    result<void> exec();
    /// Resets the statement and clears its bindings.
    void reset() noexcept;

    /// Columns of the current row (0-based). A NULL reads as 0, 0.0 or "".
    std::int64_t column_int64(int column) const noexcept;
    double column_double(int column) const noexcept;
    std::string column_text(int column) const;
    bool column_is_null(int column) const noexcept;
    std::optional<std::int64_t> column_optional_int64(int column) const noexcept;
    std::optional<double> column_optional_double(int column) const noexcept;
    std::optional<std::string> column_optional_text(int column) const;
    /// Number of columns in the result.
    int column_count() const noexcept;

    /// The SQL this statement was prepared from.
    const std::string& sql() const noexcept { return sql_; }

    /// Implementation detail: the connection state, which stays put when a database moves.
    struct connection;

  private:
    friend class database;
    statement(connection& owner, sqlite3_stmt* handle, std::string sql) noexcept;
    error last_error(int code) const;

    connection* owner_ = nullptr;
    sqlite3_stmt* handle_ = nullptr;
    std::string sql_;
};

/// One SQLite connection: WAL journal, foreign keys on, the configured synchronous mode and
/// busy timeout. Move-only; closing happens in the destructor.
class database {
  public:
    /// Opens (and by default creates) the database at `path` and applies the options.
    static result<database> open(const std::filesystem::path& path, database_options options = {});

    database(database&& other) noexcept;
    database& operator=(database&& other) noexcept;
    database(const database&) = delete;
    database& operator=(const database&) = delete;
    ~database();

    /// Prepares `sql` (one statement), reusing a cached prepared statement when there is one.
    result<statement> prepare(std::string_view sql);
    /// Runs one or more semicolon-separated statements without results (DDL, scripts).
    result<void> execute(std::string_view sql);

    /// Rowid of the last successful INSERT on this connection.
    std::int64_t last_insert_rowid() const noexcept;
    /// Rows changed by the last INSERT/UPDATE/DELETE.
    std::int64_t changes() const noexcept;
    /// False while an explicit transaction is open.
    bool autocommit() const noexcept;

    /// PRAGMA user_version (the schema version migrate() maintains).
    result<std::int64_t> user_version();
    /// Sets PRAGMA max_page_count for this connection and returns the value SQLite kept
    /// (never less than the current size of the file).
    result<std::int64_t> set_max_page_count(std::int64_t pages);
    /// PRAGMA page_size and page_count, e.g. for a quota of "current size + N pages".
    result<std::int64_t> page_size();
    result<std::int64_t> page_count();

    /// The file this connection was opened on.
    const std::filesystem::path& path() const noexcept;
    /// The raw handle, for the rare SQLite call this adapter does not wrap.
    sqlite3* native_handle() const noexcept;

  private:
    explicit database(std::unique_ptr<statement::connection> conn) noexcept;
    result<std::int64_t> pragma_int(std::string_view sql);

    /// Heap-held so statements keep a stable pointer to it while the database moves.
    std::unique_ptr<statement::connection> conn_;
};

/// BEGIN IMMEDIATE ... COMMIT. Taking the write lock at BEGIN means a busy database is
/// reported at the start, not halfway through. Destroying an uncommitted transaction rolls
/// it back, so an early `return` on error never leaves half a change behind.
class transaction {
  public:
    /// Begins an immediate transaction; fails with "database locked" after busy_timeout.
    static result<transaction> begin(database& db);

    transaction(transaction&& other) noexcept;
    transaction& operator=(transaction&&) = delete;
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction();

    /// Commits. On failure the transaction is rolled back (nothing is half-applied).
    result<void> commit();
    /// Rolls back now (also what the destructor does).
    result<void> rollback();
    /// True until commit() or rollback().
    bool active() const noexcept { return db_ != nullptr; }

  private:
    explicit transaction(database& db) noexcept : db_(&db) {}

    database* db_ = nullptr;
};

}  // namespace eqm::store
