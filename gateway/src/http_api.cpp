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

namespace eqm::gateway {

using http::method;
using http::request;
using http::responder;
using http::response;
using nlohmann::json;

namespace {

constexpr std::size_t max_alerts_listed = 500;
/// Seconds a caller should wait before trying again when the core cannot take more work.
constexpr std::string_view retry_after_seconds = "1";

response problem(const error& e) {
    return http::problem_response(e);
}

response json_response(unsigned status, const json& body) {
    return response::json(status, body.dump());
}

/// Runs `work` on the core thread. When the core's queue is full, answers 503 with
/// Retry-After at once: the request was not taken, so trying again later is safe.
void on_core(api_context& ctx, const responder& reply, core_task work) {
    if (ctx.core.post(std::move(work))) return;
    auto r = problem(error{errc::unavailable, "", "the gateway is busy; try again shortly"});
    r.headers.emplace_back("Retry-After", std::string(retry_after_seconds));
    reply(std::move(r));
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
void decide_custody(gateway_core& core, unit_of_work& u, const custody_input& in,
                    const responder& reply) {
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

// --- handlers ------------------------------------------------------------------------------

void healthz(api_context& ctx, const request&, const responder& reply) {
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

void metrics(api_context& ctx, const request&, const responder& reply) {
    on_core(ctx, reply, [&ctx, reply](gateway_core& c, unit_of_work&) {
        http::prometheus_writer w;
        c.metrics().write(w);
        if (const auto* s = ctx.server.load()) s->write_metrics(w);
        response r;
        r.content_type = std::string(http::prometheus_writer::content_type);
        r.body = w.take();
        reply(std::move(r));
    });
}

void list_devices(api_context& ctx, const request& req, const responder& reply) {
    auto cls = class_query(req);
    if (!cls) return void(reply(problem(cls.error())));
    auto status = status_query(req);
    if (!status) return void(reply(problem(status.error())));
    on_core(ctx, reply, [reply, cls = *cls, status = *status](gateway_core& c, unit_of_work&) {
        // Serialised device by device straight from the cursor: a DOM of 10,000 devices (and
        // a vector of their rows) would triple the gateway's peak memory.
        std::string body = R"({"devices":[)";
        bool first = true;
        const clock_ms now = c.now();
        auto listed = c.ledger().for_each_device(
            cls, [&](const device_row& d, const custody_row& row) -> result<bool> {
                if (status && row.custody.state != *status) return true;
                EQM_TRY_LET(res, device_resource(c, d, row, now));
                if (!first) body += ',';
                first = false;
                body += res.dump();
                return true;
            });
        if (!listed) return void(reply(problem(listed.error())));
        body += "]}";
        reply(response::json(200, std::move(body)));
    });
}

void show_device(api_context& ctx, const request& req, const responder& reply) {
    on_core(ctx, reply,
            [reply, id = std::string(req.path_param("id"))](gateway_core& c, unit_of_work&) {
                auto res = device_or_404(c, id);
                reply(res ? json_response(200, *res) : problem(res.error()));
            });
}

void device_custody(api_context& ctx, const request& req, const responder& reply) {
    on_core(
        ctx, reply,
        [reply, id = std::string(req.path_param("id"))](gateway_core& c, unit_of_work&) {
            auto d = c.ledger().find_device(id);
            if (!d) return void(reply(problem(d.error())));
            if (!*d)
                return void(reply(problem(error{
                    errc::not_found, "id", "no device " + id + " in city " + c.config().city})));
            auto records = c.ledger().device_ledger(id);
            if (!records) return void(reply(problem(records.error())));
            json list = json::array();
            for (const auto& rec : *records) list.push_back(to_json(rec));
            reply(json_response(200, json{{"device_id", id}, {"records", std::move(list)}}));
        });
}

/// POST /api/v1/devices/{id}/checkout and /checkin: the body read by the one custody request
/// reader of libs/domain, the decision by the core's custody desk.
void custody_request(api_context& ctx, const request& req, const responder& reply,
                     custody_action action) {
    auto j = http::read_json_object(req);
    if (!j) return void(reply(problem(j.error())));
    auto body = parse_custody_request(*j, action);
    if (!body) return void(reply(problem(body.error())));
    custody_input in;
    in.device_id = std::string(req.path_param("id"));
    in.action = action;
    in.source = custody_source::api;
    in.badge = body->badge;
    in.due = body->due;
    in.condition = body->condition;
    in.note = body->note;
    // The custodian at the kiosk takes returns from anyone.
    in.override_holder = action == custody_action::checkin;
    on_core(ctx, reply,
            [reply, in](gateway_core& c, unit_of_work& u) { decide_custody(c, u, in, reply); });
}

void list_alerts(api_context& ctx, const request& req, const responder& reply) {
    const auto all = req.query_param("all");
    const bool include_cleared = all && (*all == "true" || *all == "1");
    on_core(ctx, reply, [reply, include_cleared](gateway_core& c, unit_of_work&) {
        auto rows = c.ledger().alerts(include_cleared, max_alerts_listed);
        if (!rows) return void(reply(problem(rows.error())));
        json list = json::array();
        for (const auto& a : *rows) list.push_back(alert_json(a));
        reply(json_response(200, json{{"alerts", std::move(list)}}));
    });
}

void ack_alert(api_context& ctx, const request& req, const responder& reply) {
    auto j = http::read_json_object(req, {"by"});
    if (!j) return void(reply(problem(j.error())));
    std::string who = "kiosk";
    if (auto it = j->find("by"); it != j->end()) {
        if (!it->is_string() || it->get<std::string>().empty() ||
            it->get<std::string>().size() > max_actor_chars)
            return void(reply(problem(error{
                errc::bad_field, "by",
                "must be a string of 1.." + std::to_string(max_actor_chars) + " characters"})));
        who = it->get<std::string>();
    }
    on_core(ctx, reply,
            [reply, id = std::string(req.path_param("id")), who](gateway_core& c, unit_of_work& u) {
                if (!c.ensure_tx(u)) return void(reply(problem(*u.failure)));
                auto found = c.ledger().ack_alert(id, c.now(), who);
                if (!found) {
                    c.fail_round(u, found.error());
                    return void(reply(problem(found.error())));
                }
                if (!*found)
                    return void(reply(problem(error{errc::not_found, "id", "no alert " + id})));
                log_info("alert", "acked id=" + log_value(id) + " by=" + log_value(who));
                u.after.push_back([reply, id, &c](const std::optional<error>& failure) {
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
    using handler_fn = void (*)(api_context&, const request&, const responder&);
    auto route = [&](method m, std::string_view pattern, handler_fn h) {
        r.add_async(m, pattern, [c, h](request req, responder reply) { h(*c, req, reply); });
    };
    route(method::get, "/healthz", healthz);
    route(method::get, "/metrics", metrics);
    route(method::get, "/api/v1/devices", list_devices);
    route(method::get, "/api/v1/devices/{id}", show_device);
    route(method::get, "/api/v1/devices/{id}/custody", device_custody);
    r.add_async(method::post, "/api/v1/devices/{id}/checkout", [c](request req, responder reply) {
        custody_request(*c, req, reply, custody_action::checkout);
    });
    r.add_async(method::post, "/api/v1/devices/{id}/checkin", [c](request req, responder reply) {
        custody_request(*c, req, reply, custody_action::checkin);
    });
    route(method::get, "/api/v1/alerts", list_alerts);
    route(method::post, "/api/v1/alerts/{id}/ack", ack_alert);
    return r;
}

}  // namespace eqm::gateway
