#pragma once
/// Reservations over REST (docs/reservations.md, docs/server.md "Reservations"): requests,
/// decisions, the rules table, free units over time, the calendar feed; and the clerk that moves
/// bookings on by the server's clock and the custody records that arrive. Every change goes out
/// on the WebSocket feed (`{type: "reservation", reservation}`) and, through the command
/// outbox, to the gateway of the booking's city (`reservation_upsert`, or `reservation_cancel`
/// when it no longer holds anything).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "api.hpp"

namespace eqm::server {

/// Adds the reservation routes; returns them (for `eqm-server routes` and the OpenAPI check).
std::vector<route_entry> add_reservations_routes(http::router& r, api_context& ctx);

/// Publishes a booking's change on the feed (to its person, its city's custodians, dispatchers
/// and admins) and pushes it to the gateway of its city.
void announce_booking(api_context& ctx, const booking& b);

/// How often the clerk looks at bookings.
inline constexpr std::chrono::milliseconds default_booking_tick{1000};

/// Moves bookings on (region_store::advance_bookings) every `interval` on a thread of its own,
/// announcing every change and publishing the alerts it raises.
class booking_clerk {
  public:
    booking_clerk(api_context& ctx, std::chrono::milliseconds interval = default_booking_tick);
    ~booking_clerk();
    booking_clerk(const booking_clerk&) = delete;
    booking_clerk& operator=(const booking_clerk&) = delete;

    void start();
    void stop();
    /// One pass; returns how many bookings changed.
    std::size_t tick_once();

  private:
    api_context& ctx_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace eqm::server
