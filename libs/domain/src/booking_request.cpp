#include "eqm/domain/booking_request.hpp"

#include <algorithm>

#include "eqm/domain/booking_capacity.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/reservation.hpp"
#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {
namespace {

using detail::json;
using std::chrono::duration_cast;

constexpr std::string_view bookable_class_names = "body_camera, drone, analyzer";
constexpr std::string_view analyte_names = "cod, nh3n, voc, so2, nox, noise";

std::unexpected<booking_refusal> as_body_refusal(error e) {
    return std::unexpected(booking_refusal{std::move(e), booking_rule::body, {}, {}});
}

/// Text of min..max code points without control characters (tab and newline allowed in
/// multi-line text).
auto plain_text(std::size_t min_chars, std::size_t max_chars, bool multi_line) {
    return [=](const json& j, const std::string& p) -> result<std::string> {
        auto v = detail::to_text(j, p, min_chars, max_chars);
        if (!v) return v;
        for (const char c : *v) {
            const auto b = static_cast<unsigned char>(c);
            if ((b < 0x20U && !(multi_line && (c == '\n' || c == '\t'))) || b == 0x7FU)
                return fail(errc::bad_field, p, "must not contain control characters");
        }
        return v;
    };
}

auto any_rfc3339() {
    return [](const json& j, const std::string& p) -> result<clock_ms> {
        if (!j.is_string()) return detail::wrong_type(p, "an RFC 3339 time string");
        return parse_rfc3339(j.get_ref<const std::string&>(), p);
    };
}

/// "14 days", "3 hours", "90 minutes".
std::string duration_text(std::chrono::milliseconds d) {
    using namespace std::chrono;
    if (d % days{1} == milliseconds{0})
        return std::to_string(duration_cast<days>(d).count()) + " days";
    if (d % hours{1} == milliseconds{0})
        return std::to_string(duration_cast<hours>(d).count()) + " hours";
    return std::to_string(duration_cast<minutes>(d).count()) + " minutes";
}

/// "2026-11-27 09:00" in Asia/Shanghai.
std::string local_text(clock_ms t) {
    const auto text = format_timestamp(t + shanghai_utc_offset);
    return text.substr(0, 10) + " " + text.substr(11, 5);
}

bool region_wide(person_role r) {
    return r == person_role::dispatcher || r == person_role::admin;
}

booking_result<void> check_target(const booking_request& q, const booking_facts& facts) {
    if (q.cls && !is_bookable(*q.cls))
        return refuse(errc::bad_field, "class", booking_rule::class_not_bookable,
                      "docks are not booked; expected one of " + std::string(bookable_class_names));
    if (q.cls == device_class::analyzer && !q.analyte)
        return refuse(
            errc::bad_field, "analyte", booking_rule::analyte,
            "an analyzer booked by class needs the analyte: one of " + std::string(analyte_names));
    if (!find_city(q.city))
        return refuse(errc::bad_field, "city", booking_rule::city_unknown,
                      "\"" + q.city + "\" is not one of the region's 14 city codes");
    const auto& who = facts.requester;
    if (who.city && *who.city != q.city && !region_wide(who.role))
        return refuse(errc::bad_field, "city", booking_rule::officer_city,
                      who.person_id + " (" + std::string(to_string(who.role)) + " of " + *who.city +
                          ") may book only in their own city, not in " + q.city);
    if (!q.device_id) return {};
    if (!facts.device)
        return refuse(errc::bad_field, "device_id", booking_rule::device_unknown,
                      "no device \"" + *q.device_id + "\" in the registry");
    const auto& d = *facts.device;
    if (!is_bookable(d.cls))
        return refuse(errc::bad_field, "device_id", booking_rule::class_not_bookable,
                      d.id + " is a dock; docks are not booked");
    if (d.city != q.city)
        return refuse(errc::bad_field, "city", booking_rule::device_city,
                      d.id + " is kept in city " + d.city + ", not in " + q.city);
    if (d.state == custody_state::in_transit)
        return refuse(errc::conflict, "device_id", booking_rule::device_in_transit,
                      d.id + " is in transit between cities and cannot be booked at either");
    if (d.state == custody_state::lost || d.state == custody_state::retired)
        return refuse(errc::conflict, "device_id", booking_rule::device_unavailable,
                      d.id + " is " + std::string(to_string(d.state)) + " and cannot be booked");
    return {};
}

booking_result<void> check_window(const booking_request& q, const reservation_rule& rule,
                                  clock_ms now) {
    const auto cls = std::string(to_string(rule.cls));
    if (q.end <= q.start)
        return refuse(errc::bad_field, "end", booking_rule::window_order,
                      "must be after start (" + format_timestamp(q.start) + "), got " +
                          format_timestamp(q.end));
    if (q.start < now - booking_start_grace)
        return refuse(
            errc::bad_field, "start", booking_rule::past,
            format_timestamp(q.start) + " is in the past (now " + format_timestamp(now) + ")");
    if (rule.min_notice > std::chrono::minutes{0} && q.start < now + rule.min_notice)
        return refuse(errc::bad_field, "start", booking_rule::min_notice,
                      "a " + cls + " is booked at least " + duration_text(rule.min_notice) +
                          " ahead: start at " + format_timestamp(now + rule.min_notice) +
                          " or later");
    if (q.end - q.start > rule.max_length)
        return refuse(errc::bad_field, "end", booking_rule::max_length,
                      "a " + cls + " booking lasts at most " + duration_text(rule.max_length) +
                          "; end by " + format_timestamp(q.start + rule.max_length));
    if (!rule.hours) return {};
    for (const auto& [field, t] : {std::pair{"start", q.start}, std::pair{"end", q.end}})
        if (!within(*rule.hours, t))
            return refuse(errc::bad_field, field, booking_rule::working_hours,
                          std::string(field) + " " + local_text(t) +
                              " is outside the counter's working hours " + describe(*rule.hours));
    return {};
}

booking_result<void> check_open(const booking_request& q, const booking_facts& facts,
                                const reservation_rule& rule) {
    if (!rule.max_open) return {};
    const auto open = std::ranges::count_if(facts.requester_bookings, [&](const booking& b) {
        return b.person_id == facts.requester.person_id && b.cls == rule.cls &&
               holds_window(b.status);
    });
    if (static_cast<std::uint64_t>(open) < *rule.max_open) return {};
    return refuse(errc::conflict, q.device_id ? "device_id" : "class", booking_rule::max_open,
                  facts.requester.person_id + " already holds " + std::to_string(open) + " open " +
                      std::string(to_string(rule.cls)) + " bookings, the most allowed");
}

}  // namespace

booking_result<booking_request> parse_booking_request(const json& body) {
    detail::object_reader r(body, "", "reservation request");
    booking_request q;
    r.opt("device_id", q.device_id, detail::id());
    r.opt("class", q.cls, detail::enumeration(parse_device_class, bookable_class_names));
    r.opt("analyte", q.analyte, detail::enumeration(parse_analyte, analyte_names));
    r.req("city", q.city, detail::city());
    r.req("start", q.start, any_rfc3339());
    r.req("end", q.end, any_rfc3339());
    r.req("purpose", q.purpose, plain_text(1, max_purpose_chars, true));
    r.opt("case_no", q.case_no, plain_text(1, max_case_no_chars, false));
    if (auto done = r.finish(); !done) return as_body_refusal(std::move(done.error()));
    if (q.device_id && q.cls)
        return refuse(errc::bad_field, "class", booking_rule::target,
                      "give device_id (one named device) or class (any unit of a class), not both");
    if (!q.device_id && !q.cls)
        return refuse(errc::bad_field, "device_id", booking_rule::target,
                      "missing: give device_id (one named device) or class (any unit of a class)");
    if (q.analyte && q.device_id)
        return refuse(errc::bad_field, "analyte", booking_rule::analyte,
                      "a named device measures what it measures; analyte goes with class");
    if (q.analyte && q.cls != device_class::analyzer)
        return refuse(errc::bad_field, "analyte", booking_rule::analyte,
                      "only analyzers have an analyte, not a " + std::string(to_string(*q.cls)));
    return q;
}

booking_result<booking> validate_booking(const booking_request& q, const booking_facts& facts,
                                         const reservation_rules& rules, clock_ms now) {
    EQM_TRY(check_target(q, facts));
    booking b;
    b.person_id = facts.requester.person_id;
    b.city = q.city;
    b.device_id = q.device_id;
    b.cls = q.device_id ? facts.device->cls : *q.cls;
    b.analyte = q.device_id ? facts.device->analyte : q.analyte;
    b.start = q.start;
    b.end = q.end;
    b.purpose = q.purpose;
    b.case_no = q.case_no;
    const auto rule = rules.rule_for(b.cls, b.analyte);
    EQM_TRY(check_window(q, rule, now));
    EQM_TRY(check_open(q, facts, rule));
    b.status =
        rule.approval_required ? reservation_status::requested : reservation_status::approved;
    b.created_at = now;
    b.updated_at = now;
    return b;
}

booking_result<booking> admit_booking(std::string id, const booking_request& request,
                                      const booking_facts& facts, const reservation_rules& rules,
                                      std::span<const booking> city_bookings,
                                      std::span<const std::string> units, clock_ms now) {
    auto b = validate_booking(request, facts, rules, now);
    if (!b) return b;
    b->id = std::move(id);
    const auto rule = rules.rule_for(b->cls, b->analyte);
    EQM_TRY(check_availability(*b, city_bookings, units, rule, now));
    return b;
}

}  // namespace eqm
