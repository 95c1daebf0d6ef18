#pragma once
/// The custody desk: turns a dock event, an HTTP request or a server command into a custody
/// decision with the rules of libs/domain (readiness, then the state machine), seals the
/// ledger record onto the hash chain, and writes custody state + ledger row + outbox event in
/// the caller's transaction (the core adds the processed id to the same one and commits before
/// any ack goes out).
#include <optional>
#include <string>

#include "city_ledger.hpp"
#include "eqm/domain/custody.hpp"
#include "eqm/domain/readiness.hpp"
#include "gateway_config.hpp"
#include "gateway_metrics.hpp"
#include "outbox_pump.hpp"
#include "telemetry_cache.hpp"

namespace eqm::gateway {

/// One requested custody change, whatever it came from.
struct custody_input {
    std::string device_id;
    custody_action action = custody_action::checkout;
    std::optional<std::string> badge;  ///< checkout: who takes it; checkin: who returns it
    std::optional<std::string> actor;  ///< explicit actor (server commands)
    std::optional<clock_ms> due;
    std::optional<item_condition> condition;
    std::optional<std::string> note;
    std::optional<std::string> transfer_id;
    custody_source source = custody_source::api;
    std::optional<std::string> dock_id;
    std::optional<int> slot;
    std::optional<std::string> request_id;
    /// Check-in by someone other than the holder is accepted (docks and the custodian's kiosk).
    bool override_holder = false;
};

/// What the desk decided. A refusal is a value; result errors are storage failures.
struct custody_decision {
    std::optional<error> refusal;          ///< empty: ok
    std::optional<custody_record> record;  ///< the appended record, when custody changed
    outcome as_outcome() const {
        return refusal ? outcome::rejected(refusal->code) : outcome::ok();
    }
};

class custody_desk {
  public:
    custody_desk(city_ledger& ledger, outbox_pump& outbox, const telemetry_cache& telemetry,
                 const gateway_config& config);

    /// Reads the head of the hash chain (at start and after a rolled-back transaction).
    result<void> reload();

    /// Decides and, when allowed, records the change (inside the caller's transaction).
    result<custody_decision> decide(const custody_input& in, clock_ms now);

    /// A dock slot event: slot_remove with a badge is a check-out, without one an unauthorised
    /// removal (refused); slot_insert is a check-in. Also records the docked flag.
    result<custody_decision> on_dock_event(const std::string& dock_id, const dock_event& ev,
                                           clock_ms now);

    /// What readiness sees for a device (for the API's device resource).
    result<device_snapshot> snapshot(const std::string& device_id, const custody_row& custody);

    std::uint64_t next_index() const noexcept { return next_index_; }

  private:
    /// A check-out of a device waiting for its transfer: it leaves with the courier.
    result<custody_decision> hand_over(const custody_input& in, const transfer_order_row& order,
                                       custody_row row, const std::optional<person_record>& courier,
                                       clock_ms now);
    /// A check-in of a device this city expects: the transfer's arrival.
    result<custody_decision> receive(const custody_input& in, const transfer_order_row& order,
                                     custody_row row, clock_ms now);
    result<custody_decision> record(const custody_input& in, const custody_transition& t,
                                    custody_row row, const std::optional<std::string>& actor,
                                    clock_ms now);

    city_ledger& ledger_;
    outbox_pump& outbox_;
    const telemetry_cache& telemetry_;
    const gateway_config& config_;
    std::uint64_t next_index_ = 0;
    std::string head_hash_;
};

}  // namespace eqm::gateway
