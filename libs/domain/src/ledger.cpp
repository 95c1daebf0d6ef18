#include "eqm/domain/ledger.hpp"

#include <utility>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/try.hpp"

namespace eqm {
namespace {

void sanitize(std::string& s) {
    if (!is_valid_utf8(s)) s = sanitize_utf8(s);
}
void sanitize(std::optional<std::string>& s) {
    if (s) sanitize(*s);
}

}  // namespace

result<std::string> canonical_record_json(const custody_record& r) {
    // Canonical JSON of a record (integers, sorted keys, no spaces) is its compact text.
    if (auto text = custody_record_text(r, false)) return std::move(*text);
    auto j = to_json(r);
    j.erase("hash");
    return canonical_json(j);
}

result<std::string> compute_record_hash(const custody_record& r) {
    EQM_TRY_LET(body, canonical_record_json(r));
    std::string input;
    input.reserve(r.prev_hash.size() + body.size());
    input += r.prev_hash;
    input += body;
    return sha256_hex(input);
}

custody_record seal(custody_record draft, std::string_view prev_hash, std::uint64_t index) {
    draft.index = index;
    draft.prev_hash = std::string(prev_hash);
    sanitize(draft.device_id);
    sanitize(draft.holder);
    sanitize(draft.actor);
    sanitize(draft.prev_hash);
    sanitize(draft.dock_id);
    sanitize(draft.request_id);
    sanitize(draft.note);
    sanitize(draft.transfer_id);
    sanitize(draft.reservation_id);
    // Every string is valid UTF-8 now and a record holds no floats, so hashing cannot fail.
    draft.hash = compute_record_hash(draft).value();
    return draft;
}

std::string_view to_string(ledger_break b) noexcept {
    switch (b) {
        case ledger_break::none:
            return "none";
        case ledger_break::index_gap:
            return "index_gap";
        case ledger_break::prev_hash_mismatch:
            return "prev_hash_mismatch";
        case ledger_break::hash_mismatch:
            return "hash_mismatch";
    }
    return "unknown";
}

error verify_result::to_error() const {
    return error{errc::ledger_broken, "ledger", message};
}

ledger_verifier::ledger_verifier(std::string_view genesis_prev, std::uint64_t first_index)
    : head_hash_(genesis_prev), next_index_(first_index) {}

verify_result ledger_verifier::feed(const custody_record& r) {
    if (broken()) return first_break_;
    const auto position = count_;
    const auto broke = [&](ledger_break why, std::string message) {
        first_break_ = verify_result{why, position, std::move(message)};
        return first_break_;
    };
    const auto where = "record at position " + std::to_string(position) + " (index " +
                       std::to_string(r.index) + ", device " + r.device_id + ")";
    if (r.index != next_index_)
        return broke(ledger_break::index_gap,
                     where + ": expected index " + std::to_string(next_index_));
    if (r.prev_hash != head_hash_)
        return broke(ledger_break::prev_hash_mismatch,
                     where + ": prev_hash " + r.prev_hash +
                         " does not link to the previous record's hash " + head_hash_);
    const auto actual = compute_record_hash(r);
    if (!actual)
        return broke(ledger_break::hash_mismatch,
                     where + ": cannot be hashed: " + actual.error().describe());
    if (*actual != r.hash)
        return broke(ledger_break::hash_mismatch,
                     where + ": hash " + r.hash + " does not match its content (" + *actual + ")");
    head_hash_ = r.hash;
    ++next_index_;
    ++count_;
    return {};
}

verify_result verify(std::span<const custody_record> records,
                     std::string_view expected_genesis_prev, std::uint64_t expected_first_index) {
    ledger_verifier v(expected_genesis_prev, expected_first_index);
    for (const auto& r : records) {
        if (auto res = v.feed(r); !res.ok()) return res;
    }
    return {};
}

}  // namespace eqm
