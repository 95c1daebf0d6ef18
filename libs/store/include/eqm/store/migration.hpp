#pragma once
/// Versioned schema migrations tracked in PRAGMA user_version.
#include <cstdint>
#include <span>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/store/database.hpp"

namespace eqm::store {

/// One schema step. Versions start at 1 and increase by exactly 1; `sql` may hold several
/// statements. A released migration is never edited: add a new one instead.
struct migration {
    std::int64_t version = 0;
    std::string_view name;
    std::string_view sql;
};

/// Applies, in order, every migration whose version is above the database's user_version.
/// Each runs in its own transaction together with the user_version bump, so a failure
/// leaves the database at the last good version and a later call resumes from there.
/// Returns the resulting version. Fails with errc::internal when the list is malformed
/// (not 1, 2, 3, ...), errc::conflict when the database is newer than the list (a newer
/// program wrote it), and with the SQL error (naming the migration) when a step fails.
result<std::int64_t> migrate(database& db, std::span<const migration> migrations);

}  // namespace eqm::store
