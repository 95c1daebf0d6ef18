#include "alert_desk.hpp"

#include <algorithm>

#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {
constexpr std::string_view alert_seq_key = "alert_seq";
/// More active alerts than this are not worth listing in one page.
constexpr std::size_t max_loaded_alerts = 1'000'000;
}  // namespace

alert_desk::alert_desk(city_ledger& ledger, outbox_pump& outbox, const gateway_config& config,
                       gateway_metrics& metrics)
    : ledger_(ledger), outbox_(outbox), config_(config), metrics_(metrics) {}

result<void> alert_desk::reload() {
    active_.clear();
    EQM_TRY_LET(rows, ledger_.alerts(false, max_loaded_alerts));
    for (auto& a : rows) active_[a.device_id.value_or("")].push_back({a.type, a.alert_id});
    metrics_.alerts_active = rows.size();
    return {};
}

result<std::string> alert_desk::next_alert_id() {
    EQM_TRY_LET(n, ledger_.meta(alert_seq_key));
    const std::int64_t next = n.value_or(0) + 1;
    EQM_TRY(ledger_.set_meta(alert_seq_key, next));
    return "al-" + config_.city + "-" + std::to_string(next);
}

result<void> alert_desk::emit(const alert_body& body, clock_ms now) {
    EQM_TRY(outbox_.append(gw_event_kind::alert, now, to_json(body).dump()));
    return {};
}

result<void> alert_desk::evaluate(const std::string& device_id, const alert_facts& facts,
                                  clock_ms now) {
    auto& mine = active_[device_id];
    std::vector<alert_type> types;
    for (const auto& a : mine) types.push_back(a.type);
    const auto wanted = evaluate_alerts(facts, config_.alerts, now, types);
    const auto diff = diff_alerts(types, wanted);
    for (auto t : diff.clear) {
        auto it =
            std::find_if(mine.begin(), mine.end(), [t](const auto& a) { return a.type == t; });
        if (it == mine.end()) continue;
        EQM_TRY(ledger_.clear_alert(it->alert_id, now));
        EQM_TRY_LET(row, ledger_.find_alert(it->alert_id));
        alert_body body{it->alert_id,         t,
                        alert_state::cleared, row ? row->severity : alert_severity::info,
                        "cause resolved",     device_id};
        EQM_TRY(emit(body, now));
        log_info("alert", "cleared id=" + it->alert_id + " type=" + std::string(to_string(t)) +
                              " device=" + log_value(device_id));
        mine.erase(it);
        ++metrics_.alerts_cleared;
        --metrics_.alerts_active;
    }
    for (const auto& c : diff.raise) {
        EQM_TRY_LET(id, next_alert_id());
        alert_row row{id, c.type, device_id, c.severity, c.detail, now, {}, {}, {}};
        EQM_TRY(ledger_.insert_alert(row));
        EQM_TRY(emit(alert_body{id, c.type, alert_state::raised, c.severity, c.detail, device_id},
                     now));
        log_info("alert", "raised id=" + id + " type=" + std::string(to_string(c.type)) +
                              " device=" + log_value(device_id) + " detail=" + log_value(c.detail));
        mine.push_back({c.type, id});
        ++metrics_.alerts_raised;
        ++metrics_.alerts_active;
    }
    if (mine.empty()) active_.erase(device_id);
    return {};
}

result<void> alert_desk::raise_global(alert_type type, alert_severity severity, std::string detail,
                                      clock_ms now) {
    auto& mine = active_[""];
    for (const auto& a : mine)
        if (a.type == type) return {};
    if (detail.size() > max_detail_chars - 12)
        detail = detail.substr(0, max_detail_chars - 12) + "...";
    EQM_TRY_LET(id, next_alert_id());
    EQM_TRY(
        ledger_.insert_alert(alert_row{id, type, std::nullopt, severity, detail, now, {}, {}, {}}));
    EQM_TRY(emit(alert_body{id, type, alert_state::raised, severity, detail, std::nullopt}, now));
    log_warn("alert", "raised id=" + id + " type=" + std::string(to_string(type)) +
                          " detail=" + log_value(detail));
    mine.push_back({type, id});
    ++metrics_.alerts_raised;
    ++metrics_.alerts_active;
    return {};
}

}  // namespace eqm::gateway
