// Transfer shapes and the checks of a POST /transfers body (see transfer_model.hpp).
#include "transfer_model.hpp"

#include <array>
#include <set>
#include <utility>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"

namespace eqm::server {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<transfer_status, std::string_view>, 6> status_names{{
    {transfer_status::requested, "requested"},
    {transfer_status::approved, "approved"},
    {transfer_status::in_transit, "in_transit"},
    {transfer_status::completed, "completed"},
    {transfer_status::cancelled, "cancelled"},
    {transfer_status::overdue, "overdue"},
}};

constexpr std::array<std::pair<transfer_unit_state, std::string_view>, 4> unit_state_names{{
    {transfer_unit_state::ordered, "ordered"},
    {transfer_unit_state::in_transit, "in_transit"},
    {transfer_unit_state::arrived, "arrived"},
    {transfer_unit_state::cancelled, "cancelled"},
}};

constexpr std::string_view class_rule = "must be body_camera, drone, analyzer or dock";
constexpr std::string_view analyte_rule = "must be cod, nh3n, voc, so2, nox or noise";

result<std::string> text_member(const json& j, const std::string& name, std::size_t max_chars) {
    auto it = j.find(name);
    if (it == j.end()) return fail(errc::bad_field, name, "is required");
    if (!it->is_string()) return fail(errc::bad_field, name, "must be a string");
    auto s = it->get<std::string>();
    if (s.empty() || s.size() > max_chars || !is_valid_utf8(s))
        return fail(errc::bad_field, name,
                    "must be 1 to " + std::to_string(max_chars) + " bytes of UTF-8");
    return s;
}

result<std::string> city_member(const json& j, const std::string& name) {
    EQM_TRY_LET(c, text_member(j, name, 6));
    if (!find_city(c))
        return fail(errc::bad_field, name,
                    "unknown city " + c + ": must be one of the region's 14");
    return c;
}

result<void> only_members(const json& j, const std::set<std::string>& allowed,
                          const std::string& path) {
    for (const auto& [k, v] : j.items())
        if (!allowed.contains(k))
            return fail(errc::unknown_field, path + k, "is not a member of this object");
    return {};
}

result<std::vector<transfer_item>> items_member(const json& body) {
    auto it = body.find("items");
    if (it == body.end()) return fail(errc::bad_field, "items", "is required");
    if (!it->is_array() || it->empty() || it->size() > max_transfer_items)
        return fail(errc::bad_field, "items",
                    "must be an array of 1 to " + std::to_string(max_transfer_items) + " items");
    std::vector<transfer_item> out;
    std::set<std::string> named;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string path = "items[" + std::to_string(i) + "]";
        EQM_TRY_LET(item, transfer_item_from_json((*it)[i], path));
        if (item.device_id && !named.insert(*item.device_id).second)
            return fail(errc::bad_field, path + ".device_id",
                        "device " + *item.device_id + " is named twice");
        out.push_back(std::move(item));
    }
    return out;
}

}  // namespace

std::string_view to_string(transfer_status s) noexcept {
    for (const auto& [v, n] : status_names)
        if (v == s) return n;
    return "requested";
}

std::optional<transfer_status> parse_transfer_status(std::string_view s) noexcept {
    for (const auto& [v, n] : status_names)
        if (n == s) return v;
    return std::nullopt;
}

bool is_open(transfer_status s) noexcept {
    return s != transfer_status::completed && s != transfer_status::cancelled;
}

std::string_view to_string(transfer_unit_state s) noexcept {
    for (const auto& [v, n] : unit_state_names)
        if (v == s) return n;
    return "ordered";
}

std::optional<transfer_unit_state> parse_transfer_unit_state(std::string_view s) noexcept {
    for (const auto& [v, n] : unit_state_names)
        if (n == s) return v;
    return std::nullopt;
}

std::uint32_t transfer_view::units_asked() const noexcept {
    std::uint32_t n = 0;
    for (const auto& i : items) n += i.device_id ? 1 : i.count;
    return n;
}

result<transfer_item> transfer_item_from_json(const json& j, const std::string& path) {
    if (!j.is_object()) return fail(errc::bad_field, path, "must be an object");
    transfer_item item;
    if (j.contains("device_id")) {
        EQM_TRY(only_members(j, {"device_id"}, path + "."));
        const auto& id = j["device_id"];
        if (!id.is_string() || !is_valid_id(id.get<std::string>()))
            return fail(errc::bad_field, path + ".device_id",
                        "must be a device id matching ^[A-Za-z0-9_-]{1,64}$");
        item.device_id = id.get<std::string>();
        return item;
    }
    EQM_TRY(only_members(j, {"class", "count", "analyte"}, path + "."));
    const auto cls = j.find("class");
    if (cls == j.end()) return fail(errc::bad_field, path, "needs device_id, or class and count");
    if (!cls->is_string() || !parse_device_class(cls->get<std::string>()))
        return fail(errc::bad_field, path + ".class", std::string(class_rule));
    item.cls = parse_device_class(cls->get<std::string>());
    const auto count = j.find("count");
    if (count == j.end()) return fail(errc::bad_field, path + ".count", "is required with class");
    if (!count->is_number_integer() || count->get<std::int64_t>() < 1 ||
        count->get<std::int64_t>() > max_transfer_count)
        return fail(errc::bad_field, path + ".count",
                    "must be an integer from 1 to " + std::to_string(max_transfer_count));
    item.count = static_cast<std::uint32_t>(count->get<std::int64_t>());
    if (const auto a = j.find("analyte"); a != j.end()) {
        if (*item.cls != device_class::analyzer)
            return fail(errc::bad_field, path + ".analyte", "is only for the class analyzer");
        if (!a->is_string() || !parse_analyte(a->get<std::string>()))
            return fail(errc::bad_field, path + ".analyte", std::string(analyte_rule));
        item.analyte_type = parse_analyte(a->get<std::string>());
    }
    return item;
}

result<transfer_request> parse_transfer_request(const json& body, clock_ms now) {
    EQM_TRY(only_members(body, {"from_city", "to_city", "items", "due", "reason"}, ""));
    transfer_request r;
    EQM_TRY_LET(from, city_member(body, "from_city"));
    EQM_TRY_LET(to, city_member(body, "to_city"));
    if (from == to)
        return fail(errc::bad_field, "to_city", "must differ from from_city (" + from + ")");
    r.from_city = std::move(from);
    r.to_city = std::move(to);
    EQM_TRY_LET(items, items_member(body));
    r.items = std::move(items);
    EQM_TRY_LET(due_text, text_member(body, "due", 64));
    EQM_TRY_LET(due, parse_timestamp(due_text, "due"));
    if (due <= now)
        return fail(errc::bad_field, "due",
                    "must be in the future (now is " + format_timestamp(now) + ")");
    r.due = due;
    EQM_TRY_LET(reason, text_member(body, "reason", max_transfer_reason_chars));
    r.reason = std::move(reason);
    return r;
}

json to_json(const transfer_item& item) {
    if (item.device_id) return json{{"device_id", *item.device_id}};
    json j{{"class", to_string(item.cls.value_or(device_class::body_camera))},
           {"count", item.count}};
    if (item.analyte_type) j["analyte"] = to_string(*item.analyte_type);
    return j;
}

json to_json(const transfer_unit& unit) {
    json j{{"device_id", unit.device_id},
           {"class", to_string(unit.cls)},
           {"state", to_string(unit.state)}};
    if (unit.analyte_type) j["analyte"] = to_string(*unit.analyte_type);
    j["courier"] = unit.courier ? json(*unit.courier) : json(nullptr);
    j["handed_over_at"] =
        unit.handed_over_at ? json(format_timestamp(*unit.handed_over_at)) : json(nullptr);
    j["arrived_at"] = unit.arrived_at ? json(format_timestamp(*unit.arrived_at)) : json(nullptr);
    return j;
}

json to_json(const transfer_view& t) {
    json items = json::array();
    for (const auto& i : t.items) items.push_back(to_json(i));
    json units = json::array();
    for (const auto& u : t.units) units.push_back(to_json(u));
    const auto opt_text = [](const std::optional<std::string>& s) {
        return s ? json(*s) : json(nullptr);
    };
    const auto opt_ts = [](const std::optional<clock_ms>& c) {
        return c ? json(format_timestamp(*c)) : json(nullptr);
    };
    return json{{"id", t.id},
                {"status", to_string(t.status)},
                {"from_city", t.from_city},
                {"to_city", t.to_city},
                {"items", std::move(items)},
                {"due", format_timestamp(t.due)},
                {"reason", t.reason},
                {"created_by", t.created_by},
                {"created_at", format_timestamp(t.created_at)},
                {"updated_at", format_timestamp(t.updated_at)},
                {"approved_by", opt_text(t.approved_by)},
                {"approved_at", opt_ts(t.approved_at)},
                {"cancelled_by", opt_text(t.cancelled_by)},
                {"completed_at", opt_ts(t.completed_at)},
                {"units", std::move(units)}};
}

}  // namespace eqm::server
