#pragma once
/// The hash-chained custody ledger. Each record carries the hash of the one before it:
///
///     hash = SHA-256(prev_hash || canonical JSON of the record without "hash")
///
/// with prev_hash and hash as 64 lower-case hex characters (the hex text is what is hashed, not
/// the raw bytes) and the first record's prev_hash = 64 '0' (genesis_prev_hash). Records are
/// numbered 0, 1, 2, ... by `index`. Editing, dropping, inserting or reordering any record breaks
/// the chain at that record, and verify() names the first record that does not fit.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "eqm/domain/custody.hpp"
#include "eqm/domain/error.hpp"

namespace eqm {

/// The prev_hash of the first record of a ledger: 64 '0'.
inline constexpr std::string_view genesis_prev_hash =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical JSON of `r` without its "hash" field: the bytes that are hashed after
/// prev_hash. Fails (errc::bad_field) only when a string field is not valid UTF-8.
result<std::string> canonical_record_json(const custody_record& r);

/// SHA-256(r.prev_hash || canonical_record_json(r)) as 64 lower-case hex characters.
result<std::string> compute_record_hash(const custody_record& r);

/// Finishes a draft record for appending: sets index and prev_hash, replaces any ill-formed
/// UTF-8 in its strings by U+FFFD (so the record is exactly what gets hashed and sent), and
/// fills hash. Whatever the draft's hash held is ignored.
custody_record seal(custody_record draft, std::string_view prev_hash, std::uint64_t index);

/// Why a record does not fit the chain.
enum class ledger_break {
    none,
    index_gap,           ///< record.index is not the next index (a record dropped, added or moved)
    prev_hash_mismatch,  ///< record.prev_hash is not the hash of the record before it
    hash_mismatch,       ///< record.hash is not the hash of its own content (an edited record)
};
std::string_view to_string(ledger_break b) noexcept;

/// The outcome of verifying a ledger (or a ledger so far). On a break, `position` is the
/// 0-based position of the first bad record in what was verified (its place in the span, or the
/// number of records fed before it).
struct verify_result {
    ledger_break reason = ledger_break::none;
    std::uint64_t position = 0;
    std::string message;  ///< human: which record, what was expected, what was found

    bool ok() const noexcept { return reason == ledger_break::none; }
    explicit operator bool() const noexcept { return ok(); }
    /// errc::ledger_broken with the message (field "ledger"); only meaningful when !ok().
    error to_error() const;
};

/// Checks a whole ledger (or a contiguous slice of one: pass the prev_hash and index its first
/// record should have). An empty span verifies.
verify_result verify(std::span<const custody_record> records,
                     std::string_view expected_genesis_prev = genesis_prev_hash,
                     std::uint64_t expected_first_index = 0);

/// Verifies a ledger one record at a time, as records arrive (the server keeps one per city).
/// Once a record breaks the chain the verifier stays broken and keeps reporting that first
/// break: nothing appended after a break can be trusted.
class ledger_verifier {
  public:
    explicit ledger_verifier(std::string_view genesis_prev = genesis_prev_hash,
                             std::uint64_t first_index = 0);

    /// Checks `r` against the chain so far and, when it fits, makes it the new head.
    verify_result feed(const custody_record& r);

    bool broken() const noexcept { return !first_break_.ok(); }
    const verify_result& first_break() const noexcept { return first_break_; }
    /// The hash the next record's prev_hash must carry.
    const std::string& head_hash() const noexcept { return head_hash_; }
    /// The index the next record must carry.
    std::uint64_t next_index() const noexcept { return next_index_; }
    /// How many records were accepted.
    std::uint64_t count() const noexcept { return count_; }

  private:
    std::string head_hash_;
    std::uint64_t next_index_;
    std::uint64_t count_ = 0;
    verify_result first_break_;
};

}  // namespace eqm
