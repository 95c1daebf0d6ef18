#pragma once
/// The WebSocket feed `GET /api/v1/events`: what is published on it, who receives what (the
/// read scope of read_scope.hpp, message by message), and when a connection is closed.
///
/// Messages are `{type: "device", device}`, `{type: "alert", alert}`,
/// `{type: "reservation", reservation}` (reservations_api.hpp: to its person, its city's
/// custodians, dispatchers and admins) and `{type: "gateway", city}`. Their labels: `kind`
/// (device, alert, reservation, gateway), `city`, `person` for reservations, and for
/// devices `holder` and `view`: `full` for readers who see every holder, `public` (the holder
/// hidden) for officers. A connection is labelled with its user, the SHA-256 of its token and
/// the login's expiry, so feed_guard can close it once the login has ended.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "auth.hpp"
#include "eqm/http/ws_hub.hpp"
#include "eqm/runtime/clock.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// Publishes a device's change: the full resource and, for officers, a copy without its holder.
void publish_device(http::ws_hub& hub, const device_view& d, clock_ms now);

/// Publishes an alert's change.
void publish_alert(http::ws_hub& hub, const alert_view& a);

/// Publishes a transfer's change `{type: "transfer", transfer}` to the readers of either city
/// (labels `city` = from_city and `to_city`): dispatchers, admins and both cities' custodians.
void publish_transfer(http::ws_hub& hub, const transfer_view& t);

/// The accept hook of the feed: a valid token (`?token=` or `Authorization: Bearer`), a
/// `?city=` within the reader's scope (400 when not a city code, 403 outside the scope).
http::ws_accept feed_admission(auth_service& auth, region_store& store, eqm::clock_fn clock);

/// How often feed_guard looks at the open connections.
inline constexpr std::chrono::milliseconds default_feed_check_interval{1000};

/// Closes feed connections whose login has ended: the token expired, the user was deactivated
/// or their role or city changed. Close code 1008 (policy violation) with the reason. Runs a
/// thread of its own that checks every `interval`.
class feed_guard {
  public:
    feed_guard(http::ws_hub& hub, region_store& store, eqm::clock_fn clock,
               std::chrono::milliseconds interval = default_feed_check_interval);
    ~feed_guard();
    feed_guard(const feed_guard&) = delete;
    feed_guard& operator=(const feed_guard&) = delete;

    void start();
    void stop();
    /// One look at every connection; returns how many it closed.
    std::size_t check_once();

  private:
    http::ws_hub& hub_;
    region_store& store_;
    eqm::clock_fn clock_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace eqm::server
