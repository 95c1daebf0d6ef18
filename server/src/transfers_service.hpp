#pragma once
/// The server's decisions about transfers (docs/transfers.md): creating them against the live
/// registry, approving (orders to both gateways), cancelling before the hand-over, following the
/// hand-overs and arrivals the ingest reports, and marking overdue ones. REST handlers
/// (transfers_api.cpp) and the allocation plan's approval call these.
#include <span>
#include <string_view>
#include <vector>

#include "api.hpp"
#include "transfer_model.hpp"

namespace eqm::server {

/// The state a created transfer starts in.
enum class transfer_start {
    requested,  ///< waits for POST /transfers/{id}/approve
    approved,   ///< approved at once, its orders sent (an approved allocation plan)
};

/// Creates transfers, all or none. Each request is checked against the registry: a named device
/// must exist (errc::bad_field `items[i].device_id`), be registered to `from_city`, be
/// `available` and in no other open transfer; a count needs that many available units of the
/// class (and analyte) in `from_city` that no open transfer holds (errc::conflict naming
/// `items[i].count`). Only dispatchers and admins create transfers (errc::forbidden). With
/// transfer_start::approved the orders go out as approve_transfer sends them. Each created
/// transfer is published on the WebSocket feed.
result<std::vector<transfer_view>> create_transfers(api_context& ctx,
                                                    std::span<const transfer_request> requests,
                                                    const user_account& actor,
                                                    transfer_start start);

/// Approves a requested transfer: `transfer_order` hand_over to the source gateway (per named
/// device; per count line with class and count, and the gateway picks its readiest units and
/// names them in its command_result) and `receive` to the destination gateway for each named
/// device, so it accepts the device even while its central link is down. errc::conflict when
/// the transfer is not `requested`.
result<transfer_view> approve_transfer(api_context& ctx, std::string_view id,
                                       const user_account& actor);

/// Cancels a transfer before any of its units was handed over (errc::conflict naming `status`
/// afterwards); the gateways that had orders are told (`transfer_order` step cancel).
result<transfer_view> cancel_transfer(api_context& ctx, std::string_view id,
                                      const user_account& actor);

/// A transfer `reader` may see, or errc::not_found / errc::forbidden.
result<transfer_view> readable_transfer(api_context& ctx, std::string_view id,
                                        const user_account& reader);

/// Whether `reader` may see a transfer between these cities: dispatchers and admins every one,
/// a custodian those into or out of their city, an officer none.
bool may_read_transfer(const user_account& reader, const transfer_view& t) noexcept;

/// Installs the transfer hooks on the gateway link (ingest commits and housekeeping): hand-overs
/// and arrivals publish the transfer, an arrival sends the device's new registry record to both
/// cities' gateways, a count's picked units are recorded and announced to the destination, and
/// transfers past their due time become overdue with an alert.
void watch_transfers(api_context& ctx);

}  // namespace eqm::server
