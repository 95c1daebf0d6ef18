#include "http_api.hpp"

#include "eqm/domain/readiness.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/problem.hpp"
#include "eqm/runtime/log.hpp"

namespace eqm::gateway {
namespace {

using nlohmann::json;

constexpr std::size_t max_alerts_listed = 500;

clock_ms clock_now() {
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// Sends `resp`; a void function so handlers can `return answer(...)` on every path.
void answer(const http::responder& reply, http::response resp) {
    reply(std::move(resp));
}

http::response json_response(unsigned status, const json& body) {
    return http::response::json(status, body.dump());
}

/// Posts `work` to the core; 503 when the core is shutting down.
void on_core(gateway_core& core, const http::responder& reply, core_task work) {
    if (!core.post(std::move(work)))
        reply(http::problem_response(error{errc::unavailable, "", "the gateway is shutting down"}));
}

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

/// Parses a JSON object body; only `allowed` keys.
result<json> parse_body(const std::string& body, std::initializer_list<std::string_view> allowed) {
    if (body.empty()) return json::object();
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return fail(errc::bad_json, "", "the body is not JSON");
    if (!j.is_object()) return fail(errc::bad_json, "", "the body must be a JSON object");
    for (const auto& [k, v] : j.items()) {
        bool ok = false;
        for (auto a : allowed) ok = ok || a == k;
        if (!ok) return fail(errc::unknown_field, k, "is not a field of this request");
    }
    return j;
}

result<std::optional<std::string>> optional_string(const json& j, const char* key,
                                                   std::size_t max_chars, bool id) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::optional<std::string>{};
    if (!it->is_string()) return fail(errc::bad_field, key, "must be a string");
    auto s = it->get<std::string>();
    if (id && !is_valid_id(s))
        return fail(errc::bad_field, key, "must match ^[A-Za-z0-9_-]{1,64}$");
    if (s.empty() || s.size() > max_chars)
        return fail(errc::bad_field, key,
                    "must be 1.." + std::to_string(max_chars) + " characters");
    return std::optional<std::string>{std::move(s)};
}

/// The shared tail of checkout and checkin: decide in the round's transaction, answer after
/// the commit.
void run_custody(gateway_core& core, unit_of_work& u, custody_input in,
                 const http::responder& reply) {
    const clock_ms now = clock_now();
    if (!core.ensure_tx(u)) {
        reply(http::problem_response(*u.failure));
        return;
    }
    auto dev = core.ledger().find_device(in.device_id);
    if (!dev) {
        core.fail_round(u, dev.error());
        reply(http::problem_response(dev.error()));
        return;
    }
    if (!*dev) {
        reply(http::problem_response(
            error{errc::not_found, "id",
                  "no device " + in.device_id + " in city " + core.config().city}));
        return;
    }
    auto d = core.desk().decide(in, now);
    if (!d) {
        core.fail_round(u, d.error());
        reply(http::problem_response(d.error()));
        return;
    }
    const std::string action(to_string(in.action));
    ++core.metrics()
          .decisions[{action, d->refusal ? std::string(to_string(d->refusal->code)) : "ok"}];
    log_info("custody", action + " device=" + log_value(in.device_id) +
                            " badge=" + log_value(in.badge.value_or("")) +
                            " source=api result=" + to_string(d->as_outcome()) +
                            (d->refusal ? " detail=" + log_value(d->refusal->describe()) : ""));
    if (d->refusal) {
        reply(http::problem_response(*d->refusal));
        return;
    }
    u.alert_devices.push_back(in.device_id);
    ++u.decisions;
    auto record = d->record;
    u.after.push_back([&core, reply, record,
                       id = in.device_id](const std::optional<error>& failure) {
        if (failure) {
            reply(http::problem_response(error{
                errc::unavailable, "", "the decision could not be stored: " + failure->message}));
            return;
        }
        json body;
        if (record) body["record"] = to_json(*record);
        auto dev2 = core.ledger().find_device(id);
        auto row = core.ledger().load_custody(id);
        if (dev2 && *dev2 && row) {
            if (auto res = device_resource(core, **dev2, *row, clock_now())) body["device"] = *res;
        }
        reply(json_response(200, body));
    });
}

}  // namespace

http::router make_routes(gateway_core& core, const std::atomic<const http::server*>& server) {
    http::router r;

    r.add_async(http::method::get, "/healthz", [&core](http::request, http::responder reply) {
        on_core(core, reply, [reply](gateway_core& c, unit_of_work&) {
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
    });

    r.add_async(http::method::get, "/metrics",
                [&core, &server](http::request, http::responder reply) {
                    on_core(core, reply, [reply, &server](gateway_core& c, unit_of_work&) {
                        http::prometheus_writer w;
                        c.metrics().write(w);
                        if (const auto* s = server.load()) s->write_metrics(w);
                        http::response resp;
                        resp.status = 200;
                        resp.content_type = std::string(http::prometheus_writer::content_type);
                        resp.body = w.take();
                        reply(std::move(resp));
                    });
                });

    r.add_async(
        http::method::get, "/api/v1/devices", [&core](http::request req, http::responder reply) {
            std::optional<device_class> cls;
            if (auto c = req.query_param("class"); c && !c->empty()) {
                cls = parse_device_class(*c);
                if (!cls)
                    return answer(reply, http::problem_response(error{
                                             errc::bad_field, "class",
                                             "must be body_camera, drone, analyzer or dock"}));
            }
            std::optional<custody_state> status;
            if (auto s = req.query_param("status"); s && !s->empty()) {
                status = parse_custody_state(*s);
                if (!status)
                    return answer(reply, http::problem_response(
                                             error{errc::bad_field, "status",
                                                   "must be available, checked_out, in_transit, "
                                                   "maintenance, lost or retired"}));
            }
            on_core(core, reply, [reply, cls, status](gateway_core& c, unit_of_work&) {
                // Serialised device by device straight from the cursor: a DOM of 10,000 devices
                // (and a vector of their rows) would triple the gateway's peak memory.
                std::string body = R"({"devices":[)";
                bool first = true;
                const clock_ms now = clock_now();
                auto listed = c.ledger().for_each_device(
                    cls, [&](const device_row& d, const custody_row& row) -> result<bool> {
                        if (status && row.custody.state != *status) return true;
                        EQM_TRY_LET(res, device_resource(c, d, row, now));
                        if (!first) body += ',';
                        first = false;
                        body += res.dump();
                        return true;
                    });
                if (!listed) return answer(reply, http::problem_response(listed.error()));
                body += "]}";
                reply(http::response::json(200, std::move(body)));
            });
        });

    r.add_async(http::method::get, "/api/v1/devices/{id}",
                [&core](http::request req, http::responder reply) {
                    std::string id(req.path_param("id"));
                    on_core(core, reply, [reply, id](gateway_core& c, unit_of_work&) {
                        auto d = c.ledger().find_device(id);
                        if (!d) return answer(reply, http::problem_response(d.error()));
                        if (!*d)
                            return answer(reply,
                                          http::problem_response(error{
                                              errc::not_found, "id",
                                              "no device " + id + " in city " + c.config().city}));
                        auto row = c.ledger().load_custody(id);
                        if (!row) return answer(reply, http::problem_response(row.error()));
                        auto res = device_resource(c, **d, *row, clock_now());
                        if (!res) return answer(reply, http::problem_response(res.error()));
                        reply(json_response(200, *res));
                    });
                });

    r.add_async(
        http::method::get, "/api/v1/devices/{id}/custody",
        [&core](http::request req, http::responder reply) {
            std::string id(req.path_param("id"));
            on_core(core, reply, [reply, id](gateway_core& c, unit_of_work&) {
                auto d = c.ledger().find_device(id);
                if (!d) return answer(reply, http::problem_response(d.error()));
                if (!*d)
                    return answer(reply, http::problem_response(error{
                                             errc::not_found, "id",
                                             "no device " + id + " in city " + c.config().city}));
                auto records = c.ledger().device_ledger(id);
                if (!records) return answer(reply, http::problem_response(records.error()));
                json list = json::array();
                for (const auto& rec : *records) list.push_back(to_json(rec));
                reply(json_response(200, json{{"device_id", id}, {"records", std::move(list)}}));
            });
        });

    r.add_async(http::method::post, "/api/v1/devices/{id}/checkout",
                [&core](http::request req, http::responder reply) {
                    auto body = parse_body(req.body, {"badge", "due"});
                    if (!body) return answer(reply, http::problem_response(body.error()));
                    custody_input in;
                    in.device_id = std::string(req.path_param("id"));
                    in.action = custody_action::checkout;
                    in.source = custody_source::api;
                    auto badge = optional_string(*body, "badge", max_id_chars, true);
                    if (!badge) return answer(reply, http::problem_response(badge.error()));
                    if (!*badge)
                        return answer(reply, http::problem_response(
                                                 error{errc::bad_field, "badge", "is required"}));
                    in.badge = **badge;
                    auto due = optional_string(*body, "due", 64, false);
                    if (!due) return answer(reply, http::problem_response(due.error()));
                    if (*due) {
                        auto t = parse_timestamp(**due, "due");
                        if (!t) return answer(reply, http::problem_response(t.error()));
                        in.due = *t;
                    }
                    on_core(core, reply, [reply, in](gateway_core& c, unit_of_work& u) {
                        run_custody(c, u, in, reply);
                    });
                });

    r.add_async(http::method::post, "/api/v1/devices/{id}/checkin",
                [&core](http::request req, http::responder reply) {
                    auto body = parse_body(req.body, {"condition", "note", "badge"});
                    if (!body) return answer(reply, http::problem_response(body.error()));
                    custody_input in;
                    in.device_id = std::string(req.path_param("id"));
                    in.action = custody_action::checkin;
                    in.source = custody_source::api;
                    in.override_holder =
                        true;  // the custodian at the kiosk takes returns from anyone
                    auto cond = optional_string(*body, "condition", 32, false);
                    if (!cond) return answer(reply, http::problem_response(cond.error()));
                    if (*cond) {
                        in.condition = parse_item_condition(**cond);
                        if (!in.condition)
                            return answer(reply, http::problem_response(error{
                                                     errc::bad_field, "condition",
                                                     "must be good, damaged or needs_service"}));
                    }
                    auto note = optional_string(*body, "note", max_custody_note_chars, false);
                    if (!note) return answer(reply, http::problem_response(note.error()));
                    in.note = *note;
                    auto badge = optional_string(*body, "badge", max_id_chars, true);
                    if (!badge) return answer(reply, http::problem_response(badge.error()));
                    in.badge = *badge;
                    on_core(core, reply, [reply, in](gateway_core& c, unit_of_work& u) {
                        run_custody(c, u, in, reply);
                    });
                });

    r.add_async(http::method::get, "/api/v1/alerts",
                [&core](http::request req, http::responder reply) {
                    const auto all = req.query_param("all");
                    const bool include_cleared = all && (*all == "true" || *all == "1");
                    on_core(core, reply, [reply, include_cleared](gateway_core& c, unit_of_work&) {
                        auto rows = c.ledger().alerts(include_cleared, max_alerts_listed);
                        if (!rows) return answer(reply, http::problem_response(rows.error()));
                        json list = json::array();
                        for (const auto& a : *rows) list.push_back(alert_json(a));
                        reply(json_response(200, json{{"alerts", std::move(list)}}));
                    });
                });

    r.add_async(http::method::post, "/api/v1/alerts/{id}/ack",
                [&core](http::request req, http::responder reply) {
                    auto body = parse_body(req.body, {"by"});
                    if (!body) return answer(reply, http::problem_response(body.error()));
                    auto by = optional_string(*body, "by", max_actor_chars, false);
                    if (!by) return answer(reply, http::problem_response(by.error()));
                    std::string id(req.path_param("id"));
                    std::string who = by->value_or("kiosk");
                    on_core(core, reply, [reply, id, who](gateway_core& c, unit_of_work& u) {
                        if (!c.ensure_tx(u))
                            return answer(reply, http::problem_response(*u.failure));
                        auto found = c.ledger().ack_alert(id, clock_now(), who);
                        if (!found) {
                            c.fail_round(u, found.error());
                            return answer(reply, http::problem_response(found.error()));
                        }
                        if (!*found)
                            return answer(reply, http::problem_response(error{errc::not_found, "id",
                                                                              "no alert " + id}));
                        log_info("alert", "acked id=" + log_value(id) + " by=" + log_value(who));
                        u.after.push_back([reply, id, &c](const std::optional<error>& failure) {
                            if (failure) return void(reply(http::problem_response(*failure)));
                            auto a = c.ledger().find_alert(id);
                            if (a && *a) return void(reply(json_response(200, alert_json(**a))));
                            reply(http::response::no_content());
                        });
                    });
                });
    return r;
}

}  // namespace eqm::gateway
