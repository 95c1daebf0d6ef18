// REST routes of transfers (see transfers_api.hpp and docs/transfers.md).
#include "transfers_api.hpp"

#include "eqm/domain/try.hpp"
#include "eqm/http/json_body.hpp"
#include "eqm/http/problem.hpp"
#include "paging.hpp"
#include "read_scope.hpp"
#include "region.hpp"
#include "transfers_service.hpp"

namespace eqm::server {
namespace {

using http::method;
using http::request;
using http::response;
using nlohmann::json;

result<user_account> authenticate(api_context& ctx, const request& req) {
    return ctx.auth->authenticate(req.bearer_token(), ctx.clock());
}

response answer(result<response> r) {
    return r ? std::move(*r) : http::problem_response(r.error());
}

result<std::optional<std::string>> city_param(const request& req, std::string_view name) {
    auto c = req.query_param(name);
    if (!c) return std::optional<std::string>();
    if (!find_city(*c))
        return fail(errc::bad_field, std::string(name),
                    "must be one of the region's 14 city codes");
    return std::optional<std::string>(std::string(*c));
}

/// The filter of GET /transfers within the reader's scope: a custodian sees their city's
/// transfers, in or out; an officer none.
result<transfer_filter> transfer_query(const user_account& reader, const request& req) {
    transfer_filter f;
    if (auto s = req.query_param("status")) {
        f.status = parse_transfer_status(*s);
        if (!f.status)
            return fail(errc::bad_field, "status",
                        "must be requested, approved, in_transit, completed, cancelled or "
                        "overdue");
    }
    EQM_TRY_LET(city, city_param(req, "city"));
    EQM_TRY_LET(from, city_param(req, "from_city"));
    EQM_TRY_LET(to, city_param(req, "to_city"));
    f.city = std::move(city);
    f.from_city = std::move(from);
    f.to_city = std::move(to);
    if (reader.role == person_role::officer)
        return fail(errc::forbidden, "role", "officers do not read transfers");
    if (reader.role == person_role::custodian) {
        const auto mine = reader.city.value_or("");
        if (f.city && *f.city != mine)
            return fail(errc::forbidden, "city", "a custodian reads the transfers of their city");
        f.city = mine;
    }
    return f;
}

result<response> list_transfers(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, authenticate(ctx, req));
    EQM_TRY_LET(f, transfer_query(reader, req));
    EQM_TRY_LET(q, read_page_query(req, "transfers"));
    EQM_TRY_LET(list, ctx.store->list_transfers(f, q));
    json items = json::array();
    for (const auto& t : list.items) items.push_back(to_json(t));
    return response::json(200, page_json(std::move(items), "transfers", list.next_key).dump());
}

result<response> show_transfer(api_context& ctx, const request& req) {
    EQM_TRY_LET(reader, authenticate(ctx, req));
    EQM_TRY_LET(t, readable_transfer(ctx, req.path_param("id"), reader));
    return response::json(200, to_json(t).dump());
}

result<response> create_transfer(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(body, http::read_json_object(req));
    EQM_TRY_LET(r, parse_transfer_request(body, ctx.clock()));
    const transfer_request one[] = {std::move(r)};
    EQM_TRY_LET(created, create_transfers(ctx, one, u, transfer_start::requested));
    auto res = response::json(201, to_json(created.front()).dump());
    res.headers.emplace_back("Location", "/api/v1/transfers/" + created.front().id);
    return res;
}

result<response> approve(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(http::read_json_object(req, {}));
    EQM_TRY_LET(t, approve_transfer(ctx, req.path_param("id"), u));
    return response::json(200, to_json(t).dump());
}

result<response> cancel(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(http::read_json_object(req, {}));
    EQM_TRY_LET(t, cancel_transfer(ctx, req.path_param("id"), u));
    return response::json(200, to_json(t).dump());
}

}  // namespace

void add_transfers_routes(http::router& r, api_context& ctx, std::vector<route_entry>& routes) {
    auto* c = &ctx;
    auto checked = [&](method m, std::string_view pattern,
                       result<response> (*h)(api_context&, const request&)) {
        r.add(m, pattern, [c, h](const request& req) { return answer(h(*c, req)); });
        routes.emplace_back(std::string(http::to_string(m)), std::string(pattern));
    };
    checked(method::get, "/api/v1/transfers", list_transfers);
    checked(method::post, "/api/v1/transfers", create_transfer);
    checked(method::get, "/api/v1/transfers/{id}", show_transfer);
    checked(method::post, "/api/v1/transfers/{id}/approve", approve);
    checked(method::post, "/api/v1/transfers/{id}/cancel", cancel);
    if (ctx.link && ctx.store) watch_transfers(ctx);
}

}  // namespace eqm::server
