// Wire names of the payload enums, and the topic parser.
#include <array>
#include <utility>

#include "eqm/domain/payloads.hpp"
#include "payloads_reader.hpp"

namespace eqm {
namespace {

template <class E, std::size_t N>
using name_table = std::array<std::pair<E, std::string_view>, N>;

template <class E, std::size_t N>
std::string_view name_of(const name_table<E, N>& table, E v) noexcept {
    for (const auto& [value, name] : table)
        if (value == v) return name;
    return "unknown";
}

template <class E, std::size_t N>
std::optional<E> value_of(const name_table<E, N>& table, std::string_view s) noexcept {
    for (const auto& [value, name] : table)
        if (name == s) return value;
    return std::nullopt;
}

constexpr name_table<device_event_type, 8> device_event_type_names{{
    {device_event_type::recording_started, "recording_started"},
    {device_event_type::recording_stopped, "recording_stopped"},
    {device_event_type::footage_offloaded, "footage_offloaded"},
    {device_event_type::flight_started, "flight_started"},
    {device_event_type::flight_ended, "flight_ended"},
    {device_event_type::calibrated, "calibrated"},
    {device_event_type::fault, "fault"},
    {device_event_type::low_battery, "low_battery"},
}};
constexpr name_table<dock_event_type, 2> dock_event_type_names{{
    {dock_event_type::slot_insert, "slot_insert"},
    {dock_event_type::slot_remove, "slot_remove"},
}};
constexpr name_table<device_cmd_type, 4> device_cmd_type_names{{
    {device_cmd_type::locate, "locate"},
    {device_cmd_type::lock, "lock"},
    {device_cmd_type::unlock, "unlock"},
    {device_cmd_type::config, "config"},
}};
constexpr name_table<gw_event_kind, 5> gw_event_kind_names{{
    {gw_event_kind::custody, "custody"},
    {gw_event_kind::device_state, "device_state"},
    {gw_event_kind::telemetry_summary, "telemetry_summary"},
    {gw_event_kind::alert, "alert"},
    {gw_event_kind::command_result, "command_result"},
}};
constexpr name_table<alert_type, 10> alert_type_names{{
    {alert_type::low_battery, "low_battery"},
    {alert_type::calibration_due, "calibration_due"},
    {alert_type::calibration_expired, "calibration_expired"},
    {alert_type::footage_pending, "footage_pending"},
    {alert_type::overdue_return, "overdue_return"},
    {alert_type::docked_while_checked_out, "docked_while_checked_out"},
    {alert_type::unauthorised_removal, "unauthorised_removal"},
    {alert_type::device_offline, "device_offline"},
    {alert_type::ledger_broken, "ledger_broken"},
    {alert_type::transfer_overdue, "transfer_overdue"},
}};
constexpr name_table<alert_state, 2> alert_state_names{{
    {alert_state::raised, "raised"},
    {alert_state::cleared, "cleared"},
}};
constexpr name_table<alert_severity, 3> alert_severity_names{{
    {alert_severity::info, "info"},
    {alert_severity::warning, "warning"},
    {alert_severity::critical, "critical"},
}};
constexpr name_table<srv_cmd_type, 6> srv_cmd_type_names{{
    {srv_cmd_type::registry_upsert, "registry_upsert"},
    {srv_cmd_type::reservation_upsert, "reservation_upsert"},
    {srv_cmd_type::reservation_cancel, "reservation_cancel"},
    {srv_cmd_type::transfer_order, "transfer_order"},
    {srv_cmd_type::device_lock, "device_lock"},
    {srv_cmd_type::custody_request, "custody_request"},
}};
constexpr name_table<reservation_status, 8> reservation_status_names{{
    {reservation_status::requested, "requested"},
    {reservation_status::approved, "approved"},
    {reservation_status::cancelled, "cancelled"},
    {reservation_status::declined, "declined"},
    {reservation_status::active, "active"},
    {reservation_status::completed, "completed"},
    {reservation_status::no_show, "no_show"},
    {reservation_status::overdue, "overdue"},
}};
constexpr name_table<transfer_step, 3> transfer_step_names{{
    {transfer_step::hand_over, "hand_over"},
    {transfer_step::receive, "receive"},
    {transfer_step::cancel, "cancel"},
}};
constexpr name_table<topic_kind, 10> topic_kind_names{{
    {topic_kind::device_state, "device_state"},
    {topic_kind::device_telemetry, "device_telemetry"},
    {topic_kind::device_event, "device_event"},
    {topic_kind::device_cmd, "device_cmd"},
    {topic_kind::dock_event, "dock_event"},
    {topic_kind::ack, "ack"},
    {topic_kind::gw_state, "gw_state"},
    {topic_kind::gw_events, "gw_events"},
    {topic_kind::srv_ack, "srv_ack"},
    {topic_kind::srv_cmd, "srv_cmd"},
}};

}  // namespace

std::string_view to_string(device_event_type v) noexcept {
    return name_of(device_event_type_names, v);
}
std::string_view to_string(dock_event_type v) noexcept {
    return name_of(dock_event_type_names, v);
}
std::string_view to_string(device_cmd_type v) noexcept {
    return name_of(device_cmd_type_names, v);
}
std::string_view to_string(gw_event_kind v) noexcept {
    return name_of(gw_event_kind_names, v);
}
std::string_view to_string(alert_type v) noexcept {
    return name_of(alert_type_names, v);
}
std::string_view to_string(alert_state v) noexcept {
    return name_of(alert_state_names, v);
}
std::string_view to_string(alert_severity v) noexcept {
    return name_of(alert_severity_names, v);
}
std::string_view to_string(srv_cmd_type v) noexcept {
    return name_of(srv_cmd_type_names, v);
}
std::string_view to_string(reservation_status v) noexcept {
    return name_of(reservation_status_names, v);
}
std::string_view to_string(transfer_step v) noexcept {
    return name_of(transfer_step_names, v);
}
std::string_view to_string(topic_kind v) noexcept {
    return name_of(topic_kind_names, v);
}

std::optional<device_event_type> parse_device_event_type(std::string_view s) noexcept {
    return value_of(device_event_type_names, s);
}
std::optional<dock_event_type> parse_dock_event_type(std::string_view s) noexcept {
    return value_of(dock_event_type_names, s);
}
std::optional<device_cmd_type> parse_device_cmd_type(std::string_view s) noexcept {
    return value_of(device_cmd_type_names, s);
}
std::optional<gw_event_kind> parse_gw_event_kind(std::string_view s) noexcept {
    return value_of(gw_event_kind_names, s);
}
std::optional<alert_type> parse_alert_type(std::string_view s) noexcept {
    return value_of(alert_type_names, s);
}
std::optional<alert_state> parse_alert_state(std::string_view s) noexcept {
    return value_of(alert_state_names, s);
}
std::optional<alert_severity> parse_alert_severity(std::string_view s) noexcept {
    return value_of(alert_severity_names, s);
}
std::optional<srv_cmd_type> parse_srv_cmd_type(std::string_view s) noexcept {
    return value_of(srv_cmd_type_names, s);
}
std::optional<reservation_status> parse_reservation_status(std::string_view s) noexcept {
    if (s == "pending") return reservation_status::requested;  // older servers' name
    return value_of(reservation_status_names, s);
}
std::optional<transfer_step> parse_transfer_step(std::string_view s) noexcept {
    return value_of(transfer_step_names, s);
}
std::optional<topic_kind> parse_topic_kind(std::string_view s) noexcept {
    return value_of(topic_kind_names, s);
}

// ---------------------------------------------------------------------------------------------
// Topics

namespace {

constexpr std::string_view topic_root = "eqm/v1/";

/// One topic shape: `eqm/v1/{head}/{id}{tail}`.
struct topic_shape {
    topic_kind kind;
    std::string_view head;      ///< the segment before the id
    std::string_view tail;      ///< what follows the id ("" or "/state", ...)
    std::string_view id_field;  ///< names the id in errors
};

constexpr std::array<topic_shape, 10> topic_shapes{{
    {topic_kind::device_state, "dev", "/state", "topic.device_id"},
    {topic_kind::device_telemetry, "dev", "/telemetry", "topic.device_id"},
    {topic_kind::device_event, "dev", "/event", "topic.device_id"},
    {topic_kind::device_cmd, "dev", "/cmd", "topic.device_id"},
    {topic_kind::dock_event, "dock", "/event", "topic.dock_id"},
    {topic_kind::ack, "ack", "", "topic.client_id"},
    {topic_kind::gw_state, "city", "/gw/state", "topic.city"},
    {topic_kind::gw_events, "city", "/gw/events", "topic.city"},
    {topic_kind::srv_ack, "city", "/srv/ack", "topic.city"},
    {topic_kind::srv_cmd, "city", "/srv/cmd", "topic.city"},
}};

const topic_shape& shape_of(topic_kind k) noexcept {
    for (const auto& s : topic_shapes)
        if (s.kind == k) return s;
    return topic_shapes[0];
}

}  // namespace

result<topic> parse_topic(std::string_view text) {
    const auto unknown = [&] {
        return fail(errc::bad_field, "topic",
                    "unknown topic \"" + std::string(text.substr(0, 200)) + "\"");
    };
    if (!text.starts_with(topic_root)) return unknown();
    const auto rest = text.substr(topic_root.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return unknown();
    const auto head = rest.substr(0, slash);
    const auto after_head = rest.substr(slash + 1);
    // The id is one level; the tail is the rest (possibly several levels, or nothing).
    const auto id_end = after_head.find('/');
    const auto id = after_head.substr(0, id_end);
    const auto tail =
        id_end == std::string_view::npos ? std::string_view{} : after_head.substr(id_end);
    for (const auto& shape : topic_shapes) {
        if (shape.head != head || shape.tail != tail) continue;
        const bool ok = shape.kind == topic_kind::gw_state || shape.kind == topic_kind::gw_events ||
                                shape.kind == topic_kind::srv_ack ||
                                shape.kind == topic_kind::srv_cmd
                            ? detail::is_city(id)
                            : detail::is_id(id);
        if (!ok)
            return fail(errc::bad_field, std::string(shape.id_field),
                        shape.head == "city" ? "pattern: must be a 6-digit city code"
                                             : "pattern: must match ^[A-Za-z0-9_-]{1,64}$");
        return topic{shape.kind, std::string(id)};
    }
    return unknown();
}

std::string format_topic(const topic& t) {
    const auto& shape = shape_of(t.kind);
    std::string out(topic_root);
    out += shape.head;
    out += '/';
    out += t.id;
    out += shape.tail;
    return out;
}

}  // namespace eqm
