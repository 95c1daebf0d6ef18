#pragma once
/// The device's durable event outbox: every event stays in a small append-only file until the
/// gateway's application ack for its event_id arrives, so nothing is lost across crashes.
///
/// File format (one JSON object per line, each line ends with '\n' and is fsync'ed before the
/// call returns):
///   {"op":"put","event_id":"...","topic":"...","payload":"..."}   an event to deliver
///   {"op":"ack","event_id":"...","result":"ok"}                    the gateway acked it
/// A crash can leave a torn last line (no '\n', or not JSON): open() drops it and truncates
/// the file back to the last whole line. compact() rewrites the file with only the pending puts
/// (temp file + fsync + rename), and put/ack trigger it when acked records dominate.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eqm/domain/error.hpp"

namespace eqm::device {

/// True for a final answer of the gateway: `ok`, or `rejected:<reason>` for any reason but
/// `unavailable`. `rejected:unavailable` says the gateway could not commit a decision (a full
/// disk, a locked database): the event must stay in the outbox and be sent again later.
bool is_final_result(std::string_view result_text);

/// One event waiting for its ack.
struct outbox_entry {
    std::string event_id;
    std::string topic;
    std::string payload;
    bool operator==(const outbox_entry&) const = default;
};

/// Tuning knobs of an outbox.
struct outbox_options {
    /// fsync after every record (turn off only for throw-away load runs).
    bool durable = true;
    /// Compact automatically once this many acked records are in the file and they
    /// outnumber the pending ones.
    std::size_t compact_after_acked = 1024;
};

/// What open() found in an existing file.
struct outbox_recovery {
    std::size_t records = 0;          ///< whole records read
    std::size_t torn_lines = 0;       ///< unreadable lines dropped (a torn tail after a crash)
    std::size_t truncated_bytes = 0;  ///< bytes cut off the end of the file
};

/// A file-backed outbox. Not thread-safe: its owner serialises access.
class outbox {
  public:
    /// Opens (creating if needed) the outbox file and replays it. Errors: errc::unavailable
    /// when the file cannot be opened, read or truncated.
    static result<std::unique_ptr<outbox>> open(const std::filesystem::path& file,
                                                outbox_options options = {});
    ~outbox();
    outbox(const outbox&) = delete;
    outbox& operator=(const outbox&) = delete;

    /// Appends an event. A put with an event_id already pending is a no-op (idempotent).
    result<void> put(const outbox_entry& entry);
    /// Records the final answer for `event_id`; true when it was pending, false when
    /// unknown/already acked. errc::bad_field (and nothing recorded) when `result_text` is not
    /// final (is_final_result): such an event stays pending.
    result<bool> ack(std::string_view event_id, std::string_view result_text = "ok");
    /// Pending events, oldest first (per-device order is preserved on resend).
    std::vector<outbox_entry> pending() const;
    /// Number of pending events.
    std::size_t pending_count() const noexcept { return order_.size(); }
    /// True when `event_id` is waiting for its ack.
    bool is_pending(std::string_view event_id) const;
    /// Rewrites the file with only the pending events.
    result<void> compact();
    /// What the last open() recovered.
    const outbox_recovery& recovery() const noexcept { return recovery_; }
    /// The file's path.
    const std::filesystem::path& path() const noexcept { return path_; }

  private:
    outbox(std::filesystem::path path, outbox_options options);
    result<void> replay();
    result<void> append_line(const std::string& line);
    result<void> maybe_compact();

    std::filesystem::path path_;
    outbox_options options_;
    int fd_ = -1;
    std::vector<std::string> order_;  ///< pending event ids, oldest first
    std::unordered_map<std::string, outbox_entry> pending_;
    std::size_t acked_in_file_ = 0;
    outbox_recovery recovery_;
};

}  // namespace eqm::device
