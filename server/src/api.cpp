// REST routes and the WebSocket feed (see api.hpp and docs/server.md).
#include "api.hpp"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <sstream>

#include "csv_import.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/problem.hpp"
#include "region.hpp"
#include "views.hpp"

namespace eqm::server {

using http::method;
using http::request;
using http::response;
using nlohmann::json;

namespace {

constexpr std::size_t custody_history_limit = 500;
constexpr std::size_t registry_push_chunk = 500;
constexpr std::size_t max_password_chars = 1024;
/// A whole region's registry as CSV fits many times over; the HTTP server reads a body this big
/// only from a request with credentials (everything else is held to its 64 KiB default).
constexpr std::size_t import_body_limit = std::size_t{16} << 20;

response problem(const error& e) {
    return http::problem_response(e);
}

/// A problem response with extra members (e.g. the rows an import refused).
response problem_with(const error& e, const json& extra) {
    auto r = http::problem_response(e);
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return r;
    for (const auto& [k, v] : extra.items()) j[k] = v;
    r.body = j.dump();
    return r;
}

response json_response(unsigned status, const json& j) {
    return response::json(status, j.dump());
}

/// The body as a JSON object; bad_json or bad_field naming `body`.
result<json> object_body(const request& req) {
    auto j = json::parse(req.body, nullptr, false);
    if (j.is_discarded()) return fail(errc::bad_json, "body", "the body is not valid JSON");
    if (!j.is_object()) return fail(errc::bad_field, "body", "the body must be a JSON object");
    return j;
}

/// errc::unknown_field for the first member not in `allowed`.
result<void> only_fields(const json& j, std::initializer_list<std::string_view> allowed) {
    for (const auto& [k, v] : j.items()) {
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
            return fail(errc::unknown_field, k, "is not a field of this request");
    }
    return {};
}

result<std::string> string_field(const json& j, std::string_view name, bool required) {
    auto it = j.find(name);
    if (it == j.end()) {
        if (required) return fail(errc::bad_field, std::string(name), "is required");
        return std::string();
    }
    if (!it->is_string()) return fail(errc::bad_field, std::string(name), "must be a string");
    return it->get<std::string>();
}

result<user_account> authenticate(api_context& ctx, const request& req) {
    return ctx.auth->authenticate(req.bearer_token(), ctx.clock());
}

std::string peer_of(const request& req) {
    return req.remote_address;
}

/// Validates a `city` query parameter.
result<std::optional<std::string>> city_query(const request& req) {
    auto c = req.query_param("city");
    if (!c) return std::optional<std::string>();
    if (!find_city(*c))
        return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
    return std::optional<std::string>(std::string(*c));
}

/// A device record from a request body: the contract's device record plus a known city.
result<device_record> device_from_json(const json& j) {
    auto d = from_json_device_record(j);
    if (!d) return d;
    if (!find_city(d->city))
        return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
    return d;
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

response device_or_404(api_context& ctx, std::string_view id, unsigned status = 200) {
    auto d = ctx.store->find_device(id);
    if (!d) return problem(d.error());
    if (!*d) return problem(error{errc::not_found, "id", "no device " + std::string(id)});
    return json_response(status, device_json(**d, ctx.clock()));
}

// --- handlers ----------------------------------------------------------------------------

response login(api_context& ctx, const request& req) {
    auto j = object_body(req);
    if (!j) return problem(j.error());
    if (auto r = only_fields(*j, {"name", "password"}); !r) return problem(r.error());
    auto name = string_field(*j, "name", true);
    if (!name) return problem(name.error());
    auto password = string_field(*j, "password", true);
    if (!password) return problem(password.error());
    if (name->empty()) return problem(error{errc::bad_field, "name", "must not be empty"});
    if (password->size() > max_password_chars)
        return problem(error{errc::bad_field, "password", "is too long"});
    const auto now = ctx.clock();
    if (ctx.auth->throttled(*name, peer_of(req), now)) {
        auto r = http::problem_response(429, "too_many_requests", "Too many failed logins",
                                        "too many failed logins for this name; try again later");
        r.headers.emplace_back("Retry-After", "300");
        return r;
    }
    auto g = ctx.auth->login(*name, *password, peer_of(req), now);
    if (!g) return problem(g.error());
    json out{{"token", g->token},
             {"expires_at", format_timestamp(g->expires_at)},
             {"role", to_string(g->user.role)},
             {"city", g->user.city ? json(*g->user.city) : json(nullptr)},
             {"name", g->user.name},
             {"user_id", g->user.id}};
    return json_response(200, out);
}

response list_cities(api_context& ctx, const request& req) {
    if (auto u = authenticate(ctx, req); !u) return problem(u.error());
    auto gws = ctx.store->gateways();
    if (!gws) return problem(gws.error());
    json out = json::array();
    for (const auto& c : region_cities) {
        std::optional<gateway_view> g;
        for (const auto& x : *gws)
            if (x.city == c.code) g = x;
        out.push_back(city_json(c, g));
    }
    return json_response(200, out);
}

response list_devices(api_context& ctx, const request& req) {
    if (auto u = authenticate(ctx, req); !u) return problem(u.error());
    device_filter f;
    auto city = city_query(req);
    if (!city) return problem(city.error());
    f.city = *city;
    if (auto c = req.query_param("class")) {
        if (!parse_device_class(*c))
            return problem(
                error{errc::bad_field, "class", "must be body_camera, drone, analyzer or dock"});
        f.cls = std::string(*c);
    }
    if (auto s = req.query_param("status")) {
        if (!parse_custody_state(*s))
            return problem(error{errc::bad_field, "status",
                                 "must be available, checked_out, in_transit, maintenance, lost "
                                 "or retired"});
        f.status = std::string(*s);
    }
    // The answer depends only on the filter (every authenticated caller sees the region), the
    // store's contents and the clock (readiness): see body_cache.
    std::string key = "devices?city=" + f.city.value_or("*") + "&class=" + f.cls.value_or("*") +
                      "&status=" + f.status.value_or("*");
    const auto now = ctx.clock();
    const auto revision = ctx.store->revision();  // before the query: see body_cache::store
    if (ctx.cache) {
        if (auto body = ctx.cache->find(key, revision, now)) return response::json(200, *body);
    }
    auto list = ctx.store->list_devices(f);
    if (!list) return problem(list.error());
    json out = json::array();
    for (const auto& d : *list) out.push_back(device_json(d, now));
    auto body = std::make_shared<const std::string>(out.dump());
    if (ctx.cache) ctx.cache->store(key, revision, now, body);
    return response::json(200, *body);
}

response show_device(api_context& ctx, const request& req) {
    if (auto u = authenticate(ctx, req); !u) return problem(u.error());
    return device_or_404(ctx, req.path_param("id"));
}

response device_custody(api_context& ctx, const request& req) {
    if (auto u = authenticate(ctx, req); !u) return problem(u.error());
    const auto id = req.path_param("id");
    auto d = ctx.store->find_device(id);
    if (!d) return problem(d.error());
    if (!*d) return problem(error{errc::not_found, "id", "no device " + std::string(id)});
    auto list = ctx.store->custody_of_device(id, custody_history_limit);
    if (!list) return problem(list.error());
    json out = json::array();
    for (const auto& e : *list) out.push_back(custody_json(e));
    return json_response(200, out);
}

response create_device(api_context& ctx, const request& req) {
    auto u = authenticate(ctx, req);
    if (!u) return problem(u.error());
    if (auto a = authorize(*u, write_kind::registry, ""); !a) return problem(a.error());
    auto j = object_body(req);
    if (!j) return problem(j.error());
    auto d = device_from_json(*j);
    if (!d) return problem(d.error());
    if (auto r = ctx.store->insert_device(*d, ctx.clock()); !r) return problem(r.error());
    push_registry(ctx, {*d});
    auto res = device_or_404(ctx, d->id, 201);
    res.headers.emplace_back("Location", "/api/v1/devices/" + d->id);
    return res;
}

/// PUT replaces the registry record; PATCH merges (RFC 7386) into it. The id never changes.
response edit_device(api_context& ctx, const request& req, bool merge) {
    auto u = authenticate(ctx, req);
    if (!u) return problem(u.error());
    if (auto a = authorize(*u, write_kind::registry, ""); !a) return problem(a.error());
    const std::string id(req.path_param("id"));
    auto j = object_body(req);
    if (!j) return problem(j.error());
    auto current = ctx.store->find_device(id);
    if (!current) return problem(current.error());
    if (!*current) return problem(error{errc::not_found, "id", "no device " + id});
    json next = merge ? to_json((*current)->record) : json::object();
    if (merge) {
        next.merge_patch(*j);
    } else {
        next = *j;
    }
    if (!next.contains("id")) next["id"] = id;
    if (!next["id"].is_string() || next["id"].get<std::string>() != id)
        return problem(error{errc::bad_field, "id", "a device's id cannot be changed"});
    auto d = device_from_json(next);
    if (!d) return problem(d.error());
    if (auto r = ctx.store->update_device(*d, ctx.clock()); !r) return problem(r.error());
    push_registry(ctx, {*d});
    const auto old_city = (*current)->record.city;
    if (old_city != d->city) (void)ctx.link->sync_registry(old_city);
    return device_or_404(ctx, id);
}

response import_devices(api_context& ctx, const request& req) {
    auto u = authenticate(ctx, req);
    if (!u) return problem(u.error());
    if (auto a = authorize(*u, write_kind::registry, ""); !a) return problem(a.error());
    auto parsed = parse_device_csv(req.body);
    // Ids already in the registry are refused too: an import only adds devices.
    std::vector<std::string> ids;
    for (const auto& row : parsed.rows) ids.push_back(row.record.id);
    auto existing = ctx.store->existing_device_ids(ids);
    if (!existing) return problem(existing.error());
    const std::set<std::string> taken(existing->begin(), existing->end());
    for (const auto& row : parsed.rows) {
        if (taken.contains(row.record.id))
            parsed.errors.push_back({row.line, row.record.id, "id",
                                     "device " + row.record.id + " is already registered"});
    }
    if (!parsed.errors.empty()) {
        std::sort(parsed.errors.begin(), parsed.errors.end(),
                  [](const auto& a, const auto& b) { return a.line < b.line; });
        json rows = json::array();
        for (const auto& e : parsed.errors) {
            json r{{"line", e.line}, {"field", e.field}, {"message", e.message}};
            if (!e.id.empty()) r["id"] = e.id;
            rows.push_back(r);
        }
        return problem_with(
            error{errc::bad_field, "body",
                  std::to_string(parsed.errors.size()) + " row(s) refused; nothing was imported"},
            json{{"errors", rows}});
    }
    std::vector<device_record> records;
    for (auto& row : parsed.rows) records.push_back(std::move(row.record));
    if (records.empty())
        return problem(error{errc::bad_field, "body", "the file has no device rows"});
    if (auto r = ctx.store->insert_devices(records, ctx.clock()); !r) return problem(r.error());
    push_registry(ctx, records);
    return json_response(200, json{{"imported", records.size()}});
}

response list_alerts(api_context& ctx, const request& req) {
    if (auto u = authenticate(ctx, req); !u) return problem(u.error());
    auto city = city_query(req);
    if (!city) return problem(city.error());
    bool raised_only = true;
    if (auto s = req.query_param("state")) {
        if (*s == "all") {
            raised_only = false;
        } else if (*s != "raised") {
            return problem(error{errc::bad_field, "state", "must be raised or all"});
        }
    }
    auto list = ctx.store->list_alerts(*city, raised_only);
    if (!list) return problem(list.error());
    json out = json::array();
    for (const auto& a : *list) out.push_back(alert_json(a));
    return json_response(200, out);
}

response ack_alert(api_context& ctx, const request& req) {
    auto u = authenticate(ctx, req);
    if (!u) return problem(u.error());
    const auto id = req.path_param("id");
    auto a = ctx.store->find_alert(id);
    if (!a) return problem(a.error());
    if (!*a) return problem(error{errc::not_found, "id", "no alert " + std::string(id)});
    if (auto ok = authorize(*u, write_kind::alert_ack, (*a)->city); !ok) return problem(ok.error());
    auto acked = ctx.store->ack_alert(id, u->id, ctx.clock());
    if (!acked) return problem(acked.error());
    json msg{{"type", "alert"}, {"alert", alert_json(*acked)}};
    ctx.hub->broadcast(msg.dump(), {{"city", acked->city}, {"kind", "alert"}});
    return json_response(200, alert_json(*acked));
}

/// Check-out and check-in: validated here, decided by the owning gateway.
void custody_request(api_context& ctx, const request& req, const http::responder& res,
                     custody_action action) {
    auto u = authenticate(ctx, req);
    if (!u) return void(res.send(problem(u.error())));
    auto j = object_body(req);
    if (!j) return void(res.send(problem(j.error())));
    custody_request_cmd cmd;
    cmd.device_id = std::string(req.path_param("id"));
    cmd.action = action;
    cmd.actor = u->id.substr(0, max_actor_chars);
    if (action == custody_action::checkout) {
        if (auto r = only_fields(*j, {"badge", "due"}); !r)
            return void(res.send(problem(r.error())));
        auto badge = string_field(*j, "badge", true);
        if (!badge) return void(res.send(problem(badge.error())));
        if (!is_valid_id(*badge))
            return void(res.send(
                problem(error{errc::bad_field, "badge", "must match ^[A-Za-z0-9_-]{1,64}$"})));
        cmd.badge = *badge;
        if (j->contains("due")) {
            auto due = string_field(*j, "due", true);
            if (!due) return void(res.send(problem(due.error())));
            auto t = parse_timestamp(*due, "due");
            if (!t) return void(res.send(problem(t.error())));
            cmd.due = *t;
        }
    } else {
        if (auto r = only_fields(*j, {"condition", "note"}); !r)
            return void(res.send(problem(r.error())));
        if (j->contains("condition")) {
            auto c = string_field(*j, "condition", true);
            if (!c) return void(res.send(problem(c.error())));
            auto cond = parse_item_condition(*c);
            if (!cond)
                return void(res.send(problem(error{errc::bad_field, "condition",
                                                   "must be good, damaged or needs_service"})));
            cmd.condition = *cond;
        }
        if (j->contains("note")) {
            auto n = string_field(*j, "note", true);
            if (!n) return void(res.send(problem(n.error())));
            if (n->size() > max_custody_note_chars)
                return void(
                    res.send(problem(error{errc::bad_field, "note", "at most 512 characters"})));
            cmd.note = *n;
        }
    }
    auto d = ctx.store->find_device(cmd.device_id);
    if (!d) return void(res.send(problem(d.error())));
    if (!*d)
        return void(res.send(problem(error{errc::not_found, "id", "no device " + cmd.device_id})));
    const std::string city = (*d)->record.city;
    if (auto a = authorize(*u, write_kind::custody, city); !a)
        return void(res.send(problem(a.error())));
    auto g = ctx.store->gateway(city);
    if (!g) return void(res.send(problem(g.error())));
    if (!*g || !(*g)->online)
        return void(res.send(
            problem(error{errc::unavailable, "", "the gateway of city " + city + " is offline"})));
    auto* c = &ctx;
    const std::string device_id = cmd.device_id;
    ctx.link->request(city, std::move(cmd), ctx.gateway_timeout,
                      [c, res, device_id](result<command_result_body> r) {
                          if (!r) return void(res.send(problem(r.error())));
                          if (!r->result.is_ok()) {
                              const auto reason = *r->result.rejected_reason;
                              json p{{"type", std::string(http::problem_type_prefix) + reason},
                                     {"title", "Refused by the city gateway"},
                                     {"status", 409},
                                     {"detail", r->detail.value_or(reason)},
                                     {"reason", reason}};
                              response out;
                              out.status = 409;
                              out.content_type = std::string(http::problem_content_type);
                              out.body = p.dump();
                              return void(res.send(std::move(out)));
                          }
                          auto dev = c->store->find_device(device_id);
                          json out{{"result", "ok"}, {"cmd_id", r->cmd_id}};
                          if (r->record_index) out["record_index"] = *r->record_index;
                          if (dev && *dev) out["device"] = device_json(**dev, c->clock());
                          res.send(json_response(200, out));
                      });
}

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

}  // namespace

std::vector<route_entry> add_routes(http::router& r, api_context& ctx) {
    std::vector<route_entry> routes;
    auto* c = &ctx;
    auto sync = [&](method m, std::string_view pattern,
                    response (*h)(api_context&, const request&)) {
        r.add(m, pattern, [c, h](const request& req) { return h(*c, req); });
        routes.emplace_back(std::string(http::to_string(m)), std::string(pattern));
    };
    sync(method::post, "/api/v1/auth/login", login);
    sync(method::get, "/api/v1/cities", list_cities);
    sync(method::get, "/api/v1/devices", list_devices);
    sync(method::post, "/api/v1/devices", create_device);
    r.add(
        method::post, "/api/v1/devices/import",
        [c](const request& req) { return import_devices(*c, req); },
        http::route_options{.body_limit = import_body_limit});
    routes.emplace_back("POST", "/api/v1/devices/import");
    sync(method::get, "/api/v1/devices/{id}", show_device);
    r.add(method::put, "/api/v1/devices/{id}",
          [c](const request& req) { return edit_device(*c, req, false); });
    routes.emplace_back("PUT", "/api/v1/devices/{id}");
    r.add(method::patch, "/api/v1/devices/{id}",
          [c](const request& req) { return edit_device(*c, req, true); });
    routes.emplace_back("PATCH", "/api/v1/devices/{id}");
    sync(method::get, "/api/v1/devices/{id}/custody", device_custody);
    r.add_async(method::post, "/api/v1/devices/{id}/checkout",
                [c](request req, http::responder res) {
                    custody_request(*c, req, res, custody_action::checkout);
                });
    routes.emplace_back("POST", "/api/v1/devices/{id}/checkout");
    r.add_async(method::post, "/api/v1/devices/{id}/checkin",
                [c](request req, http::responder res) {
                    custody_request(*c, req, res, custody_action::checkin);
                });
    routes.emplace_back("POST", "/api/v1/devices/{id}/checkin");
    sync(method::get, "/api/v1/alerts", list_alerts);
    sync(method::post, "/api/v1/alerts/{id}/ack", ack_alert);
    r.add(method::get, "/api/v1/openapi.json", [](const request&) {
        response res;
        res.content_type = "application/json";
        res.body = std::string(openapi_document());
        return res;
    });
    routes.emplace_back("GET", "/api/v1/openapi.json");
    sync(method::get, "/healthz", healthz);
    sync(method::get, "/metrics", metrics);

    if (ctx.hub) {
        r.add_websocket("/api/v1/events", *ctx.hub,
                        [c](const request& req) -> result<http::ws_filter> {
                            std::string token(req.bearer_token());
                            if (auto q = req.query_param("token")) token = std::string(*q);
                            auto u = c->auth->authenticate(token, c->clock());
                            if (!u) return std::unexpected(u.error());
                            auto city = city_query(req);
                            if (!city) return std::unexpected(city.error());
                            if (!*city) return http::ws_filter{};
                            return http::ws_filter([want = **city](const http::ws_message& m) {
                                auto it = m.labels.find("city");
                                return it != m.labels.end() && it->second == want;
                            });
                        });
    }
    routes.emplace_back("GET", "/api/v1/events");
    return routes;
}

}  // namespace eqm::server
