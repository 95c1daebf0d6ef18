#pragma once
/// Latest telemetry per device and the open one-minute aggregates, in memory. QoS 0 telemetry
/// is the bulk of the traffic, so ingest touches no SQLite: flush() writes the dirty latest
/// values and the closed minutes in one transaction (the core calls it about once a second),
/// and each closed minute also becomes a telemetry_summary event in the outbox.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "city_ledger.hpp"
#include "eqm/domain/payloads.hpp"

namespace eqm::gateway {

/// The lean per-device record (10,000 devices must fit in a few MB).
struct telemetry_entry : telemetry_latest {
    /// The session of the device's latest birth; a reading after a new birth starts counting
    /// seq again, whatever the previous session reached.
    std::uint64_t live_bd_seq = 0;
    bool dirty = false;
    // The open minute.
    clock_ms minute{};
    std::uint32_t count = 0;  ///< 0: no open minute
    double battery_min = 0;
    double temp_max = 0;
};

/// A device's calibration due date as the rules see it: the registry's, unless the device
/// reported a later one (it has been calibrated since the registry was written).
std::optional<date> effective_calibration_due(const std::optional<date>& registry,
                                              const telemetry_entry* reported);

class telemetry_cache {
  public:
    /// Loads the latest values written before a restart.
    result<void> load(city_ledger& ledger);

    /// What one reading did.
    struct ingest_result {
        /// It is the device's latest reading: the highest seq of its current session (a
        /// reading's `ts` is the device's clock, which may be wrong; seq is its own order).
        bool latest = false;
        /// An alert-relevant fact changed (battery crossing, docked, charging, footage,
        /// calibration), so the caller can re-evaluate alerts.
        bool changed = false;
    };

    /// Takes one telemetry message: into the open minute's aggregate always, into the latest
    /// values when it is the newest reading of the device's current session.
    ingest_result ingest(const std::string& device_id, const device_telemetry& t);

    /// A birth with this bd_seq: the device started a new session, whose seq counts anew.
    void note_session(const std::string& device_id, std::uint64_t bd_seq);

    const telemetry_entry* find(const std::string& device_id) const;

    /// Facts that arrive as device events or dock events rather than telemetry.
    void note_footage_offloaded(const std::string& device_id);
    void note_calibrated(const std::string& device_id, date due);
    void note_docked(const std::string& device_id, bool docked);

    /// True when flush() has something to write.
    bool pending() const noexcept {
        return !dirty_.empty() || !closed_.empty() || !changed_.empty() || has_open_minutes_;
    }

    /// Devices whose values changed since the last flush (for alert evaluation).
    const std::vector<std::string>& changed() const noexcept { return changed_; }

    /// Writes dirty latest rows, closes minutes older than `now`'s minute (and those
    /// superseded by newer messages) into telemetry_minute and returns their summaries, which
    /// the caller appends to the outbox in the same transaction. Must run inside a transaction.
    /// On failure nothing is forgotten: call again later.
    result<std::vector<telemetry_summary_body>> flush(city_ledger& ledger, clock_ms now);

    /// After the flush's transaction committed: forget what was written.
    void flush_committed();

    std::size_t size() const noexcept { return entries_.size(); }

  private:
    void close_minute(const std::string& id, telemetry_entry& e);

    std::unordered_map<std::string, telemetry_entry> entries_;
    std::vector<telemetry_summary_body> closed_;  ///< closed minutes not yet written
    std::vector<std::string> dirty_;              ///< ids with dirty latest values
    std::vector<std::string> changed_;            ///< ids whose alert facts changed
    std::size_t closed_written_ = 0;              ///< closed_ entries the pending flush wrote
    std::size_t dirty_written_ = 0;
    bool has_open_minutes_ = false;
};

}  // namespace eqm::gateway
