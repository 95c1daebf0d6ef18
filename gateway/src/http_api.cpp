// REST routes of the gateway (see http_api.hpp and docs/gateway.md). Each handler reads its
// request on the HTTP thread, then does its work on the core thread, which owns the ledger.
#include "http_api.hpp"

#include "eqm/domain/custody_request.hpp"
#include "eqm/domain/readiness.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/http/json_body.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/problem.hpp"
#include "eqm/runtime/log.hpp"
#include "paging.hpp"

namespace eqm::gateway {

using http::method;
using http::request;
using http::responder;
using http::response;
using nlohmann::json;

namespace {

/// A password longer than this is not a password (and argon2 would hash it anyway).
constexpr std::size_t max_password_bytes = 1024;
/// Seconds a caller should wait before trying again when the core cannot take more work.
constexpr std::string_view retry_after_seconds = "1";

response problem(const error& e) {
    return http::problem_response(e);
}

response json_response(unsigned status, const json& body) {
    return response::json(status, body.dump());
}

/// 503 with Retry-After: the request was not taken, so trying again later is safe.
response busy(std::string_view what) {
    auto r = problem(error{errc::unavailable, "", std::string(what) + "; try again shortly"});
    r.headers.emplace_back("Retry-After", std::string(retry_after_seconds));
    return r;
}

/// Runs `work` on the core thread, or answers 503 at once when the core's queue is full.
void on_core(api_context& ctx, const responder& reply, core_task work) {
    if (!ctx.core.post(std::move(work))) reply(busy("the gateway is busy"));
}

/// What a handler's work on the core thread gets: the core, the round's unit of work, the
/// request, who asks, and how to answer.
struct core_call {
    gateway_core& core;
    unit_of_work& u;
    const request& req;
    const person_record& user;
    const responder& reply;

    void answer(const result<json>& r) const {
        reply(r ? json_response(200, *r) : problem(r.error()));
    }
};
using user_work = std::function<void(core_call&)>;

/// The one way into /api/v1: Host and Origin checked, a bearer token present, then on the core
/// thread the token's session and its person (as the registry has them now) checked before
/// `work` runs. 401 for a missing, unknown or expired token, or a person no longer allowed.
void as_user(api_context& ctx, request req, responder reply, user_work work) {
    if (auto ok = http::check_origin(req, ctx.origins); !ok)
        return void(reply(problem(ok.error())));
    const std::string token(req.bearer_token());
    if (token.empty())
        return void(reply(problem(error{errc::unauthorized, "Authorization",
                                        "a bearer token is required (POST /api/v1/auth/login)"})));
    auto shared = std::make_shared<const request>(std::move(req));
    on_core(ctx, reply,
            [hash = token_hash(token), shared, reply, work](gateway_core& c, unit_of_work& u) {
                auto who = c.ledger().session_person(hash, c.now());
                if (!who) return void(reply(problem(who.error())));
                if (!*who || !may_use_gateway(**who, c.config().city))
                    return void(reply(problem(error{errc::unauthorized, "Authorization",
                                                    "the token is unknown or expired"})));
                core_call call{c, u, *shared, **who, reply};
                work(call);
            });
}

/// The device resource of ARCHITECTURE.md plus the gateway's own facts.
result<json> device_resource(gateway_core& core, const device_row& d, const custody_row& c,
                             clock_ms now) {
    EQM_TRY_LET(snap, core.desk().snapshot(d.id, c));
    EQM_TRY_LET(reservations, core.ledger().device_reservations(d.id));
    const auto readiness = assess_readiness(snap, reservations, core.config().readiness, now);
    json j;
    j["id"] = d.id;
    j["class"] = d.cls ? json(to_string(*d.cls)) : json(nullptr);
    j["model"] = d.model ? json(*d.model) : json(nullptr);
    j["city"] = d.city ? json(*d.city) : json(core.config().city);
    j["status"] = to_string(c.custody.state);
    j["holder"] = c.custody.holder ? json(*c.custody.holder) : json(nullptr);
    if (c.custody.due) j["due"] = format_timestamp(*c.custody.due);
    j["readiness"] = readiness.to_json();
    j["registered"] = d.registered;
    j["online"] = d.online;
    j["locked"] = c.custody.locked;
    if (c.lock_reason) j["lock_reason"] = *c.lock_reason;
    j["docked"] = c.docked;
    std::optional<clock_ms> last_seen = d.last_seen;
    if (const auto* t = core.telemetry().find(d.id)) {
        j["battery_pct"] = t->battery_pct;
        if (!last_seen || t->ts > *last_seen) last_seen = t->ts;
    }
    if (d.calibration_due) j["calibration_due"] = format_date(*d.calibration_due);
    j["last_seen"] = last_seen ? json(format_timestamp(*last_seen)) : json(nullptr);
    return j;
}

/// The resource of device `id`, or errc::not_found when this city does not know it.
result<json> device_or_404(gateway_core& core, const std::string& id) {
    EQM_TRY_LET(d, core.ledger().find_device(id));
    if (!d)
        return fail(errc::not_found, "id", "no device " + id + " in city " + core.config().city);
    EQM_TRY_LET(row, core.ledger().load_custody(id));
    return device_resource(core, *d, row, core.now());
}

json alert_json(const alert_row& a) {
    json j{{"id", a.alert_id},
           {"type", to_string(a.type)},
           {"severity", to_string(a.severity)},
           {"detail", a.detail},
           {"state", a.cleared ? "cleared" : "raised"},
           {"raised_at", format_timestamp(a.raised)},
           {"acked", a.acked.has_value()}};
    j["device_id"] = a.device_id ? json(*a.device_id) : json(nullptr);
    if (a.cleared) j["cleared_at"] = format_timestamp(*a.cleared);
    if (a.acked) j["acked_at"] = format_timestamp(*a.acked);
    if (a.acked_by) j["acked_by"] = *a.acked_by;
    return j;
}

result<std::optional<device_class>> class_query(const request& req) {
    auto c = req.query_param("class");
    if (!c || c->empty()) return std::optional<device_class>{};
    auto cls = parse_device_class(*c);
    if (!cls) return fail(errc::bad_field, "class", "must be body_camera, drone, analyzer or dock");
    return cls;
}

result<std::optional<custody_state>> status_query(const request& req) {
    auto s = req.query_param("status");
    if (!s || s->empty()) return std::optional<custody_state>{};
    auto status = parse_custody_state(*s);
    if (!status)
        return fail(errc::bad_field, "status",
                    "must be available, checked_out, in_transit, maintenance, lost or retired");
    return status;
}

/// Decides a check-out or check-in in the round's transaction and answers after the commit.
void decide_custody(const core_call& call, const custody_input& in) {
    gateway_core& core = call.core;
    unit_of_work& u = call.u;
    const responder& reply = call.reply;
    if (!core.ensure_tx(u)) return void(reply(problem(*u.failure)));
    auto dev = core.ledger().find_device(in.device_id);
    if (!dev) {
        core.fail_round(u, dev.error());
        return void(reply(problem(dev.error())));
    }
    if (!*dev)
        return void(
            reply(problem(error{errc::not_found, "id",
                                "no device " + in.device_id + " in city " + core.config().city})));
    auto d = core.desk().decide(in, core.now());
    if (!d) {
        core.fail_round(u, d.error());
        return void(reply(problem(d.error())));
    }
    const std::string action(to_string(in.action));
    ++core.metrics()
          .decisions[{action, d->refusal ? std::string(to_string(d->refusal->code)) : "ok"}];
    log_info("custody", action + " device=" + log_value(in.device_id) +
                            " badge=" + log_value(in.badge.value_or("")) +
                            " by=" + log_value(in.actor.value_or("")) +
                            " source=api result=" + to_string(d->as_outcome()) +
                            (d->refusal ? " detail=" + log_value(d->refusal->describe()) : ""));
    if (d->refusal) return void(reply(problem(*d->refusal)));
    u.alert_devices.push_back(in.device_id);
    ++u.decisions;
    u.after.push_back([&core, reply, record = d->record,
                       id = in.device_id](const std::optional<error>& failure) {
        if (failure)
            return void(reply(problem(error{
                errc::unavailable, "", "the decision could not be stored: " + failure->message})));
        json body;
        if (record) body["record"] = to_json(*record);
        if (auto res = device_or_404(core, id)) body["device"] = *res;
        reply(json_response(200, body));
    });
}

/// A login's last step, on the core thread once the password matched: the role rule, then a
/// session stored (as the token's hash) and the grant sent after the commit.
void grant_login(api_context& ctx, gateway_core& c, unit_of_work& u, const person_record& who,
                 const std::string& peer, const responder& reply) {
    if (auto ok = may_use_gateway(who, c.config().city); !ok) {
        ctx.logins.count(ok.error().code == errc::forbidden ? login_result::forbidden
                                                            : login_result::unauthorized);
        log_info("auth", "login refused name=" + log_value(who.name) + " peer=" + log_value(peer) +
                             " reason=" + log_value(ok.error().message));
        return void(reply(problem(ok.error())));
    }
    if (!c.ensure_tx(u)) return void(reply(problem(*u.failure)));
    const std::string token = new_token();
    const clock_ms expires = c.now() + c.config().token_ttl;
    if (auto r = c.ledger().insert_session(token_hash(token), who.id, expires); !r) {
        c.fail_round(u, r.error());
        return void(reply(problem(r.error())));
    }
    u.after.push_back(
        [&ctx, reply, who, token, expires, peer](const std::optional<error>& failure) {
            if (failure) return void(reply(problem(*failure)));
            ctx.logins.throttle.succeeded(who.name, peer);
            ctx.logins.count(login_result::ok);
            log_info("auth", "login name=" + log_value(who.name) + " user=" + log_value(who.id) +
                                 " role=" + std::string(to_string(who.role)) +
                                 " peer=" + log_value(peer));
            reply(json_response(200, json{{"token", token},
                                          {"expires_at", format_timestamp(expires)},
                                          {"role", to_string(who.role)},
                                          {"city", who.city ? json(*who.city) : json(nullptr)},
                                          {"name", who.name},
                                          {"user_id", who.id}}));
        });
}

/// The password check of a login, on the checker's thread; a match goes back to the core.
void check_password(api_context& ctx, std::vector<person_record> candidates, std::string password,
                    std::string name, std::string peer, const responder& reply) {
    std::vector<std::string> hashes;
    for (const auto& p : candidates) hashes.push_back(*p.password_hash);
    auto done = [&ctx, candidates, name, peer, reply](std::optional<std::size_t> matched) {
        if (!matched) {
            ctx.logins.throttle.failed(name, peer, ctx.core.now());
            ctx.logins.count(login_result::unauthorized);
            log_info("auth", "login failed name=" + log_value(name) + " peer=" + log_value(peer));
            return void(reply(problem(error{errc::unauthorized, "", "wrong name or password"})));
        }
        const person_record who = candidates[*matched];
        if (!ctx.core.post([&ctx, who, peer, reply](gateway_core& c, unit_of_work& u) {
                grant_login(ctx, c, u, who, peer, reply);
            }))
            reply(busy("the gateway is busy"));
    };
    if (!ctx.logins.checker.check(std::move(hashes), std::move(password), std::move(done))) {
        ctx.logins.count(login_result::busy);
        reply(busy("too many logins at once"));
    }
}

result<std::string> string_member(const json& j, const char* name, std::size_t max_chars) {
    auto it = j.find(name);
    if (it == j.end()) return fail(errc::bad_field, name, "is required");
    if (!it->is_string()) return fail(errc::bad_field, name, "must be a string");
    auto v = it->get<std::string>();
    if (v.empty() || v.size() > max_chars)
        return fail(errc::bad_field, name, "must be 1.." + std::to_string(max_chars) + " bytes");
    return v;
}

// --- handlers ------------------------------------------------------------------------------

void healthz(api_context& ctx, request, responder reply) {
    on_core(ctx, reply, [reply](gateway_core& c, unit_of_work&) {
        const auto& m = c.metrics();
        json j{{"status", "ok"},
               {"city", c.config().city},
               {"gw_id", c.config().gw_id},
               {"local_mqtt", m.local_connected},
               {"central_mqtt", m.central_connected},
               {"outbox_depth", m.outbox_depth},
               {"outbox_last_seq", m.outbox_last_seq},
               {"outbox_acked_seq", m.outbox_acked_seq},
               {"ledger_records", c.desk().next_index()}};
        reply(json_response(200, j));
    });
}

void metrics(api_context& ctx, request, responder reply) {
    on_core(ctx, reply, [&ctx, reply](gateway_core& c, unit_of_work&) {
        http::prometheus_writer w;
        c.metrics().write(w);
        if (auto n = c.ledger().count_devices())
            w.gauge("eqm_gateway_devices_registered", "Devices of the city in the registry",
                    static_cast<double>(*n));
        ctx.logins.write_metrics(w);
        if (const auto* s = ctx.server.load()) s->write_metrics(w);
        response r;
        r.content_type = std::string(http::prometheus_writer::content_type);
        r.body = w.take();
        reply(std::move(r));
    });
}

void login(api_context& ctx, request req, responder reply) {
    if (auto ok = http::check_origin(req, ctx.origins); !ok)
        return void(reply(problem(ok.error())));
    auto j = http::read_json_object(req, {"name", "password"});
    if (!j) return void(reply(problem(j.error())));
    auto name = string_member(*j, "name", max_person_name_chars);
    if (!name) return void(reply(problem(name.error())));
    auto password = string_member(*j, "password", max_password_bytes);
    if (!password) return void(reply(problem(password.error())));
    std::string peer = req.remote_address;
    if (ctx.logins.throttle.throttled(*name, peer, ctx.core.now())) {
        ctx.logins.count(login_result::throttled);
        auto r = problem(error{errc::too_many_requests, "",
                               "too many failed logins for this name; try again later"});
        r.headers.emplace_back(
            "Retry-After", std::to_string(std::chrono::seconds(login_throttle::window).count()));
        return void(reply(std::move(r)));
    }
    on_core(ctx, reply,
            [&ctx, name = *name, password = *password, peer, reply](gateway_core& c,
                                                                    unit_of_work&) mutable {
                auto people = c.ledger().people_named(name);
                if (!people) return void(reply(problem(people.error())));
                std::erase_if(*people, [](const person_record& p) { return !p.password_hash; });
                check_password(ctx, std::move(*people), std::move(password), name, peer, reply);
            });
}

void list_devices(api_context& ctx, request req, responder reply) {
    as_user(ctx, std::move(req), std::move(reply), [](core_call& call) {
        auto filter = [&]() -> result<device_filter> {
            device_filter f;
            EQM_TRY_LET(cls, class_query(call.req));
            EQM_TRY_LET(status, status_query(call.req));
            EQM_TRY_LET(limit, page_limit(call.req));
            EQM_TRY_LET(after, id_cursor(call.req));
            f.cls = cls;
            f.status = status;
            f.after_id = std::move(after);
            f.limit = limit + 1;  // one more tells whether another page follows
            return f;
        }();
        if (!filter) return void(call.reply(problem(filter.error())));
        const std::size_t limit = *filter->limit - 1;
        // Serialised device by device straight from the cursor: a DOM of thousands of devices
        // (and a vector of their rows) would multiply the gateway's peak memory.
        std::string body = R"({"items":[)";
        std::size_t n = 0;
        std::string last_id;
        bool more = false;
        const clock_ms now = call.core.now();
        auto listed = call.core.ledger().for_each_device(
            *filter, [&](const device_row& d, const custody_row& row) -> result<bool> {
                if (n == limit) {
                    more = true;
                    return false;
                }
                EQM_TRY_LET(res, device_resource(call.core, d, row, now));
                if (n++ > 0) body += ',';
                body += res.dump();
                last_id = d.id;
                return true;
            });
        if (!listed) return void(call.reply(problem(listed.error())));
        body += R"(],"next_cursor":)";
        body += more ? json(last_id).dump() : "null";
        body += '}';
        call.reply(response::json(200, std::move(body)));
    });
}

void show_device(api_context& ctx, request req, responder reply) {
    as_user(ctx, std::move(req), std::move(reply), [](core_call& call) {
        call.answer(device_or_404(call.core, std::string(call.req.path_param("id"))));
    });
}

void device_custody(api_context& ctx, request req, responder reply) {
    as_user(ctx, std::move(req), std::move(reply), [](core_call& call) {
        const std::string id(call.req.path_param("id"));
        call.answer([&]() -> result<json> {
            EQM_TRY_LET(limit, page_limit(call.req));
            EQM_TRY_LET(after, number_cursor(call.req));
            EQM_TRY_LET(d, call.core.ledger().find_device(id));
            if (!d)
                return fail(errc::not_found, "id",
                            "no device " + id + " in city " + call.core.config().city);
            EQM_TRY_LET(records, call.core.ledger().device_ledger(id, after, limit + 1));
            const bool more = records.size() > limit;
            if (more) records.resize(limit);
            json items = json::array();
            for (const auto& rec : records) items.push_back(to_json(rec));
            return json{
                {"items", std::move(items)},
                {"next_cursor", more ? json(std::to_string(records.back().index)) : json(nullptr)}};
        }());
    });
}

/// POST /api/v1/devices/{id}/checkout and /checkin: the body read by the one custody request
/// reader of libs/domain, the decision by the core's custody desk, the logged-in person as the
/// actor of the ledger record.
void custody_request(api_context& ctx, request req, responder reply, custody_action action) {
    as_user(ctx, std::move(req), std::move(reply), [action](core_call& call) {
        if (auto ok = may_write(call.user, kiosk_write::custody); !ok)
            return void(call.reply(problem(ok.error())));
        auto j = http::read_json_object(call.req);
        if (!j) return void(call.reply(problem(j.error())));
        auto body = parse_custody_request(*j, action);
        if (!body) return void(call.reply(problem(body.error())));
        custody_input in;
        in.device_id = std::string(call.req.path_param("id"));
        in.action = action;
        in.source = custody_source::api;
        in.actor = call.user.id;
        in.badge = body->badge;
        in.due = body->due;
        in.condition = body->condition;
        in.note = body->note;
        // The custodian at the kiosk takes returns from anyone.
        in.override_holder = action == custody_action::checkin;
        decide_custody(call, in);
    });
}

void list_alerts(api_context& ctx, request req, responder reply) {
    as_user(ctx, std::move(req), std::move(reply), [](core_call& call) {
        const auto all = call.req.query_param("all");
        const bool include_cleared = all && (*all == "true" || *all == "1");
        call.answer([&]() -> result<json> {
            EQM_TRY_LET(limit, page_limit(call.req));
            EQM_TRY_LET(before, number_cursor(call.req));
            EQM_TRY_LET(rows, call.core.ledger().alerts(include_cleared, limit + 1, before));
            const bool more = rows.size() > limit;
            if (more) rows.resize(limit);
            json items = json::array();
            for (const auto& a : rows) items.push_back(alert_json(a));
            return json{
                {"items", std::move(items)},
                {"next_cursor", more ? json(std::to_string(rows.back().n)) : json(nullptr)}};
        }());
    });
}

void ack_alert(api_context& ctx, request req, responder reply) {
    as_user(ctx, std::move(req), std::move(reply), [](core_call& call) {
        if (auto ok = may_write(call.user, kiosk_write::alert_ack); !ok)
            return void(call.reply(problem(ok.error())));
        if (auto j = http::read_json_object(call.req, {}); !j)
            return void(call.reply(problem(j.error())));
        gateway_core& c = call.core;
        const std::string id(call.req.path_param("id"));
        if (!c.ensure_tx(call.u)) return void(call.reply(problem(*call.u.failure)));
        auto found = c.ledger().ack_alert(id, c.now(), call.user.id);
        if (!found) {
            c.fail_round(call.u, found.error());
            return void(call.reply(problem(found.error())));
        }
        if (!*found)
            return void(call.reply(problem(error{errc::not_found, "id", "no alert " + id})));
        log_info("alert", "acked id=" + log_value(id) + " by=" + log_value(call.user.id));
        call.u.after.push_back([reply = call.reply, id, &c](const std::optional<error>& failure) {
            if (failure) return void(reply(problem(*failure)));
            auto a = c.ledger().find_alert(id);
            if (a && *a) return void(reply(json_response(200, alert_json(**a))));
            reply(response::no_content());
        });
    });
}

}  // namespace

http::router make_routes(api_context& ctx) {
    http::router r;
    auto* c = &ctx;
    using handler_fn = void (*)(api_context&, request, responder);
    auto route = [&](method m, std::string_view pattern, handler_fn h) {
        r.add_async(m, pattern, [c, h](request req, responder reply) {
            h(*c, std::move(req), std::move(reply));
        });
    };
    route(method::get, "/healthz", healthz);
    route(method::get, "/metrics", metrics);
    route(method::post, "/api/v1/auth/login", login);
    route(method::get, "/api/v1/devices", list_devices);
    route(method::get, "/api/v1/devices/{id}", show_device);
    route(method::get, "/api/v1/devices/{id}/custody", device_custody);
    route(method::post, "/api/v1/devices/{id}/checkout",
          [](api_context& x, request q, responder a) {
              custody_request(x, std::move(q), std::move(a), custody_action::checkout);
          });
    route(method::post, "/api/v1/devices/{id}/checkin", [](api_context& x, request q, responder a) {
        custody_request(x, std::move(q), std::move(a), custody_action::checkin);
    });
    route(method::get, "/api/v1/alerts", list_alerts);
    route(method::post, "/api/v1/alerts/{id}/ack", ack_alert);
    return r;
}

}  // namespace eqm::gateway
