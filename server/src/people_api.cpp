// People over REST and the password change (see people_api.hpp and docs/server.md).
#include "people_api.hpp"

#include <set>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/people.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/http/json_body.hpp"
#include "eqm/http/problem.hpp"
#include "eqm/runtime/log.hpp"
#include "paging.hpp"
#include "people_sync.hpp"

namespace eqm::server {

using http::method;
using http::request;
using http::response;
using nlohmann::json;

namespace {

constexpr std::string_view component = "people";
constexpr std::string_view list_name = "people";

response json_response(unsigned status, const json& j) {
    return response::json(status, j.dump());
}

/// `{id, name, role, city, badge, badge_cities, active, must_change_password}`: city and badge
/// null when the person has none; never the password hash.
json person_json(const user_account& u) {
    return json{{"id", u.id},
                {"name", u.name},
                {"role", to_string(u.role)},
                {"city", u.city ? json(*u.city) : json(nullptr)},
                {"badge", u.badge ? json(*u.badge) : json(nullptr)},
                {"badge_cities", u.badge_cities},
                {"active", u.active},
                {"must_change_password", u.must_change_password}};
}

result<user_account> reader_of(api_context& ctx, const request& req) {
    return ctx.auth->authenticate(req.bearer_token(), ctx.clock());
}

result<void> require_admin(const user_account& u) {
    if (u.role == person_role::admin) return {};
    return fail(errc::forbidden, "role", "only an admin may manage people");
}

result<user_account> existing_person(api_context& ctx, std::string_view id) {
    EQM_TRY_LET(u, ctx.store->find_user(id));
    if (!u) return fail(errc::not_found, "id", "no person " + std::string(id));
    return std::move(*u);
}

/// True when `u`'s home city is `city` or their badge is allowed there.
bool belongs_to(const user_account& u, std::string_view city) {
    if (u.city && *u.city == city) return true;
    for (const auto& c : u.badge_cities)
        if (c == city) return true;
    return false;
}

/// The city a people list of `reader` is limited to, given the `?city=` asked for: admins and
/// dispatchers read the region, a custodian their own city, an officer no list at all.
result<std::optional<std::string>> people_list_city(const user_account& reader,
                                                    std::optional<std::string> asked) {
    switch (reader.role) {
        case person_role::admin:
        case person_role::dispatcher:
            return asked;
        case person_role::custodian:
            if (!reader.city)
                return fail(errc::forbidden, "city", "this custodian has no home city to read");
            if (asked && *asked != *reader.city)
                return fail(
                    errc::forbidden, "city",
                    "a custodian reads only the people of their own city (" + *reader.city + ")");
            return reader.city;
        case person_role::officer:
            break;
    }
    return fail(errc::forbidden, "role", "an officer does not read the list of people");
}

/// errc::forbidden unless `reader` may read `person` (see people_api.hpp).
result<void> may_read_person(const user_account& reader, const user_account& person) {
    if (reader.id == person.id) return {};
    if (reader.role == person_role::officer)
        return fail(errc::forbidden, "role", "an officer reads only their own record");
    if (reader.role == person_role::custodian &&
        (!reader.city || !belongs_to(person, *reader.city)))
        return fail(errc::forbidden, "city",
                    "a custodian reads only the people of their own city (" +
                        reader.city.value_or("") + ")");
    return {};
}

result<person_filter> person_query(const request& req) {
    person_filter f;
    if (auto r = req.query_param("role")) {
        if (!parse_person_role(*r))
            return fail(errc::bad_field, "role", "must be officer, custodian, dispatcher or admin");
        f.role = std::string(*r);
    }
    if (auto c = req.query_param("city")) {
        if (!find_city(*c))
            return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
        f.city = std::string(*c);
    }
    if (auto a = req.query_param("active")) {
        if (*a != "true" && *a != "false")
            return fail(errc::bad_field, "active", "must be true or false");
        f.active = *a == "true";
    }
    return f;
}

// --- what a change does elsewhere -----------------------------------------------------------

/// Sends `after` to every online gateway that holds it now, and withdraws it from every online
/// gateway that held `before` and may no longer (offline gateways get their full sync at their
/// next birth, which lists only who they may hold).
void push_person(api_context& ctx, const std::optional<user_account>& before,
                 const user_account& after) {
    if (!ctx.link) return;
    const auto now_in = gateway_cities_of(after);
    const auto was_in = before ? gateway_cities_of(*before) : std::set<std::string>{};
    auto gws = ctx.store->gateways();
    if (!gws) return log_error(component, "cannot list gateways: " + gws.error().describe());
    for (const auto& g : *gws) {
        if (!g.online) continue;
        const bool keeps = now_in.contains(g.city);
        if (!keeps && !was_in.contains(g.city)) continue;
        registry_upsert_cmd cmd;
        cmd.people.push_back(keeps ? person_for_gateway(after, g.city) : person_withdrawn(after));
        if (auto sent = ctx.link->send_command(g.city, std::move(cmd)); !sent)
            log_error(component, "cannot send a person to a gateway city=" + g.city +
                                     " id=" + log_value(after.id) +
                                     " error=" + log_value(sent.error().describe()));
        else
            log_info(component, std::string(keeps ? "sent" : "withdrew") +
                                    " person id=" + log_value(after.id) + " city=" + g.city);
    }
}

/// Closes the WebSocket feeds of `user_id` (their login ended: deactivated, password reset).
void close_feeds(api_context& ctx, const std::string& user_id, std::string reason) {
    if (!ctx.hub) return;
    ctx.hub->close_where([&](const http::ws_labels& l) -> std::optional<std::string> {
        auto it = l.find("user");
        if (it == l.end() || it->second != user_id) return std::nullopt;
        return reason;
    });
}

// --- routes ---------------------------------------------------------------------------------

result<response> list_people(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, reader_of(ctx, req));
    EQM_TRY_LET(f, person_query(req));
    EQM_TRY_LET(city, people_list_city(reader, f.city));
    f.city = std::move(city);
    EQM_TRY_LET(q, read_page_query(req, list_name));
    EQM_TRY_LET(list, ctx.store->list_users(f, q));
    json items = json::array();
    for (const auto& u : list.items) items.push_back(person_json(u));
    return json_response(200, page_json(std::move(items), list_name, list.next_key));
}

result<response> show_person(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, reader_of(ctx, req));
    EQM_TRY_LET(u, existing_person(ctx, req.path_param("id")));
    EQM_TRY(may_read_person(reader, u));
    return json_response(200, person_json(u));
}

/// The password of a new person: the one given (checked), or a one-time one to be changed at
/// the first login. Returns the password and whether it is one-time.
result<std::pair<std::string, bool>> initial_password(const json& body) {
    auto it = body.find("password");
    if (it == body.end() || it->is_null()) return std::pair{one_time_password(), true};
    if (!it->is_string()) return fail(errc::bad_field, "password", "must be a string");
    auto given = it->get<std::string>();
    EQM_TRY(check_password(given));
    return std::pair{std::move(given), false};
}

result<response> create_person(api_context& ctx, const request& req) {
    EQM_TRY_LET(admin, reader_of(ctx, req));
    EQM_TRY(require_admin(admin));
    EQM_TRY_LET(body, http::read_json_object(
                          req, {"name", "role", "city", "badge", "badge_cities", "password"}));
    EQM_TRY_LET(person, person_from_json(body));
    EQM_TRY_LET(pw, initial_password(body));
    EQM_TRY_LET(u, new_user(person, pw.first));
    u.must_change_password = pw.second;
    EQM_TRY(ctx.store->insert_user(u));
    log_info(component, "created id=" + log_value(u.id) + " role=" +
                            std::string(to_string(u.role)) + " by=" + log_value(admin.id));
    push_person(ctx, std::nullopt, u);
    json out = person_json(u);
    if (pw.second) out["one_time_password"] = pw.first;
    auto res = json_response(201, out);
    res.headers.emplace_back("Location", "/api/v1/people/" + u.id);
    return res;
}

/// An admin may not lock themselves out: their own account stays an active admin.
result<void> check_own_account(const user_account& admin, const user_account& next) {
    if (admin.id != next.id) return {};
    if (!next.active)
        return fail(errc::conflict, "active", "an admin cannot deactivate their own account");
    if (next.role != person_role::admin)
        return fail(errc::conflict, "role", "an admin cannot take away their own admin role");
    return {};
}

result<response> edit_person(api_context& ctx, const request& req) {
    EQM_TRY_LET(admin, reader_of(ctx, req));
    EQM_TRY(require_admin(admin));
    EQM_TRY_LET(patch, http::read_json_object(
                           req, {"name", "role", "city", "badge", "badge_cities", "active"}));
    EQM_TRY_LET(before, existing_person(ctx, req.path_param("id")));
    person_record current;
    current.id = before.id;
    current.name = before.name;
    current.role = before.role;
    current.city = before.city;
    current.badge = before.badge;
    if (!before.badge_cities.empty()) current.badge_cities = before.badge_cities;
    current.active = before.active;
    EQM_TRY_LET(p, patch_person(current, patch));
    user_account after = before;
    after.name = p.name;
    after.role = p.role;
    after.city = p.city;
    after.badge = p.badge;
    after.badge_cities = p.badge_cities.value_or(std::vector<std::string>{});
    after.active = p.is_active();
    EQM_TRY(check_own_account(admin, after));
    EQM_TRY(ctx.store->update_user(after));
    log_info(component, "edited id=" + log_value(after.id) + " active=" +
                            (after.active ? "true" : "false") + " by=" + log_value(admin.id));
    if (before.active && !after.active) close_feeds(ctx, after.id, "the user was deactivated");
    push_person(ctx, before, after);
    return json_response(200, person_json(after));
}

result<response> reset_password(api_context& ctx, const request& req) {
    EQM_TRY_LET(admin, reader_of(ctx, req));
    EQM_TRY(require_admin(admin));
    EQM_TRY(http::read_json_object(req, {}));
    EQM_TRY_LET(u, existing_person(ctx, req.path_param("id")));
    const auto password = one_time_password();
    EQM_TRY_LET(hash, hash_password(password));
    EQM_TRY(ctx.store->set_password(u.id, hash, true, std::nullopt));
    log_info(component, "password reset id=" + log_value(u.id) + " by=" + log_value(admin.id));
    close_feeds(ctx, u.id, "the password was reset; log in again");
    const auto before = u;
    u.password_hash = hash;
    u.must_change_password = true;
    // The kiosk logins at the gateways lose the old password now; the new one follows once
    // the person has chosen it.
    push_person(ctx, before, u);
    json out = person_json(u);
    out["one_time_password"] = password;
    return json_response(200, out);
}

result<response> change_password(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, ctx.auth->authenticate_to_change_password(req.bearer_token(), ctx.clock()));
    EQM_TRY_LET(body, http::read_json_object(req, {"password", "new_password"}));
    for (const char* name : {"password", "new_password"}) {
        if (!body.contains(name)) return fail(errc::bad_field, name, "is required");
        if (!body[name].is_string()) return fail(errc::bad_field, name, "must be a string");
    }
    const auto current = body["password"].get<std::string>();
    const auto next = body["new_password"].get<std::string>();
    if (current.size() > max_password_bytes || !verify_password(u.password_hash, current))
        return fail(errc::bad_field, "password", "is not your current password");
    EQM_TRY(check_password(next, "new_password"));
    if (next == current)
        return fail(errc::bad_field, "new_password", "must differ from the current password");
    EQM_TRY_LET(hash, hash_password(next));
    EQM_TRY(
        ctx.store->set_password(u.id, hash, false, std::string(sha256_hex(req.bearer_token()))));
    log_info(component, "password changed id=" + log_value(u.id));
    const auto before = u;
    u.password_hash = hash;
    u.must_change_password = false;
    push_person(ctx, before, u);
    return json_response(200, person_json(u));
}

}  // namespace

std::vector<route_entry> add_people_routes(http::router& r, api_context& ctx) {
    std::vector<route_entry> routes;
    auto* c = &ctx;
    auto add = [&](method m, std::string_view pattern,
                   result<response> (*h)(api_context&, const request&)) {
        r.add(m, pattern, [c, h](const request& req) {
            auto out = h(*c, req);
            return out ? std::move(*out) : http::problem_response(out.error());
        });
        routes.emplace_back(std::string(http::to_string(m)), std::string(pattern));
    };
    add(method::post, "/api/v1/auth/password", change_password);
    add(method::get, "/api/v1/people", list_people);
    add(method::post, "/api/v1/people", create_person);
    add(method::get, "/api/v1/people/{id}", show_person);
    add(method::patch, "/api/v1/people/{id}", edit_person);
    add(method::post, "/api/v1/people/{id}/password-reset", reset_password);
    return routes;
}

}  // namespace eqm::server
