#pragma once
/// Keeps the city's alerts: evaluates the pure rules of eqm/domain/alerts.hpp for a device,
/// raises each alert once (stored as active, an `alert` event in the outbox) and clears it
/// when its cause goes away. Runs on the core thread inside the caller's transaction.
#include <string>
#include <unordered_map>
#include <vector>

#include "city_ledger.hpp"
#include "eqm/domain/alerts.hpp"
#include "gateway_config.hpp"
#include "gateway_metrics.hpp"
#include "outbox_pump.hpp"

namespace eqm::gateway {

class alert_desk {
  public:
    alert_desk(city_ledger& ledger, outbox_pump& outbox, const gateway_config& config,
               gateway_metrics& metrics);

    /// Loads the active alerts (at start and after a rolled-back transaction).
    result<void> reload();

    /// Brings the device's active alerts in line with `facts` (inside a transaction).
    result<void> evaluate(const std::string& device_id, const alert_facts& facts, clock_ms now);

    /// Raises an alert that is not about one device's facts (e.g. ledger_broken), once.
    result<void> raise_global(alert_type type, alert_severity severity, std::string detail,
                              clock_ms now);

  private:
    struct active_alert {
        alert_type type{};
        std::string alert_id;
    };
    result<std::string> next_alert_id();
    result<void> emit(const alert_body& body, clock_ms now);

    city_ledger& ledger_;
    outbox_pump& outbox_;
    const gateway_config& config_;
    gateway_metrics& metrics_;
    /// device id ("" for global alerts) -> its active alerts.
    std::unordered_map<std::string, std::vector<active_alert>> active_;
};

}  // namespace eqm::gateway
