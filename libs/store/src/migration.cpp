#include "eqm/store/migration.hpp"

#include <string>

#include "eqm/domain/try.hpp"

namespace eqm::store {

result<std::int64_t> migrate(database& db, std::span<const migration> migrations) {
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        if (migrations[i].version != static_cast<std::int64_t>(i) + 1) {
            return fail(errc::internal, "migrations",
                        "versions must be 1, 2, 3, ... in order; entry " + std::to_string(i) +
                            " (" + std::string(migrations[i].name) + ") has version " +
                            std::to_string(migrations[i].version));
        }
    }
    EQM_TRY_LET(current, db.user_version());
    const auto known = static_cast<std::int64_t>(migrations.size());
    if (current > known) {
        return fail(errc::conflict, "user_version",
                    db.path().string() + " is at schema version " + std::to_string(current) +
                        " but this program knows only up to " + std::to_string(known));
    }
    for (const auto& step : migrations.subspan(static_cast<std::size_t>(current))) {
        const std::string label =
            "migration " + std::to_string(step.version) + " (" + std::string(step.name) + ")";
        auto tx = transaction::begin(db);
        if (!tx) {
            auto e = tx.error();
            e.message = label + ": " + e.message;
            return std::unexpected(std::move(e));
        }
        // user_version lives in the database header, which is journaled like any page, so
        // the bump commits or rolls back together with the step itself.
        auto applied = db.execute(step.sql);
        if (applied) applied = db.execute("PRAGMA user_version=" + std::to_string(step.version));
        if (applied) applied = tx->commit();
        if (!applied) {
            auto e = applied.error();
            e.message = label + " failed and was rolled back: " + e.message;
            return std::unexpected(std::move(e));
        }
    }
    return db.user_version();
}

}  // namespace eqm::store
