#include "eqm/domain/reservation_rules.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <tuple>

#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {
namespace {

using detail::json;
using std::chrono::days;
using std::chrono::minutes;

constexpr std::array<std::string_view, 7> day_names{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};
constexpr std::string_view bookable_class_names = "body_camera, drone, analyzer";
constexpr std::string_view analyte_names = "cod, nh3n, voc, so2, nox, noise";

bool is_working_day(const working_hours& h, date d) {
    const unsigned iso = std::chrono::weekday{d}.iso_encoding();  // 1 = Monday ... 7 = Sunday
    return (h.days >> (iso - 1)) & 1U;
}

clock_ms to_local(clock_ms t) {
    return t + shanghai_utc_offset;
}
clock_ms from_local(clock_ms t) {
    return t - shanghai_utc_offset;
}

std::string clock_text(minutes m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(m.count() / 60),
                  static_cast<int>(m.count() % 60));
    return buf;
}

/// "08:30" -> 510 minutes.
result<minutes> to_clock_time(const json& j, const std::string& path) {
    const auto bad = [&] {
        return fail(errc::bad_field, path, "must be a time of day like \"08:30\" (00:00..23:59)");
    };
    if (!j.is_string()) return bad();
    const auto& s = j.get_ref<const std::string&>();
    const auto digit = [&](std::size_t i) { return s[i] >= '0' && s[i] <= '9'; };
    if (s.size() != 5 || s[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4))
        return bad();
    const int h = (s[0] - '0') * 10 + (s[1] - '0');
    const int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59) return bad();
    return minutes{h * 60 + m};
}

result<std::uint8_t> to_days(const json& j, const std::string& path) {
    if (!j.is_array() || j.empty() || j.size() > day_names.size())
        return fail(errc::bad_field, path, "must list 1 to 7 days: mon, tue, ..., sun");
    std::uint8_t mask = 0;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const auto item_path = detail::index_path(path, i);
        const auto it = j[i].is_string() ? std::ranges::find(day_names, j[i].get<std::string>())
                                         : day_names.end();
        if (it == day_names.end())
            return fail(errc::bad_field, item_path, "must be one of mon, tue, ..., sun");
        const auto bit = static_cast<std::uint8_t>(1U << (it - day_names.begin()));
        if (mask & bit) return fail(errc::bad_field, item_path, "is listed twice");
        mask |= bit;
    }
    return mask;
}

result<working_hours> to_working_hours(const json& j, const std::string& path) {
    detail::object_reader r(j, path, "working_hours");
    working_hours h;
    r.req("open", h.open, to_clock_time);
    r.req("close", h.close, to_clock_time);
    std::optional<std::uint8_t> d;
    r.opt("days", d, to_days);
    if (d) h.days = *d;
    if (r.ok() && h.close <= h.open)
        r.reject(errc::bad_field, detail::join_path(path, "close"),
                 "must be after open (" + clock_text(h.open) + ")");
    return detail::finish(r, std::move(h));
}

/// A whole number of minutes in [0, max].
auto minutes_up_to(minutes lowest, minutes highest) {
    return [=](const json& j, const std::string& p) -> result<minutes> {
        EQM_TRY_LET(v, detail::to_uint(j, p, static_cast<std::uint64_t>(lowest.count()),
                                       static_cast<std::uint64_t>(highest.count())));
        return minutes{static_cast<minutes::rep>(v)};
    };
}

json hours_json(const working_hours& h) {
    json list = json::array();
    for (std::size_t i = 0; i < day_names.size(); ++i)
        if ((h.days >> i) & 1U) list.push_back(day_names[i]);
    return {{"open", clock_text(h.open)}, {"close", clock_text(h.close)}, {"days", list}};
}

auto key_of(const reservation_rule& r) {
    return std::make_tuple(r.cls, r.analyte.has_value(), r.analyte);
}

}  // namespace

bool within(const working_hours& hours, clock_ms t) noexcept {
    const auto local = to_local(t);
    const auto day = std::chrono::floor<days>(local);
    const auto tod = local - day;
    return is_working_day(hours, day) && tod >= hours.open && tod <= hours.close;
}

std::optional<clock_ms> next_within(const working_hours& hours, clock_ms t) noexcept {
    const auto local = to_local(t);
    const date today = std::chrono::floor<days>(local);
    for (int i = 0; i <= 7; ++i) {
        const date d = today + days{i};
        if (!is_working_day(hours, d)) continue;
        if (local <= clock_ms{d} + hours.close)
            return from_local(std::max(local, clock_ms{d} + hours.open));
    }
    return std::nullopt;
}

std::optional<clock_ms> prev_within(const working_hours& hours, clock_ms t) noexcept {
    const auto local = to_local(t);
    const date today = std::chrono::floor<days>(local);
    for (int i = 0; i <= 7; ++i) {
        const date d = today - days{i};
        if (!is_working_day(hours, d)) continue;
        if (local >= clock_ms{d} + hours.open)
            return from_local(std::min(local, clock_ms{d} + hours.close));
    }
    return std::nullopt;
}

std::string describe(const working_hours& hours) {
    std::string out = clock_text(hours.open) + "-" + clock_text(hours.close) + " on ";
    bool first = true;
    for (std::size_t i = 0; i < day_names.size(); ++i) {
        if (!((hours.days >> i) & 1U)) continue;
        out += first ? "" : ", ";
        out += day_names[i];
        first = false;
    }
    return out + " (Asia/Shanghai)";
}

bool is_bookable(device_class c) noexcept {
    return c != device_class::dock;
}

reservation_rule default_rule(device_class c, std::optional<eqm::analyte> a) {
    reservation_rule r;
    r.cls = c;
    r.analyte = a;
    r.approval_required = c == device_class::drone;
    return r;
}

reservation_rule reservation_rules::rule_for(device_class c, std::optional<eqm::analyte> a) const {
    const reservation_rule* class_row = nullptr;
    for (const auto& r : items) {
        if (r.cls != c) continue;
        if (a && r.analyte == a) return r;
        if (!r.analyte) class_row = &r;
    }
    if (!class_row) return default_rule(c, a);
    reservation_rule out = *class_row;
    out.analyte = a;
    return out;
}

reservation_rules default_reservation_rules() {
    return {{default_rule(device_class::body_camera), default_rule(device_class::drone),
             default_rule(device_class::analyzer)}};
}

json to_json(const reservation_rule& rule) {
    json j = json::object();
    j["class"] = to_string(rule.cls);
    if (rule.analyte) j["analyte"] = to_string(*rule.analyte);
    j["min_notice_minutes"] = rule.min_notice.count();
    j["max_length_minutes"] = rule.max_length.count();
    j["buffer_minutes"] = rule.buffer.count();
    j["working_hours"] = rule.hours ? hours_json(*rule.hours) : json(nullptr);
    j["approval_required"] = rule.approval_required;
    j["max_open_bookings"] = rule.max_open ? json(*rule.max_open) : json(nullptr);
    return j;
}

json to_json(const reservation_rules& rules) {
    auto sorted = rules.items;
    std::ranges::sort(sorted, {}, key_of);
    json items = json::array();
    for (const auto& r : sorted) items.push_back(to_json(r));
    return {{"items", items}};
}

result<reservation_rule> from_json_reservation_rule(const json& j, std::string_view path) {
    detail::object_reader r(j, path, "reservation rule");
    reservation_rule v;
    r.req("class", v.cls, detail::enumeration(parse_device_class, bookable_class_names));
    r.opt("analyte", v.analyte, detail::enumeration(parse_analyte, analyte_names));
    if (r.ok() && !is_bookable(v.cls))
        r.reject(errc::bad_field, detail::join_path(path, "class"),
                 "docks are not booked; expected one of " + std::string(bookable_class_names));
    if (r.ok() && v.analyte && v.cls != device_class::analyzer)
        r.reject(errc::bad_field, detail::join_path(path, "analyte"),
                 "only analyzer rules name an analyte");
    if (r.ok()) v = default_rule(v.cls, v.analyte);
    std::optional<minutes> notice, length, buffer;
    r.opt("min_notice_minutes", notice, minutes_up_to(minutes{0}, max_rule_min_notice));
    r.opt("max_length_minutes", length, minutes_up_to(minutes{1}, max_rule_length));
    r.opt("buffer_minutes", buffer, minutes_up_to(minutes{0}, max_rule_buffer));
    std::optional<std::optional<working_hours>> hours;
    r.opt("working_hours", hours, detail::nullable(to_working_hours));
    std::optional<bool> approval;
    r.opt("approval_required", approval, detail::boolean());
    std::optional<std::optional<std::uint64_t>> open;
    r.opt("max_open_bookings", open, detail::nullable(detail::uint(1, max_rule_open_bookings)));
    v.min_notice = notice.value_or(v.min_notice);
    v.max_length = length.value_or(v.max_length);
    v.buffer = buffer.value_or(v.buffer);
    if (hours) v.hours = *hours;
    v.approval_required = approval.value_or(v.approval_required);
    if (open) v.max_open = *open ? std::optional(static_cast<std::uint32_t>(**open)) : std::nullopt;
    return detail::finish(r, std::move(v));
}

result<reservation_rules> parse_reservation_rules(const json& body) {
    detail::object_reader r(body, "", "reservation rules");
    reservation_rules v;
    r.req("items", v.items,
          detail::array(0, max_rule_items, detail::nested(from_json_reservation_rule)));
    EQM_TRY(r.finish());
    for (std::size_t i = 0; i < v.items.size(); ++i)
        for (std::size_t k = 0; k < i; ++k)
            if (key_of(v.items[i]) == key_of(v.items[k])) {
                std::string what(to_string(v.items[i].cls));
                if (v.items[i].analyte) what.append(" ").append(to_string(*v.items[i].analyte));
                return fail(errc::bad_field, detail::index_path("items", i),
                            "a second rule for " + what + "; items[" + std::to_string(k) +
                                "] is the first");
            }
    return v;
}

}  // namespace eqm
