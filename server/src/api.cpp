// REST routes and the WebSocket feed (see api.hpp and docs/server.md).
#include "api.hpp"

#include <algorithm>
#include <set>

#include "csv_import.hpp"
#include "eqm/domain/custody_request.hpp"
#include "eqm/domain/people.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/http/json_body.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/problem.hpp"
#include "event_feed.hpp"
#include "paging.hpp"
#include "people_api.hpp"
#include "planning_api.hpp"
#include "read_scope.hpp"
#include "region.hpp"
#include "reservations_api.hpp"
#include "transfers_api.hpp"
#include "views.hpp"

namespace eqm::server {

using http::method;
using http::request;
using http::response;
using nlohmann::json;

namespace {

constexpr std::size_t registry_push_chunk = 500;
constexpr std::size_t max_password_chars = 1024;
/// Seconds a throttled client is told to wait (the failure window).
constexpr std::string_view login_retry_after = "300";
/// A whole region's registry as CSV fits many times over; the HTTP server reads a body this big
/// only from a request with credentials (everything else is held to its 64 KiB default).
constexpr std::size_t import_body_limit = std::size_t{16} << 20;

response problem(const error& e) {
    return http::problem_response(e);
}

response json_response(unsigned status, const json& j) {
    return response::json(status, j.dump());
}

/// Sends a handler's outcome: its response, or the problem of its error.
response answer(result<response> r) {
    return r ? std::move(*r) : problem(r.error());
}

result<user_account> authenticate(api_context& ctx, const request& req) {
    return ctx.auth->authenticate(req.bearer_token(), ctx.clock());
}

/// A required string member of a request body.
result<std::string> string_member(const json& j, std::string_view name) {
    auto it = j.find(name);
    if (it == j.end()) return fail(errc::bad_field, std::string(name), "is required");
    if (!it->is_string()) return fail(errc::bad_field, std::string(name), "must be a string");
    return it->get<std::string>();
}

/// A `city` query parameter: none, or one of the region's codes.
result<std::optional<std::string>> city_query(const request& req) {
    auto c = req.query_param("city");
    if (!c) return std::optional<std::string>();
    if (!find_city(*c))
        return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
    return std::optional<std::string>(std::string(*c));
}

/// A device record from a request body: the contract's device record plus a known city.
result<device_record> device_from_json(const json& j) {
    EQM_TRY_LET(d, from_json_device_record(j));
    if (!find_city(d.city))
        return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
    return d;
}

/// The device resource as `reader` may see it (an officer sees no other person as holder).
json device_for(const user_account& reader, const device_view& d, clock_ms now) {
    json j = device_json(d, now);
    if (!sees_every_holder(reader)) {
        auto h = visible_holder(reader, d.holder);
        j["holder"] = h ? json(*h) : json(nullptr);
    }
    return j;
}

/// Pushes changed registry records to the gateways of their cities (chunked).
void push_registry(api_context& ctx, const std::vector<device_record>& devices) {
    std::map<std::string, std::vector<device_record>> by_city;
    for (const auto& d : devices) by_city[d.city].push_back(d);
    for (auto& [city, list] : by_city) {
        for (std::size_t i = 0; i < list.size(); i += registry_push_chunk) {
            const auto end = std::min(list.size(), i + registry_push_chunk);
            registry_upsert_cmd cmd;
            cmd.devices.reserve(end - i);
            for (std::size_t k = i; k < end; ++k) cmd.devices.push_back(list[k]);
            (void)ctx.link->send_command(city, std::move(cmd));
        }
    }
}

/// A device that exists, or errc::not_found naming `id`.
result<device_view> existing_device(api_context& ctx, std::string_view id) {
    EQM_TRY_LET(d, ctx.store->find_device(id));
    if (!d) return fail(errc::not_found, "id", "no device " + std::string(id));
    return std::move(*d);
}

/// The device resource after a write, as `reader` sees it.
result<response> device_answer(api_context& ctx, const user_account& reader, std::string_view id,
                               unsigned status = 200) {
    EQM_TRY_LET(d, existing_device(ctx, id));
    return json_response(status, device_for(reader, d, ctx.clock()));
}

// --- login ---------------------------------------------------------------------------------

/// The name and password of a login body; the name under the person rules' limit.
result<std::pair<std::string, std::string>> login_body(const request& req) {
    EQM_TRY_LET(j, http::read_json_object(req, {"name", "password"}));
    EQM_TRY_LET(name, string_member(j, "name"));
    EQM_TRY_LET(password, string_member(j, "password"));
    EQM_TRY(check_person_name(name));
    if (password.size() > max_password_chars)
        return fail(errc::bad_field, "password",
                    "is too long (at most " + std::to_string(max_password_chars) + " bytes)");
    return std::pair{std::move(name), std::move(password)};
}

response login(api_context& ctx, const request& req) {
    auto body = login_body(req);
    if (!body) return problem(body.error());
    const auto& [name, password] = *body;
    const auto now = ctx.clock();
    if (ctx.auth->throttled(name, req.remote_address, now)) {
        auto r = problem(error{errc::too_many_requests, "",
                               "too many failed logins for this name or from this address; "
                               "try again later"});
        r.headers.emplace_back("Retry-After", std::string(login_retry_after));
        return r;
    }
    auto g = ctx.auth->login(name, password, req.remote_address, now);
    if (!g) return problem(g.error());
    json out{{"token", g->token},
             {"expires_at", format_timestamp(g->expires_at)},
             {"role", to_string(g->user.role)},
             {"city", g->user.city ? json(*g->user.city) : json(nullptr)},
             {"name", g->user.name},
             {"user_id", g->user.id},
             {"must_change_password", g->user.must_change_password}};
    return json_response(200, out);
}

// --- reads ---------------------------------------------------------------------------------

result<response> list_cities(api_context& ctx, const request& req) {
    EQM_TRY(authenticate(ctx, req));
    EQM_TRY_LET(q, read_page_query(req, "cities"));
    EQM_TRY_LET(gws, ctx.store->gateways());
    json items = json::array();
    std::optional<std::string> next;
    for (const auto& c : region_cities) {  // in code order
        if (q.after && std::string_view(c.code) <= *q.after) continue;
        if (items.size() == q.limit) {
            next = items.back()["code"].get<std::string>();
            break;
        }
        std::optional<gateway_view> g;
        for (const auto& x : gws)
            if (x.city == c.code) g = x;
        items.push_back(city_json(c, g));
    }
    return json_response(200, page_json(std::move(items), "cities", next));
}

/// The filter of GET /devices, within the reader's scope.
result<device_filter> device_query(const user_account& reader, const request& req) {
    device_filter f;
    EQM_TRY_LET(city, city_query(req));
    EQM_TRY_LET(scoped, device_list_city(reader, city));
    f.city = std::move(scoped);
    if (auto c = req.query_param("class")) {
        if (!parse_device_class(*c))
            return fail(errc::bad_field, "class", "must be body_camera, drone, analyzer or dock");
        f.cls = std::string(*c);
    }
    if (auto s = req.query_param("status")) {
        if (!parse_custody_state(*s))
            return fail(errc::bad_field, "status",
                        "must be available, checked_out, in_transit, maintenance, lost or "
                        "retired");
        f.status = std::string(*s);
    }
    return f;
}

result<response> list_devices(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, authenticate(ctx, req));
    EQM_TRY_LET(f, device_query(reader, req));
    EQM_TRY_LET(q, read_page_query(req, "devices"));
    // The answer depends on the filter, the page, what the reader may see of holders, the
    // store's contents and the clock (readiness): see body_cache.
    std::string key = "devices?city=" + f.city.value_or("*") + "&class=" + f.cls.value_or("*") +
                      "&status=" + f.status.value_or("*") + "&limit=" + std::to_string(q.limit) +
                      "&after=" + q.after.value_or("");
    if (!sees_every_holder(reader)) key += "&reader=" + reader.id;
    const auto now = ctx.clock();
    const auto revision = ctx.store->revision();  // before the query: see body_cache::store
    if (ctx.cache) {
        if (auto body = ctx.cache->find(key, revision, now)) return response::json(200, *body);
    }
    EQM_TRY_LET(list, ctx.store->list_devices(f, q));
    json items = json::array();
    for (const auto& d : list.items) items.push_back(device_for(reader, d, now));
    auto body = std::make_shared<const std::string>(
        page_json(std::move(items), "devices", list.next_key).dump());
    if (ctx.cache) ctx.cache->store(key, revision, now, body);
    return response::json(200, *body);
}

result<response> show_device(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, authenticate(ctx, req));
    EQM_TRY_LET(d, existing_device(ctx, req.path_param("id")));
    EQM_TRY(may_read_device(reader, d.record.city));
    return json_response(200, device_for(reader, d, ctx.clock()));
}

result<response> device_custody(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, authenticate(ctx, req));
    const auto id = req.path_param("id");
    EQM_TRY_LET(d, existing_device(ctx, id));
    EQM_TRY(may_read_device(reader, d.record.city));
    custody_query q;
    EQM_TRY_LET(page, read_page_query(req, "custody"));
    q.page = std::move(page);
    q.held_by = custody_held_by(reader);
    EQM_TRY_LET(list, ctx.store->custody_of_device(id, q));
    json items = json::array();
    for (const auto& e : list.items) items.push_back(custody_json(e));
    return json_response(200, page_json(std::move(items), "custody", list.next_key));
}

result<response> list_alerts(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, authenticate(ctx, req));
    alert_filter f;
    EQM_TRY_LET(city, city_query(req));
    EQM_TRY_LET(scoped, alert_list_city(reader, city));
    f.city = std::move(scoped);
    if (auto s = req.query_param("state")) {
        if (*s != "all" && *s != "raised")
            return fail(errc::bad_field, "state", "must be raised or all");
        f.raised_only = *s == "raised";
    }
    EQM_TRY_LET(q, read_page_query(req, "alerts"));
    EQM_TRY_LET(list, ctx.store->list_alerts(f, q));
    json items = json::array();
    for (const auto& a : list.items) items.push_back(alert_json(a));
    return json_response(200, page_json(std::move(items), "alerts", list.next_key));
}

// --- registry writes -----------------------------------------------------------------------

result<response> create_device(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(authorize(u, write_kind::registry, ""));
    EQM_TRY_LET(j, http::read_json_object(req));
    EQM_TRY_LET(d, device_from_json(j));
    EQM_TRY(ctx.store->insert_device(d, ctx.clock()));
    push_registry(ctx, {d});
    EQM_TRY_LET(res, device_answer(ctx, u, d.id, 201));
    res.headers.emplace_back("Location", "/api/v1/devices/" + d.id);
    return res;
}

/// PUT replaces the registry record; PATCH merges (RFC 7386) into it. The id never changes.
result<response> edit_device(api_context& ctx, const request& req, bool merge) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(authorize(u, write_kind::registry, ""));
    const std::string id(req.path_param("id"));
    EQM_TRY_LET(j, http::read_json_object(req));
    EQM_TRY_LET(current, existing_device(ctx, id));
    json next = merge ? to_json(current.record) : j;
    if (merge) next.merge_patch(j);
    if (!next.contains("id")) next["id"] = id;
    if (!next["id"].is_string() || next["id"].get<std::string>() != id)
        return fail(errc::bad_field, "id", "a device's id cannot be changed");
    EQM_TRY_LET(d, device_from_json(next));
    EQM_TRY(ctx.store->update_device(d, ctx.clock()));
    push_registry(ctx, {d});
    if (current.record.city != d.city) (void)ctx.link->sync_registry(current.record.city);
    return device_answer(ctx, u, id);
}

/// The 400 of an import that refused rows: every bad row, in line order.
response refused_rows(std::vector<csv_row_error> errors) {
    std::sort(errors.begin(), errors.end(),
              [](const auto& a, const auto& b) { return a.line < b.line; });
    json rows = json::array();
    for (const auto& e : errors) {
        json r{{"line", e.line}, {"field", e.field}, {"message", e.message}};
        if (!e.id.empty()) r["id"] = e.id;
        if (e.column > 0) r["column"] = e.column;
        rows.push_back(std::move(r));
    }
    return http::problem_response(
        error{errc::bad_field, "body",
              std::to_string(errors.size()) + " row(s) refused; nothing was imported"},
        json{{"errors", std::move(rows)}});
}

result<response> import_devices(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(authorize(u, write_kind::registry, ""));
    EQM_TRY_LET(text, decode_upload(req.body, charset_of(req.header("Content-Type"))));
    auto parsed = parse_device_csv(text);
    // Ids already in the registry are refused too: an import only adds devices.
    std::vector<std::string> ids;
    for (const auto& row : parsed.rows) ids.push_back(row.record.id);
    EQM_TRY_LET(existing, ctx.store->existing_device_ids(ids));
    const std::set<std::string> taken(existing.begin(), existing.end());
    for (const auto& row : parsed.rows) {
        if (taken.contains(row.record.id))
            parsed.errors.push_back({row.line, row.record.id, "id",
                                     "device " + row.record.id + " is already registered", 1});
    }
    if (!parsed.errors.empty()) return refused_rows(std::move(parsed.errors));
    std::vector<device_record> records;
    for (auto& row : parsed.rows) records.push_back(std::move(row.record));
    if (records.empty()) return fail(errc::bad_field, "body", "the file has no device rows");
    EQM_TRY(ctx.store->insert_devices(records, ctx.clock()));
    push_registry(ctx, records);
    return json_response(200, json{{"imported", records.size()}});
}

result<response> ack_alert(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    const auto id = req.path_param("id");
    EQM_TRY_LET(a, ctx.store->find_alert(id));
    if (!a) return fail(errc::not_found, "id", "no alert " + std::string(id));
    EQM_TRY(authorize(u, write_kind::alert_ack, a->city));
    EQM_TRY_LET(acked, ctx.store->ack_alert(id, u.id, ctx.clock()));
    publish_alert(*ctx.hub, acked);
    return json_response(200, alert_json(acked));
}

// --- custody through the gateway -----------------------------------------------------------

/// The custody_request_cmd of a check-out or check-in, its device's city checked against the
/// user's: what the gateway of that city is asked to decide.
result<std::pair<std::string, custody_request_cmd>> custody_command(api_context& ctx,
                                                                    const user_account& u,
                                                                    const request& req,
                                                                    custody_action action) {
    EQM_TRY_LET(j, http::read_json_object(req));
    EQM_TRY_LET(body, parse_custody_request(j, action));
    EQM_TRY_LET(d, existing_device(ctx, req.path_param("id")));
    EQM_TRY(authorize(u, write_kind::custody, d.record.city));
    custody_request_cmd cmd;
    cmd.device_id = d.record.id;
    cmd.action = action;
    cmd.actor = u.id.substr(0, max_actor_chars);
    cmd.badge = std::move(body.badge);
    cmd.due = body.due;
    cmd.condition = body.condition;
    cmd.note = std::move(body.note);
    cmd.expires_at = ctx.clock() + ctx.gateway_timeout;
    return std::pair{d.record.city, std::move(cmd)};
}

/// The answer to a gateway's command_result: 200 with the device, or the refusal through the
/// errc table (its reason, when not one of ours, is a conflict).
response custody_answer(api_context& ctx, const user_account& u, const std::string& device_id,
                        const command_result_body& r) {
    if (!r.result.is_ok()) {
        const auto& reason = *r.result.rejected_reason;
        errc code = errc::conflict;
        (void)from_string(reason, code);
        return http::problem_response(error{code, "", r.detail.value_or(reason)},
                                      json{{"reason", reason}});
    }
    json out{{"result", "ok"}, {"cmd_id", r.cmd_id}};
    if (r.record_index) out["record_index"] = *r.record_index;
    if (auto dev = ctx.store->find_device(device_id); dev && *dev)
        out["device"] = device_for(u, **dev, ctx.clock());
    return json_response(200, out);
}

/// Check-out and check-in: read and checked here, decided by the owning gateway.
void custody_request(api_context& ctx, const request& req, const http::responder& res,
                     custody_action action) {
    auto u = authenticate(ctx, req);
    if (!u) return void(res.send(problem(u.error())));
    auto made = custody_command(ctx, *u, req, action);
    if (!made) return void(res.send(problem(made.error())));
    auto& [city, cmd] = *made;
    auto g = ctx.store->gateway(city);
    if (!g) return void(res.send(problem(g.error())));
    if (!*g || !(*g)->online)
        return void(res.send(
            problem(error{errc::unavailable, "", "the gateway of city " + city + " is offline"})));
    const std::string device_id = cmd.device_id;
    ctx.link->request(city, std::move(cmd), ctx.gateway_timeout,
                      [c = &ctx, user = *u, res, device_id](result<command_result_body> r) {
                          if (!r) return void(res.send(problem(r.error())));
                          res.send(custody_answer(*c, user, device_id, *r));
                      });
}

// --- operations ----------------------------------------------------------------------------

response metrics(api_context& ctx, const request&) {
    http::prometheus_writer w;
    ctx.link->write_metrics(w);
    ctx.hub->write_metrics(w, "eqm_ws");
    if (ctx.server) ctx.server->write_metrics(w);
    if (auto n = ctx.store->dead_letter_count())
        w.gauge("eqm_dead_letters_stored", "rows in the dead-letter table", double(*n));
    if (auto gws = ctx.store->gateways()) {
        std::size_t online = 0;
        for (const auto& g : *gws) online += g.online ? 1 : 0;
        w.gauge("eqm_gateways_online", "city gateways online", double(online));
    }
    w.gauge("eqm_login_failures_tracked",
            "(name, address) and address entries of the login throttle",
            double(ctx.auth->tracked_failures()));
    response r;
    r.content_type = std::string(http::prometheus_writer::content_type);
    r.body = w.take();
    return r;
}

response healthz(api_context& ctx, const request&) {
    auto gws = ctx.store->gateways();
    json out{{"status", gws ? "ok" : "degraded"},
             {"mqtt_connected", ctx.link->connected()},
             {"store", gws ? "ok" : gws.error().describe()}};
    return json_response(gws ? 200 : 503, out);
}

response openapi(const request&) {
    response res;
    res.content_type = "application/json";
    res.body = std::string(openapi_document());
    return res;
}

}  // namespace

std::vector<route_entry> add_routes(http::router& r, api_context& ctx) {
    std::vector<route_entry> routes;
    auto* c = &ctx;
    auto note = [&](method m, std::string_view pattern) {
        routes.emplace_back(std::string(http::to_string(m)), std::string(pattern));
    };
    auto plain = [&](method m, std::string_view pattern,
                     response (*h)(api_context&, const request&)) {
        r.add(m, pattern, [c, h](const request& req) { return h(*c, req); });
        note(m, pattern);
    };
    auto checked = [&](method m, std::string_view pattern,
                       result<response> (*h)(api_context&, const request&),
                       http::route_options options = {}) {
        r.add(
            m, pattern, [c, h](const request& req) { return answer(h(*c, req)); }, options);
        note(m, pattern);
    };
    auto custody = [&](std::string_view pattern, custody_action action) {
        r.add_async(method::post, pattern, [c, action](request req, http::responder res) {
            custody_request(*c, req, res, action);
        });
        note(method::post, pattern);
    };
    plain(method::post, "/api/v1/auth/login", login);
    for (auto& e : add_people_routes(r, ctx)) routes.push_back(std::move(e));
    checked(method::get, "/api/v1/cities", list_cities);
    checked(method::get, "/api/v1/devices", list_devices);
    checked(method::post, "/api/v1/devices", create_device);
    checked(method::post, "/api/v1/devices/import", import_devices,
            http::route_options{.body_limit = import_body_limit});
    checked(method::get, "/api/v1/devices/{id}", show_device);
    r.add(method::put, "/api/v1/devices/{id}",
          [c](const request& req) { return answer(edit_device(*c, req, false)); });
    note(method::put, "/api/v1/devices/{id}");
    r.add(method::patch, "/api/v1/devices/{id}",
          [c](const request& req) { return answer(edit_device(*c, req, true)); });
    note(method::patch, "/api/v1/devices/{id}");
    checked(method::get, "/api/v1/devices/{id}/custody", device_custody);
    custody("/api/v1/devices/{id}/checkout", custody_action::checkout);
    custody("/api/v1/devices/{id}/checkin", custody_action::checkin);
    checked(method::get, "/api/v1/alerts", list_alerts);
    checked(method::post, "/api/v1/alerts/{id}/ack", ack_alert);
    for (auto& e : add_reservations_routes(r, ctx)) routes.push_back(std::move(e));
    add_transfers_routes(r, ctx, routes);
    r.add(method::get, "/api/v1/openapi.json", openapi);
    note(method::get, "/api/v1/openapi.json");
    plain(method::get, "/healthz", healthz);
    plain(method::get, "/metrics", metrics);
    if (ctx.hub && ctx.auth && ctx.store)
        r.add_websocket("/api/v1/events", *ctx.hub,
                        feed_admission(*ctx.auth, *ctx.store, ctx.clock));
    note(method::get, "/api/v1/events");
    std::ranges::copy(add_planning_routes(r, ctx), std::back_inserter(routes));
    return routes;
}

}  // namespace eqm::server
