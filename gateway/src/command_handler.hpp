#pragma once
/// Applies the server's commands (srv/cmd): registry_upsert (with full_sync, in one message or
/// in parts of one sync_id),
/// reservation_upsert / reservation_cancel, transfer_order (hand_over / receive), device_lock
/// and custody_request. The core makes each idempotent by cmd_id (processed_commands) and
/// reports each result as a command_result event through the outbox, all in one transaction.
#include <string>
#include <utility>
#include <vector>

#include "city_ledger.hpp"
#include "custody_desk.hpp"
#include "gateway_config.hpp"

namespace eqm::gateway {

/// What a command did, besides its result.
struct command_effects {
    std::vector<std::string> devices;  ///< devices whose alerts may have changed
    /// Messages for the city broker, published only after the commit (device lock commands).
    std::vector<std::pair<std::string, std::string>> local_messages;
};

/// What the records of one registry_upsert did.
struct registry_upserted {
    std::vector<std::string> devices;  ///< ids of this city's devices upserted
    std::vector<std::string> people;
    std::size_t other_city = 0;  ///< devices of other cities, ignored
};

class command_handler {
  public:
    command_handler(city_ledger& ledger, custody_desk& desk, const gateway_config& config);

    /// Applies `cmd` inside the caller's transaction. Refusals are in the result body; result
    /// errors are storage failures.
    result<command_result_body> apply(const srv_cmd& cmd, clock_ms now, command_effects& effects);

  private:
    result<command_result_body> registry(const srv_cmd& cmd, const registry_upsert_cmd& c);
    /// One part of a full sync in parts: upserted now; what no part listed is removed once all
    /// parts of the sync are held. A newer sync supersedes an incomplete older one.
    result<command_result_body> registry_part(const srv_cmd& cmd, const registry_upsert_cmd& c);
    result<registry_upserted> upsert_records(const registry_upsert_cmd& c);
    static std::string describe(const registry_upserted& r);
    result<command_result_body> transfer(const std::string& cmd_id, const transfer_order_cmd& c,
                                         clock_ms now, command_effects& effects);
    /// A hand-over of a count: the readiest available units of the class, named in the result.
    result<command_result_body> pick_units(const std::string& cmd_id, const transfer_order_cmd& c,
                                           clock_ms now);
    result<command_result_body> lock(const std::string& cmd_id, const device_lock_cmd& c,
                                     clock_ms now, command_effects& effects);
    result<command_result_body> custody(const std::string& cmd_id, const custody_request_cmd& c,
                                        clock_ms now, command_effects& effects);

    city_ledger& ledger_;
    custody_desk& desk_;
    const gateway_config& config_;
};

}  // namespace eqm::gateway
