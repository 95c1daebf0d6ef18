// Reservation routes and the booking clerk (see reservations_api.hpp).
#include "reservations_api.hpp"

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/icalendar.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/http/json_body.hpp"
#include "eqm/http/problem.hpp"
#include "eqm/runtime/log.hpp"
#include "event_feed.hpp"
#include "paging.hpp"
#include "region.hpp"

namespace eqm::server {

using http::method;
using http::request;
using http::response;
using nlohmann::json;

namespace {

/// The longest span one availability answer covers.
constexpr auto max_availability_span = std::chrono::days{92};
constexpr auto default_availability_span = std::chrono::days{14};
/// Random bytes of a calendar secret (hex in the URL).
constexpr std::size_t calendar_secret_bytes = 24;
/// How far back a calendar feed reaches.
constexpr auto calendar_history = std::chrono::days{90};

response answer(result<response> r) {
    return r ? std::move(*r) : http::problem_response(r.error());
}

response json_response(unsigned status, const json& j) {
    return response::json(status, j.dump());
}

response refusal_response(const booking_refusal& r) {
    return http::problem_response(r.err, r.problem_extra());
}

result<user_account> authenticate(api_context& ctx, const request& req) {
    return ctx.auth->authenticate(req.bearer_token(), ctx.clock());
}

booking_actor actor_of(const user_account& u) {
    return booking_actor{u.id, u.role, u.city};
}

/// Officers read their own bookings, custodians their city's, dispatchers and admins all.
result<void> may_read_booking(const user_account& u, const booking& b) {
    if (u.role == person_role::officer && b.person_id != u.id)
        return fail(errc::not_found, "id", "no reservation " + b.id);
    if (u.role == person_role::custodian && u.city && b.city != *u.city)
        return fail(errc::forbidden, "city", "a custodian reads the reservations of their city");
    return {};
}

result<clock_ms> time_query(const request& req, std::string_view name, clock_ms fallback) {
    auto v = req.query_param(name);
    if (!v) return fallback;
    return parse_rfc3339(*v, name);
}

result<std::optional<std::string>> city_param(const request& req) {
    auto c = req.query_param("city");
    if (!c) return std::optional<std::string>();
    if (!find_city(*c))
        return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
    return std::optional<std::string>(std::string(*c));
}

/// GET /reservations filters, narrowed to the reader's scope.
result<booking_filter> list_filter(const user_account& u, const request& req) {
    booking_filter f;
    EQM_TRY_LET(city, city_param(req));
    f.city = std::move(city);
    if (u.role == person_role::custodian && u.city) {
        if (f.city && *f.city != *u.city)
            return fail(errc::forbidden, "city",
                        "a custodian reads the reservations of their city");
        f.city = u.city;
    }
    if (auto s = req.query_param("status")) {
        auto st = parse_reservation_status(*s);
        if (!st || *s == "pending")
            return fail(errc::bad_field, "status",
                        "must be requested, approved, declined, active, completed, cancelled, "
                        "no_show or overdue");
        f.status = *st;
    }
    if (auto p = req.query_param("person")) f.person_id = std::string(*p);
    if (u.role == person_role::officer) {
        if (f.person_id && *f.person_id != u.id)
            return fail(errc::forbidden, "person", "an officer reads their own reservations");
        f.person_id = u.id;
    }
    if (auto d = req.query_param("device")) f.device_id = std::string(*d);
    if (req.query_param("from")) {
        EQM_TRY_LET(t, time_query(req, "from", {}));
        f.from = t;
    }
    if (req.query_param("to")) {
        EQM_TRY_LET(t, time_query(req, "to", {}));
        f.to = t;
    }
    return f;
}

srv_cmd_body gateway_command(const booking& b) {
    switch (b.status) {
        case reservation_status::declined:
        case reservation_status::cancelled:
        case reservation_status::no_show:
            return reservation_cancel_cmd{b.id};
        default:
            return reservation_upsert_cmd{to_record(b)};
    }
}

// --- handlers ------------------------------------------------------------------------------

result<response> create_reservation(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(body, http::read_json_object(req));
    auto parsed = parse_booking_request(body);
    if (!parsed) return refusal_response(parsed.error());
    booking_requester who{u.id, u.role, u.city};
    EQM_TRY_LET(decided, ctx.store->admit_reservation(*parsed, who, ctx.clock()));
    if (!decided) {
        log_info("reservations",
                 "refused person=" + log_value(u.id) + " city=" + log_value(parsed->city) +
                     " rule=" + log_value(std::string(to_string(decided.error().rule))));
        return refusal_response(decided.error());
    }
    log_info("reservations", "created id=" + log_value(decided->id) + " person=" + log_value(u.id) +
                                 " status=" + log_value(std::string(to_string(decided->status))));
    announce_booking(ctx, *decided);
    auto res = json_response(201, to_json(*decided));
    res.headers.emplace_back("Location", "/api/v1/reservations/" + decided->id);
    return res;
}

result<response> list_reservations(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(f, list_filter(u, req));
    EQM_TRY_LET(q, read_page_query(req, "reservations"));
    EQM_TRY_LET(list, ctx.store->list_bookings(f, q));
    json items = json::array();
    for (const auto& b : list.items) items.push_back(to_json(b));
    return json_response(200, page_json(std::move(items), "reservations", list.next_key));
}

result<booking> readable_booking(api_context& ctx, const user_account& u, std::string_view id) {
    EQM_TRY_LET(b, ctx.store->find_booking(id));
    if (!b) return fail(errc::not_found, "id", "no reservation " + std::string(id));
    EQM_TRY(may_read_booking(u, *b));
    return std::move(*b);
}

result<response> show_reservation(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(b, readable_booking(ctx, u, req.path_param("id")));
    return json_response(200, to_json(b));
}

/// approve, decline ({reason}) and cancel ({reason?}).
result<response> act_on_reservation(api_context& ctx, const request& req, booking_action action) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(body, http::read_json_object(req, {"reason"}));
    const std::string id(req.path_param("id"));
    EQM_TRY(readable_booking(ctx, u, id));
    booking_command cmd;
    cmd.action = action;
    cmd.actor = actor_of(u);
    if (auto it = body.find("reason"); it != body.end()) {
        if (!it->is_string()) return fail(errc::bad_field, "reason", "must be a string");
        cmd.reason = it->get<std::string>();
    }
    EQM_TRY_LET(done, ctx.store->act_on_booking(id, cmd, ctx.clock()));
    if (!done) return refusal_response(done.error());
    log_info("reservations",
             std::string(to_string(action)) + " id=" + log_value(id) + " by=" + log_value(u.id));
    announce_booking(ctx, *done);
    return json_response(200, to_json(*done));
}

result<response> get_rules(api_context& ctx, const request& req) {
    EQM_TRY(authenticate(ctx, req));
    EQM_TRY_LET(rules, ctx.store->reservation_rules_table());
    return json_response(200, to_json(rules));
}

result<response> put_rules(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    if (u.role != person_role::admin)
        return fail(errc::forbidden, "role", "only an admin edits the reservation rules");
    EQM_TRY_LET(body, http::read_json_object(req, {"items"}));
    EQM_TRY_LET(rules, parse_reservation_rules(body));
    EQM_TRY(ctx.store->replace_reservation_rules(rules, ctx.clock()));
    log_info("reservations", "rules replaced rows=" + std::to_string(rules.items.size()) +
                                 " by=" + log_value(u.id));
    EQM_TRY_LET(now_rules, ctx.store->reservation_rules_table());
    return json_response(200, to_json(now_rules));
}

struct availability_ask {
    std::string city;
    device_class cls = device_class::body_camera;
    std::optional<eqm::analyte> analyte;
    clock_ms from{};
    clock_ms to{};
};

result<availability_ask> availability_query(const request& req, clock_ms now) {
    availability_ask a;
    EQM_TRY_LET(city, city_param(req));
    if (!city) return fail(errc::bad_field, "city", "is required");
    a.city = *city;
    auto c = req.query_param("class");
    if (!c) return fail(errc::bad_field, "class", "is required");
    auto cls = parse_device_class(*c);
    if (!cls || !is_bookable(*cls))
        return fail(errc::bad_field, "class", "must be body_camera, drone or analyzer");
    a.cls = *cls;
    if (auto an = req.query_param("analyte")) {
        auto parsed = parse_analyte(*an);
        if (!parsed || a.cls != device_class::analyzer)
            return fail(errc::bad_field, "analyte",
                        "is an analyzer's analyte: cod, nh3n, voc, so2, nox or noise");
        a.analyte = *parsed;
    }
    EQM_TRY_LET(from, time_query(req, "from", now));
    EQM_TRY_LET(to, time_query(req, "to", from + default_availability_span));
    if (to <= from) return fail(errc::bad_field, "to", "must be after from");
    if (to - from > max_availability_span)
        return fail(errc::bad_field, "to", "at most 92 days after from");
    a.from = from;
    a.to = to;
    return a;
}

result<response> availability(api_context& ctx, const request& req) {
    EQM_TRY(authenticate(ctx, req));
    const auto now = ctx.clock();
    EQM_TRY_LET(a, availability_query(req, now));
    EQM_TRY_LET(v, ctx.store->booking_availability(a.city, a.cls, a.analyte, a.from, a.to, now));
    EQM_TRY_LET(rules, ctx.store->reservation_rules_table());
    json steps = json::array();
    for (std::size_t i = 0; i < v.steps.size(); ++i) {
        const auto end = i + 1 < v.steps.size() ? v.steps[i + 1].at : a.to;
        steps.push_back({{"start", format_timestamp(v.steps[i].at)},
                         {"end", format_timestamp(end)},
                         {"free", v.steps[i].free}});
    }
    json out{{"city", a.city},
             {"class", to_string(a.cls)},
             {"from", format_timestamp(a.from)},
             {"to", format_timestamp(a.to)},
             {"units", v.units},
             {"rule", to_json(rules.rule_for(a.cls, a.analyte))},
             {"steps", std::move(steps)}};
    if (a.analyte) out["analyte"] = to_string(*a.analyte);
    return json_response(200, out);
}

/// The base of the calendar URL: the page's origin, else the Host the request named.
std::string calendar_base(const request& req) {
    if (auto o = req.header("Origin"); !o.empty() && o != "null") return std::string(o);
    return "http://" + std::string(req.header("Host"));
}

result<response> make_calendar_link(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(http::read_json_object(req, {}));
    const auto secret = random_hex(calendar_secret_bytes);
    EQM_TRY(ctx.store->set_calendar_secret(u.id, sha256_hex(secret), ctx.clock()));
    log_info("reservations", "calendar link made person=" + log_value(u.id));
    const std::string path = "/api/v1/calendar/" + secret + ".ics";
    return json_response(201, json{{"url", calendar_base(req) + path}, {"path", path}});
}

result<response> revoke_calendar_link(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(ctx.store->set_calendar_secret(u.id, std::nullopt, ctx.clock()));
    log_info("reservations", "calendar link revoked person=" + log_value(u.id));
    response r;
    r.status = 204;
    r.content_type.clear();
    return r;
}

result<response> calendar_feed(api_context& ctx, const request& req) {
    std::string_view file = req.path_param("file");
    constexpr std::string_view suffix = ".ics";
    const auto not_found = [] {
        return fail(errc::not_found, "secret", "no calendar at this address (revoked?)");
    };
    if (file.size() <= suffix.size() || !file.ends_with(suffix)) return not_found();
    file.remove_suffix(suffix.size());
    EQM_TRY_LET(owner, ctx.store->calendar_owner(sha256_hex(file)));
    if (!owner) return not_found();
    const auto now = ctx.clock();
    EQM_TRY_LET(list, ctx.store->bookings_of_person(*owner, now - calendar_history));
    response r;
    r.content_type = "text/calendar; charset=utf-8";
    r.body = icalendar_feed(list, now);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

}  // namespace

void announce_booking(api_context& ctx, const booking& b) {
    if (ctx.hub) {
        json msg{{"type", "reservation"}, {"reservation", to_json(b)}};
        ctx.hub->broadcast(msg.dump(),
                           {{"city", b.city}, {"kind", "reservation"}, {"person", b.person_id}});
    }
    if (ctx.link) {
        if (auto sent = ctx.link->send_command(b.city, gateway_command(b)); !sent)
            log_warn("reservations", "not pushed id=" + log_value(b.id) +
                                         " error=" + log_value(sent.error().describe()));
    }
}

std::vector<route_entry> add_reservations_routes(http::router& r, api_context& ctx) {
    std::vector<route_entry> routes;
    auto* c = &ctx;
    auto checked = [&](method m, std::string_view pattern,
                       result<response> (*h)(api_context&, const request&)) {
        r.add(m, pattern, [c, h](const request& req) { return answer(h(*c, req)); });
        routes.emplace_back(std::string(http::to_string(m)), std::string(pattern));
    };
    auto action = [&](std::string_view pattern, booking_action a) {
        r.add(method::post, pattern,
              [c, a](const request& req) { return answer(act_on_reservation(*c, req, a)); });
        routes.emplace_back("POST", std::string(pattern));
    };
    checked(method::post, "/api/v1/reservations", create_reservation);
    checked(method::get, "/api/v1/reservations", list_reservations);
    checked(method::get, "/api/v1/reservations/availability", availability);
    checked(method::get, "/api/v1/reservations/{id}", show_reservation);
    action("/api/v1/reservations/{id}/approve", booking_action::approve);
    action("/api/v1/reservations/{id}/decline", booking_action::decline);
    action("/api/v1/reservations/{id}/cancel", booking_action::cancel);
    checked(method::get, "/api/v1/reservation-rules", get_rules);
    checked(method::put, "/api/v1/reservation-rules", put_rules);
    checked(method::post, "/api/v1/me/calendar-link", make_calendar_link);
    checked(method::delete_, "/api/v1/me/calendar-link", revoke_calendar_link);
    checked(method::get, "/api/v1/calendar/{file}", calendar_feed);
    return routes;
}

// --- the clerk -----------------------------------------------------------------------------

booking_clerk::booking_clerk(api_context& ctx, std::chrono::milliseconds interval)
    : ctx_(ctx), interval_(interval) {}

booking_clerk::~booking_clerk() {
    stop();
}

void booking_clerk::start() {
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            (void)tick_once();
            lock.lock();
            wake_.wait_for(lock, interval_, [this] { return stopping_; });
        }
    });
}

void booking_clerk::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::size_t booking_clerk::tick_once() {
    auto changes = ctx_.store->advance_bookings(ctx_.clock());
    if (!changes) {
        log_warn("reservations", "advance failed error=" + log_value(changes.error().describe()));
        return 0;
    }
    for (const auto& c : *changes) {
        log_info("reservations", "moved id=" + log_value(c.after.id) + " status=" +
                                     log_value(std::string(to_string(c.after.status))));
        announce_booking(ctx_, c.after);
        if (c.alert && ctx_.hub) publish_alert(*ctx_.hub, *c.alert);
    }
    return changes->size();
}

}  // namespace eqm::server
