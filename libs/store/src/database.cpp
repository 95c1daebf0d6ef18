#include "eqm/store/database.hpp"

#include <sqlite3.h>

#include <cassert>
#include <map>
#include <utility>

#include "eqm/domain/try.hpp"

namespace eqm::store {
namespace {

/// Long statements are cut in messages; the start says which one it was.
constexpr std::size_t max_sql_in_message = 160;

std::string quote_sql(std::string_view sql) {
    std::string text(sql.substr(0, max_sql_in_message));
    for (char& c : text) {
        if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    }
    if (sql.size() > max_sql_in_message) text += "...";
    return text;
}

const char* synchronous_pragma(synchronous_mode mode) {
    switch (mode) {
        case synchronous_mode::full:
            return "PRAGMA synchronous=FULL";
        case synchronous_mode::normal:
            break;
    }
    return "PRAGMA synchronous=NORMAL";
}

}  // namespace

error make_error(int sqlite_code, std::string_view detail, std::string_view sql) {
    errc code = errc::internal;
    std::string_view what = "sqlite error";
    switch (sqlite_code & 0xff) {
        case SQLITE_FULL:
            code = errc::unavailable;
            what = "disk full";
            break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            code = errc::unavailable;
            what = "database locked";
            break;
        case SQLITE_IOERR:
            code = errc::unavailable;
            what = "disk I/O error";
            break;
        case SQLITE_CANTOPEN:
            code = errc::unavailable;
            what = "cannot open";
            break;
        case SQLITE_READONLY:
            code = errc::unavailable;
            what = "read-only";
            break;
        case SQLITE_CONSTRAINT:
            code = errc::conflict;
            what = "constraint failed";
            break;
        default:
            break;
    }
    std::string message(what);
    message += ": ";
    message += detail.empty() ? std::string_view(sqlite3_errstr(sqlite_code)) : detail;
    message += " [sql: ";
    message += quote_sql(sql);
    message += "]";
    return error{code, {}, std::move(message)};
}

// ---- connection -----------------------------------------------------------------------

/// The SQLite handle and the statement cache. Owned by a database through a unique_ptr so
/// statements can point at it while the database object itself is moved around.
struct statement::connection {
    connection(sqlite3* h, std::filesystem::path p) noexcept : handle(h), path(std::move(p)) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    ~connection() {
        // A statement outliving its database is a programmer error (it points at us).
        assert(lent == 0 && "statement outlived its database");
        for (auto& [sql, stmt] : cache) sqlite3_finalize(stmt);
        // close_v2 defers the close until any stray statement is finalized.
        sqlite3_close_v2(handle);
    }

    void give_back(sqlite3_stmt* stmt, std::string sql) noexcept {
        if (stmt == nullptr) return;
        --lent;
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        try {
            cache.emplace(std::move(sql), stmt);
        } catch (...) {
            // Out of memory while caching: just drop the statement.
            sqlite3_finalize(stmt);
        }
    }

    sqlite3* handle = nullptr;
    std::filesystem::path path;
    /// Idle prepared statements by SQL text; a statement in use is out of the map.
    std::multimap<std::string, sqlite3_stmt*, std::less<>> cache;
    /// Statements currently lent out (they must all be back before close).
    int lent = 0;
};

// ---- statement ------------------------------------------------------------------------

statement::statement(connection& owner, sqlite3_stmt* handle, std::string sql) noexcept
    : owner_(&owner), handle_(handle), sql_(std::move(sql)) {
    ++owner_->lent;
}

statement::statement(statement&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      handle_(std::exchange(other.handle_, nullptr)),
      sql_(std::move(other.sql_)) {}

statement& statement::operator=(statement&& other) noexcept {
    if (this != &other) {
        if (owner_ != nullptr) owner_->give_back(std::exchange(handle_, nullptr), std::move(sql_));
        owner_ = std::exchange(other.owner_, nullptr);
        handle_ = std::exchange(other.handle_, nullptr);
        sql_ = std::move(other.sql_);
    }
    return *this;
}

statement::~statement() {
    if (owner_ != nullptr) owner_->give_back(std::exchange(handle_, nullptr), std::move(sql_));
}

error statement::last_error(int code) const {
    return make_error(code, sqlite3_errmsg(sqlite3_db_handle(handle_)), sql_);
}

result<void> statement::bind_int64(int index, std::int64_t value) {
    const int rc = sqlite3_bind_int64(handle_, index, value);
    if (rc != SQLITE_OK) return std::unexpected(last_error(rc));
    return {};
}

result<void> statement::bind(int index, double value) {
    const int rc = sqlite3_bind_double(handle_, index, value);
    if (rc != SQLITE_OK) return std::unexpected(last_error(rc));
    return {};
}

result<void> statement::bind(int index, std::string_view value) {
    const int rc = sqlite3_bind_text64(handle_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                       SQLITE_UTF8);
    if (rc != SQLITE_OK) return std::unexpected(last_error(rc));
    return {};
}

result<void> statement::bind(int index, std::nullopt_t) {
    return bind_null(index);
}

result<void> statement::bind_null(int index) {
    const int rc = sqlite3_bind_null(handle_, index);
    if (rc != SQLITE_OK) return std::unexpected(last_error(rc));
    return {};
}

result<bool> statement::step() {
    const int rc = sqlite3_step(handle_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    // Read the message before reset: reset may replace it.
    error failure = last_error(rc);
    sqlite3_reset(handle_);
    return std::unexpected(std::move(failure));
}

result<void> statement::exec() {
    for (;;) {
        EQM_TRY_LET(row, step());
        if (!row) break;
    }
    sqlite3_reset(handle_);
    return {};
}

void statement::reset() noexcept {
    sqlite3_reset(handle_);
    sqlite3_clear_bindings(handle_);
}

std::int64_t statement::column_int64(int column) const noexcept {
    return sqlite3_column_int64(handle_, column);
}

double statement::column_double(int column) const noexcept {
    return sqlite3_column_double(handle_, column);
}

std::string statement::column_text(int column) const {
    const auto* text = sqlite3_column_text(handle_, column);
    const int size = sqlite3_column_bytes(handle_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

bool statement::column_is_null(int column) const noexcept {
    return sqlite3_column_type(handle_, column) == SQLITE_NULL;
}

std::optional<std::int64_t> statement::column_optional_int64(int column) const noexcept {
    if (column_is_null(column)) return std::nullopt;
    return column_int64(column);
}

std::optional<double> statement::column_optional_double(int column) const noexcept {
    if (column_is_null(column)) return std::nullopt;
    return column_double(column);
}

std::optional<std::string> statement::column_optional_text(int column) const {
    if (column_is_null(column)) return std::nullopt;
    return column_text(column);
}

int statement::column_count() const noexcept {
    return sqlite3_column_count(handle_);
}

// ---- database -------------------------------------------------------------------------

database::database(std::unique_ptr<statement::connection> conn) noexcept : conn_(std::move(conn)) {}

database::database(database&& other) noexcept = default;

database& database::operator=(database&& other) noexcept = default;

database::~database() = default;

const std::filesystem::path& database::path() const noexcept {
    return conn_->path;
}

sqlite3* database::native_handle() const noexcept {
    return conn_->handle;
}

result<database> database::open(const std::filesystem::path& path, database_options options) {
    sqlite3* handle = nullptr;
    const int flags =
        SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string detail = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
        sqlite3_close_v2(handle);
        return std::unexpected(make_error(rc, detail + " (" + path.string() + ")", "open"));
    }
    database db(std::make_unique<statement::connection>(handle, path));
    sqlite3_extended_result_codes(handle, 1);
    sqlite3_busy_timeout(handle, static_cast<int>(options.busy_timeout.count()));

    // journal_mode answers with the mode it actually chose; anything but "wal" means the
    // file system cannot do WAL and durability assumptions would be wrong.
    {
        EQM_TRY_LET(journal, db.prepare("PRAGMA journal_mode=WAL"));
        EQM_TRY_LET(row, journal.step());
        if (!row || journal.column_text(0) != "wal") {
            return fail(errc::unavailable, "",
                        "cannot switch " + path.string() + " to WAL journal mode");
        }
    }

    EQM_TRY(db.execute(synchronous_pragma(options.synchronous)));
    EQM_TRY(db.execute("PRAGMA foreign_keys=ON"));
    if (options.max_page_count) EQM_TRY(db.set_max_page_count(*options.max_page_count));
    return db;
}

result<statement> database::prepare(std::string_view sql) {
    auto& cache = conn_->cache;
    if (auto it = cache.find(sql); it != cache.end()) {
        sqlite3_stmt* handle = it->second;
        std::string text = it->first;
        cache.erase(it);
        return statement(*conn_, handle, std::move(text));
    }
    sqlite3_stmt* handle = nullptr;
    const int rc = sqlite3_prepare_v3(conn_->handle, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &handle, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(make_error(rc, sqlite3_errmsg(conn_->handle), sql));
    if (handle == nullptr) {
        return fail(errc::internal, "", "empty statement [sql: " + std::string(sql) + "]");
    }
    return statement(*conn_, handle, std::string(sql));
}

result<void> database::execute(std::string_view sql) {
    // sqlite3_exec needs a NUL-terminated string.
    const std::string text(sql);
    char* message = nullptr;
    const int rc = sqlite3_exec(conn_->handle, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string detail = message != nullptr ? message : sqlite3_errmsg(conn_->handle);
        sqlite3_free(message);
        return std::unexpected(make_error(rc, detail, sql));
    }
    return {};
}

std::int64_t database::last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(conn_->handle);
}

std::int64_t database::changes() const noexcept {
    return sqlite3_changes64(conn_->handle);
}

bool database::autocommit() const noexcept {
    return sqlite3_get_autocommit(conn_->handle) != 0;
}

result<std::int64_t> database::pragma_int(std::string_view sql) {
    EQM_TRY_LET(stmt, prepare(sql));
    EQM_TRY_LET(row, stmt.step());
    if (!row) return fail(errc::internal, "", "no result [sql: " + std::string(sql) + "]");
    return stmt.column_int64(0);
}

result<std::int64_t> database::user_version() {
    return pragma_int("PRAGMA user_version");
}

result<std::int64_t> database::set_max_page_count(std::int64_t pages) {
    return pragma_int("PRAGMA max_page_count=" + std::to_string(pages));
}

result<std::int64_t> database::page_size() {
    return pragma_int("PRAGMA page_size");
}

result<std::int64_t> database::page_count() {
    return pragma_int("PRAGMA page_count");
}

// ---- transaction ----------------------------------------------------------------------

result<transaction> transaction::begin(database& db) {
    EQM_TRY(db.execute("BEGIN IMMEDIATE"));
    return transaction(db);
}

transaction::transaction(transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

transaction::~transaction() {
    if (db_ != nullptr) (void)rollback();
}

result<void> transaction::commit() {
    if (db_ == nullptr) return fail(errc::internal, "", "commit on a finished transaction");
    database* db = std::exchange(db_, nullptr);
    // SQLite may already have rolled back by itself (e.g. after SQLITE_FULL); committing
    // then would be a lie.
    if (db->autocommit()) {
        return fail(errc::unavailable, "",
                    "transaction was rolled back by SQLite after an earlier error");
    }
    auto r = db->execute("COMMIT");
    if (!r && !db->autocommit()) (void)db->execute("ROLLBACK");
    return r;
}

result<void> transaction::rollback() {
    if (db_ == nullptr) return {};
    database* db = std::exchange(db_, nullptr);
    if (db->autocommit()) return {};
    return db->execute("ROLLBACK");
}

}  // namespace eqm::store
