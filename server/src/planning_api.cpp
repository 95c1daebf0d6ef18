// The planning routes: quotas, the quota-gap and utilization reports, allocation plans (see
// planning_api.hpp and docs/allocation.md).
#include "planning_api.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include "csv_import.hpp"
#include "eqm/allocation/solver.hpp"
#include "eqm/domain/allocation.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/domain/vocabulary.hpp"
#include "eqm/http/json_body.hpp"
#include "eqm/http/problem.hpp"
#include "eqm/runtime/log.hpp"
#include "paging.hpp"
#include "region.hpp"
#include "transfers_service.hpp"
#include "utilization.hpp"

namespace eqm::server {

using http::method;
using http::request;
using http::response;
using nlohmann::json;

namespace {

/// The largest quota of one city and class.
constexpr std::int64_t max_quota_units = 100'000;
/// The most quota rows one table holds (14 cities x every class and analyte, many times over).
constexpr std::size_t max_quota_rows = 5000;
/// A quota CSV file is small; the HTTP server's default body limit holds it.
constexpr std::string_view quota_csv_header = "city,class,analyte,min_ready";
/// An unapproved plan older than this no longer describes the region: approving it is a 409.
constexpr std::chrono::hours plan_max_age{24};
constexpr std::size_t plan_id_bytes = 8;
/// A transfer of an approved plan is due its travel time after approval plus this long (to
/// hand the units over at the source).
constexpr std::chrono::hours transfer_slack{24};
/// The largest forecast of one city and class.
constexpr std::int64_t max_forecast_units = 1'000'000;

response json_response(unsigned status, const json& j) {
    return response::json(status, j.dump());
}

response answer(result<response> r) {
    return r ? std::move(*r) : http::problem_response(r.error());
}

result<user_account> authenticate(api_context& ctx, const request& req) {
    return ctx.auth->authenticate(req.bearer_token(), ctx.clock());
}

bool region_wide(const user_account& u) {
    return u.role == person_role::dispatcher || u.role == person_role::admin;
}

/// Dispatchers and admins plan and approve; an admin edits quotas.
result<void> require_role(const user_account& u, bool admin_only) {
    if (u.role == person_role::admin || (!admin_only && u.role == person_role::dispatcher))
        return {};
    return fail(errc::forbidden, "role",
                std::string("a ") + std::string(to_string(u.role)) + " may not do this; it needs " +
                    (admin_only ? "an admin" : "a dispatcher or an admin"));
}

/// The city a report of `reader` covers, given `?city=`: the region's readers any (or all), a
/// custodian their own; an officer reads no report.
result<std::optional<std::string>> report_city(const user_account& reader, const request& req) {
    std::optional<std::string> asked;
    if (auto c = req.query_param("city")) {
        if (!find_city(*c))
            return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
        asked = std::string(*c);
    }
    if (region_wide(reader)) return asked;
    if (reader.role == person_role::custodian && reader.city) {
        if (asked && *asked != *reader.city)
            return fail(errc::forbidden, "city", "a custodian reads the reports of their own city");
        return reader.city;
    }
    return fail(errc::forbidden, "role", "reports are for custodians, dispatchers and admins");
}

/// CSV when `?format=csv` or the client accepts text/csv (and not JSON first).
result<bool> wants_csv(const request& req) {
    if (auto f = req.query_param("format")) {
        if (*f == "csv") return true;
        if (*f == "json") return false;
        return fail(errc::bad_field, "format", "must be json or csv");
    }
    const auto accept = req.header("Accept");
    return accept.find("text/csv") != std::string_view::npos &&
           accept.find("application/json") == std::string_view::npos;
}

response csv_response(std::string body) {
    response r;
    r.content_type = "text/csv; charset=utf-8";
    r.body = std::move(body);
    return r;
}

/// A cell of CSV output, quoted when it needs to be.
std::string csv_cell(std::string_view v) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

/// The page of `items` (each with its sort key, in key order) that `q` asks for.
json page_of(const std::vector<std::pair<std::string, json>>& items, const page_query& q,
             std::string_view list) {
    json out = json::array();
    std::optional<std::string> next;
    std::string last;
    for (const auto& [key, item] : items) {
        if (q.after && key <= *q.after) continue;
        if (out.size() == q.limit) {
            next = last;
            break;
        }
        out.push_back(item);
        last = key;
    }
    return page_json(std::move(out), list, next);
}

// --- quotas ----------------------------------------------------------------------------------

std::string quota_key(const quota_entry& q) {
    return q.city + "|" + q.cls + "|" + q.analyte.value_or("");
}

json quota_json(const quota_entry& q) {
    json j{{"city", q.city}, {"class", q.cls}, {"min_ready", q.min_ready}};
    if (q.analyte) j["analyte"] = *q.analyte;
    return j;
}

result<quota_entry> quota_from_json(const json& j, const std::string& path) {
    if (!j.is_object()) return fail(errc::bad_field, path, "must be an object");
    for (const auto& [k, v] : j.items()) {
        if (k != "city" && k != "class" && k != "analyte" && k != "min_ready")
            return fail(errc::unknown_field, path + "." + k, "unknown field");
    }
    quota_entry q;
    auto text = [&](const char* name) -> result<std::string> {
        auto it = j.find(name);
        if (it == j.end()) return fail(errc::bad_field, path + "." + name, "is required");
        if (!it->is_string()) return fail(errc::bad_field, path + "." + name, "must be a string");
        return it->get<std::string>();
    };
    EQM_TRY_LET(city, text("city"));
    if (!find_city(city))
        return fail(errc::bad_field, path + ".city",
                    "unknown city \"" + city + "\": not one of the region's 14 city codes");
    EQM_TRY_LET(cls, text("class"));
    if (!parse_device_class(cls))
        return fail(errc::bad_field, path + ".class",
                    "unknown class \"" + cls + "\": must be body_camera, drone, analyzer or dock");
    q.city = std::move(city);
    q.cls = std::move(cls);
    if (auto it = j.find("analyte"); it != j.end() && !it->is_null()) {
        if (!it->is_string() || !parse_analyte(it->get<std::string>()))
            return fail(errc::bad_field, path + ".analyte",
                        "must be cod, nh3n, voc, so2, nox or noise");
        if (q.cls != "analyzer")
            return fail(errc::bad_field, path + ".analyte",
                        "only an analyzer quota has an analyte");
        q.analyte = it->get<std::string>();
    }
    auto m = j.find("min_ready");
    if (m == j.end()) return fail(errc::bad_field, path + ".min_ready", "is required");
    if (!m->is_number_integer() || m->get<std::int64_t>() < 0 ||
        m->get<std::int64_t>() > max_quota_units)
        return fail(errc::bad_field, path + ".min_ready",
                    "must be a whole number 0.." + std::to_string(max_quota_units));
    q.min_ready = m->get<std::int64_t>();
    return q;
}

/// The quota table of a PUT body, each (city, class, analyte) once.
result<std::vector<quota_entry>> quotas_from_body(const json& body) {
    auto it = body.find("items");
    if (it == body.end()) return fail(errc::bad_field, "items", "is required");
    if (!it->is_array()) return fail(errc::bad_field, "items", "must be an array");
    if (it->size() > max_quota_rows)
        return fail(errc::bad_field, "items",
                    "at most " + std::to_string(max_quota_rows) + " quotas");
    std::vector<quota_entry> out;
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string path = "items[" + std::to_string(i) + "]";
        EQM_TRY_LET(q, quota_from_json((*it)[i], path));
        auto [at, fresh] = seen.emplace(quota_key(q), i);
        if (!fresh)
            return fail(errc::bad_field, path,
                        "duplicate of items[" + std::to_string(at->second) + "]");
        out.push_back(std::move(q));
    }
    return out;
}

result<response> put_quotas(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(require_role(u, true));
    EQM_TRY_LET(body, http::read_json_object(req, {"items"}));
    EQM_TRY_LET(quotas, quotas_from_body(body));
    EQM_TRY(ctx.store->replace_quotas(quotas, ctx.clock()));
    log_info("planning", "quotas_replaced by=" + log_value(u.id) +
                             " rows=" + log_value(std::to_string(quotas.size())));
    json items = json::array();
    for (const auto& q : quotas) items.push_back(quota_json(q));
    return json_response(200, json{{"items", std::move(items)}, {"next_cursor", nullptr}});
}

result<response> get_quotas(api_context& ctx, const request& req) {
    EQM_TRY(authenticate(ctx, req));
    EQM_TRY_LET(q, read_page_query(req, "quotas"));
    EQM_TRY_LET(quotas, ctx.store->quotas());
    std::vector<std::pair<std::string, json>> items;
    for (const auto& x : quotas) items.emplace_back(quota_key(x), quota_json(x));
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return json_response(200, page_of(items, q, "quotas"));
}

/// A row error of a CSV import.
json row_error(std::size_t line, std::string_view field, std::size_t column, std::string message) {
    json r{{"line", line}, {"field", field}, {"message", std::move(message)}};
    if (column > 0) r["column"] = column;
    return r;
}

/// The quota of one CSV record (cells in header order), or its row error.
std::optional<json> quota_row_error(const csv_record& rec, const std::vector<std::string>& header,
                                    quota_entry& out) {
    json obj = json::object();
    for (std::size_t c = 0; c < header.size(); ++c) {
        std::string cell = rec.cells[c];
        cell.erase(0, cell.find_first_not_of(" \t"));
        cell.erase(cell.find_last_not_of(" \t") + 1);
        if (cell.empty()) continue;
        if (header[c] == "min_ready") {
            std::int64_t v = 0;
            auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
            if (ec != std::errc() || p != cell.data() + cell.size())
                return row_error(rec.line, "min_ready", c + 1, "must be a whole number");
            obj["min_ready"] = v;
        } else {
            obj[header[c]] = cell;
        }
    }
    auto q = quota_from_json(obj, "row");
    if (!q) {
        auto field = q.error().field.substr(q.error().field.find('.') + 1);
        const auto col = std::find(header.begin(), header.end(), field) - header.begin();
        return row_error(rec.line, field, static_cast<std::size_t>(col) + 1, q.error().message);
    }
    out = std::move(*q);
    return std::nullopt;
}

/// The header of a quota CSV: its columns in order, or the errors that refuse it.
std::vector<std::string> quota_csv_columns(const csv_record& head, json& errors) {
    std::vector<std::string> header;
    for (std::size_t c = 0; c < head.cells.size(); ++c) {
        std::string h = head.cells[c];
        h.erase(0, h.find_first_not_of(" \t"));
        h.erase(h.find_last_not_of(" \t") + 1);
        if (h != "city" && h != "class" && h != "analyte" && h != "min_ready")
            errors.push_back(
                row_error(head.line, h, c + 1,
                          "unknown column; the header is " + std::string(quota_csv_header)));
        header.push_back(std::move(h));
    }
    for (std::string_view need : {"city", "class", "min_ready"}) {
        if (std::find(header.begin(), header.end(), need) == header.end())
            errors.push_back(row_error(head.line, need, 0, "required column is missing"));
    }
    return header;
}

/// Every quota of a CSV file, or every row error.
std::pair<std::vector<quota_entry>, json> parse_quota_csv(std::string_view text) {
    std::vector<quota_entry> rows;
    json errors = json::array();
    auto records = split_csv(text);
    if (records.empty()) {
        errors.push_back(
            row_error(1, "header", 0,
                      "the file is empty; expected the header " + std::string(quota_csv_header)));
        return {rows, errors};
    }
    auto header = quota_csv_columns(records.front(), errors);
    if (!errors.empty()) return {rows, errors};
    std::map<std::string, std::size_t> first_line;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        if (rec.cells.size() != header.size()) {
            errors.push_back(row_error(rec.line, "row", 0,
                                       "has " + std::to_string(rec.cells.size()) +
                                           " cells; the header has " +
                                           std::to_string(header.size())));
            continue;
        }
        quota_entry q;
        if (auto e = quota_row_error(rec, header, q)) {
            errors.push_back(std::move(*e));
            continue;
        }
        auto [it, fresh] = first_line.emplace(quota_key(q), rec.line);
        if (!fresh) {
            errors.push_back(
                row_error(rec.line, "row", 0, "duplicate of line " + std::to_string(it->second)));
            continue;
        }
        rows.push_back(std::move(q));
    }
    return {rows, errors};
}

result<response> import_quotas(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(require_role(u, true));
    EQM_TRY_LET(text, decode_upload(req.body, charset_of(req.header("Content-Type"))));
    auto [rows, errors] = parse_quota_csv(text);
    if (!errors.empty())
        return http::problem_response(
            error{errc::bad_field, "body",
                  std::to_string(errors.size()) + " row(s) refused; nothing was imported"},
            json{{"errors", std::move(errors)}});
    if (rows.size() > max_quota_rows)
        return fail(errc::bad_field, "body",
                    "at most " + std::to_string(max_quota_rows) + " quotas");
    EQM_TRY(ctx.store->replace_quotas(rows, ctx.clock()));
    log_info("planning", "quotas_imported by=" + log_value(u.id) +
                             " rows=" + log_value(std::to_string(rows.size())));
    return json_response(200, json{{"imported", rows.size()}});
}

// --- the quota gap ---------------------------------------------------------------------------

struct gap_row {
    quota_entry quota;
    std::int64_t stock = 0, ready = 0, in_use = 0, in_transit = 0;
    std::int64_t gap() const {
        return std::max<std::int64_t>(0, quota.min_ready - ready - in_transit);
    }
};

/// Whether units of (cls, analyte) count towards `q`: the same class, and the quota's analyte
/// when it names one.
bool counts_towards(const quota_entry& q, const std::string& cls,
                    const std::optional<std::string>& analyte) {
    return q.cls == cls && (!q.analyte || q.analyte == analyte);
}

result<std::vector<gap_row>> quota_gaps(api_context& ctx) {
    EQM_TRY_LET(quotas, ctx.store->quotas());
    EQM_TRY_LET(stock, ctx.store->stock_counts());
    EQM_TRY_LET(transit, ctx.store->transit_counts());
    std::vector<gap_row> out;
    for (auto& q : quotas) {
        gap_row g{q};
        for (const auto& s : stock) {
            if (s.city != q.city || !counts_towards(q, s.cls, s.analyte)) continue;
            g.stock += s.stock;
            g.ready += s.ready;
            g.in_use += s.in_use;
        }
        for (const auto& t : transit)
            if (t.to_city == q.city && counts_towards(q, t.cls, t.analyte)) g.in_transit += t.count;
        out.push_back(std::move(g));
    }
    return out;
}

json gap_json(const gap_row& g) {
    json j{{"city", g.quota.city},       {"class", g.quota.cls}, {"quota", g.quota.min_ready},
           {"stock", g.stock},           {"ready", g.ready},     {"in_use", g.in_use},
           {"in_transit", g.in_transit}, {"gap", g.gap()}};
    if (g.quota.analyte) j["analyte"] = *g.quota.analyte;
    return j;
}

result<response> quota_gap_report(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(city, report_city(u, req));
    EQM_TRY_LET(csv, wants_csv(req));
    std::optional<std::string> cls;
    if (auto c = req.query_param("class")) {
        if (!parse_device_class(*c))
            return fail(errc::bad_field, "class", "must be body_camera, drone, analyzer or dock");
        cls = std::string(*c);
    }
    EQM_TRY_LET(q, read_page_query(req, "quota-gap"));
    EQM_TRY_LET(rows, quota_gaps(ctx));
    std::erase_if(rows, [&](const gap_row& g) {
        return (city && g.quota.city != *city) || (cls && g.quota.cls != *cls);
    });
    if (csv) {
        std::string out = "city,class,analyte,quota,stock,ready,in_use,in_transit,gap\r\n";
        for (const auto& g : rows) {
            out += g.quota.city + "," + g.quota.cls + "," + csv_cell(g.quota.analyte.value_or("")) +
                   "," + std::to_string(g.quota.min_ready) + "," + std::to_string(g.stock) + "," +
                   std::to_string(g.ready) + "," + std::to_string(g.in_use) + "," +
                   std::to_string(g.in_transit) + "," + std::to_string(g.gap()) + "\r\n";
        }
        return csv_response(std::move(out));
    }
    std::vector<std::pair<std::string, json>> items;
    for (const auto& g : rows) items.emplace_back(quota_key(g.quota), gap_json(g));
    return json_response(200, page_of(items, q, "quota-gap"));
}

// --- the allocation plan ---------------------------------------------------------------------

/// The plan class of a unit: analyzers of a known analyte pool by analyte (`analyzer:cod`),
/// everything else by its class.
std::string pool_of(const std::string& cls, const std::optional<std::string>& analyte) {
    return cls == "analyzer" && analyte ? "analyzer:" + *analyte : cls;
}

/// The forecast of a plan request: `{city: {class: units}}`.
result<std::map<std::pair<std::string, std::string>, std::int64_t>> read_forecast(
    const json& body) {
    std::map<std::pair<std::string, std::string>, std::int64_t> out;
    auto it = body.find("forecast");
    if (it == body.end()) return out;
    if (!it->is_object()) return fail(errc::bad_field, "forecast", "must be an object");
    for (const auto& [city, per_class] : it->items()) {
        const std::string path = "forecast." + city;
        if (!find_city(city))
            return fail(errc::bad_field, path,
                        "unknown city \"" + city + "\": not one of the region's 14 city codes");
        if (!per_class.is_object()) return fail(errc::bad_field, path, "must be an object");
        for (const auto& [cls, units] : per_class.items()) {
            if (!is_region_plan_class(cls))
                return fail(errc::bad_field, path + "." + cls,
                            "unknown class \"" + cls +
                                "\": must be body_camera, drone, analyzer, dock or "
                                "analyzer:<analyte>");
            if (!units.is_number_integer() || units.get<std::int64_t>() < 0 ||
                units.get<std::int64_t>() > max_forecast_units)
                return fail(errc::bad_field, path + "." + cls,
                            "must be a whole number 0.." + std::to_string(max_forecast_units));
            out[{city, cls}] = units.get<std::int64_t>();
        }
    }
    return out;
}

/// What the live data says, per (city, plan class).
struct live_figures {
    std::map<std::pair<std::string, std::string>, std::int64_t> stock, quota, reserved;
    std::set<std::string> classes;
};

result<live_figures> read_live_figures(api_context& ctx) {
    live_figures f;
    EQM_TRY_LET(stock, ctx.store->stock_counts());
    EQM_TRY_LET(transit, ctx.store->transit_counts());
    EQM_TRY_LET(quotas, ctx.store->quotas());
    EQM_TRY_LET(booked, ctx.store->booked_counts(ctx.clock()));
    for (const auto& s : stock) {
        const auto pool = pool_of(s.cls, s.analyte);
        f.stock[{s.city, pool}] += s.ready;
        f.classes.insert(pool);
    }
    for (const auto& t : transit) {
        const auto pool = pool_of(t.cls, t.analyte);
        f.stock[{t.to_city, pool}] += t.count;
        f.classes.insert(pool);
    }
    for (const auto& q : quotas) {
        const auto pool = pool_of(q.cls, q.analyte);
        f.quota[{q.city, pool}] += q.min_ready;
        f.classes.insert(pool);
    }
    for (const auto& b : booked) {
        const auto pool = pool_of(b.cls, b.analyte);
        f.reserved[{b.city, pool}] += b.count;
        f.classes.insert(pool);
    }
    return f;
}

/// The classes a plan covers: those of the body, or every class with stock, quota or forecast.
result<std::vector<std::string>> plan_classes(const json& body, const live_figures& f,
                                              const std::set<std::string>& forecast_classes) {
    std::vector<std::string> out;
    if (auto it = body.find("classes"); it != body.end()) {
        if (!it->is_array() || it->empty())
            return fail(errc::bad_field, "classes", "must be a non-empty array of class names");
        for (std::size_t i = 0; i < it->size(); ++i) {
            if (!(*it)[i].is_string())
                return fail(errc::bad_field, "classes[" + std::to_string(i) + "]",
                            "must be a string");
            out.push_back((*it)[i].get<std::string>());
        }
        for (const auto& c : forecast_classes)
            if (std::find(out.begin(), out.end(), c) == out.end())
                return fail(errc::bad_field, "forecast",
                            "has class \"" + c + "\", which is not in classes");
        return out;
    }
    std::set<std::string> all = f.classes;
    all.insert(forecast_classes.begin(), forecast_classes.end());
    if (all.empty()) all = {"body_camera", "drone", "analyzer", "dock"};
    return std::vector<std::string>(all.begin(), all.end());
}

/// The contract's plan input, made from the live registry, transfers and quotas plus what the
/// request body adds (classes, forecast, travel_minutes, cost_per_unit_minute, penalty).
result<allocation_input> live_plan_input(api_context& ctx, const json& body) {
    EQM_TRY_LET(forecast, read_forecast(body));
    EQM_TRY_LET(f, read_live_figures(ctx));
    std::set<std::string> forecast_classes;
    for (const auto& [key, units] : forecast) forecast_classes.insert(key.second);
    EQM_TRY_LET(classes, plan_classes(body, f, forecast_classes));
    json in{{"classes", classes}, {"stock", json::object()}, {"demand", json::object()}};
    json cities = json::array();
    for (const auto& c : region_cities) {
        const std::string city(c.code);
        cities.push_back(city);
        for (const auto& cls : classes) {
            if (auto s = f.stock.find({city, cls}); s != f.stock.end() && s->second > 0)
                in["stock"][city][cls] = s->second;
            json demand = json::object();
            if (auto r = f.reserved.find({city, cls}); r != f.reserved.end() && r->second > 0)
                demand["reserved"] = r->second;
            if (auto q = f.quota.find({city, cls}); q != f.quota.end() && q->second > 0)
                demand["quota"] = q->second;
            if (auto x = forecast.find({city, cls}); x != forecast.end() && x->second > 0)
                demand["forecast"] = x->second;
            if (!demand.empty()) in["demand"][city][cls] = std::move(demand);
        }
    }
    in["cities"] = std::move(cities);
    for (const char* k : {"travel_minutes", "cost_per_unit_minute", "penalty"})
        if (auto it = body.find(k); it != body.end()) in[k] = *it;
    return parse_allocation_input(in, plan_names::region);
}

std::string new_plan_id() {
    std::array<unsigned char, plan_id_bytes> raw{};
    randombytes_buf(raw.data(), raw.size());
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "plan-";
    for (auto b : raw) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return id;
}

/// The plan resource: the plan, its id, input, who asked and when, and its approval.
json plan_resource(const stored_plan& p) {
    json j = json::parse(p.plan, nullptr, false);
    if (!j.is_object()) j = json::object();
    j["id"] = p.id;
    j["input"] = json::parse(p.input, nullptr, false);
    j["requested_by"] = p.requested_by;
    j["created_at"] = format_timestamp(p.created_at);
    j["status"] = p.approved_at ? "approved" : "proposed";
    j["approved_by"] = p.approved_by ? json(*p.approved_by) : json(nullptr);
    j["approved_at"] = p.approved_at ? json(format_timestamp(*p.approved_at)) : json(nullptr);
    json approval = p.approval ? json::parse(*p.approval, nullptr, false) : json::object();
    j["approved_moves"] =
        approval.is_object() && approval.contains("moves") ? approval["moves"] : json(nullptr);
    j["transfers"] = approval.is_object() && approval.contains("transfers") ? approval["transfers"]
                                                                            : json::array();
    return j;
}

result<response> make_plan(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(require_role(u, false));
    EQM_TRY_LET(body, http::read_json_object(req, {"classes", "forecast", "travel_minutes",
                                                   "cost_per_unit_minute", "penalty"}));
    EQM_TRY_LET(input, live_plan_input(ctx, body));
    EQM_TRY_LET(plan, allocation::solve(input));
    stored_plan p;
    p.id = new_plan_id();
    p.input = to_json(input).dump();
    p.plan = to_json(plan).dump();
    p.requested_by = u.id;
    p.created_at = ctx.clock();
    EQM_TRY(ctx.store->insert_plan(p));
    log_info("planning", "plan_made id=" + log_value(p.id) + " by=" + log_value(u.id) +
                             " moves=" + log_value(std::to_string(plan.moves.size())));
    auto res = json_response(201, plan_resource(p));
    res.headers.emplace_back("Location", "/api/v1/allocation/plans/" + p.id);
    return res;
}

result<stored_plan> existing_plan(api_context& ctx, std::string_view id) {
    EQM_TRY_LET(p, ctx.store->find_plan(id));
    if (!p) return fail(errc::not_found, "id", "no allocation plan " + std::string(id));
    return std::move(*p);
}

result<response> show_plan(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(require_role(u, false));
    EQM_TRY_LET(p, existing_plan(ctx, req.path_param("id")));
    return json_response(200, plan_resource(p));
}

/// The move indexes of an approval body: `moves` (distinct, within the plan), else every move.
result<std::vector<std::size_t>> approved_moves(const json& body, std::size_t plan_moves) {
    std::vector<std::size_t> out;
    auto it = body.find("moves");
    if (it == body.end()) {
        for (std::size_t i = 0; i < plan_moves; ++i) out.push_back(i);
        return out;
    }
    if (!it->is_array() || it->empty())
        return fail(errc::bad_field, "moves", "must be a non-empty array of move indexes");
    std::set<std::size_t> seen;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& v = (*it)[i];
        const std::string path = "moves[" + std::to_string(i) + "]";
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
            v.get<std::uint64_t>() >= plan_moves)
            return fail(errc::bad_field, path,
                        "must be the index of one of the plan's " + std::to_string(plan_moves) +
                            " moves (0.." + std::to_string(plan_moves - 1) + ")");
        if (!seen.insert(v.get<std::size_t>()).second)
            return fail(errc::bad_field, path, "names a move twice");
        out.push_back(v.get<std::size_t>());
    }
    return out;
}

/// The transfer a move of plan `id` becomes: its units counted by class (and analyte).
transfer_request move_transfer(const std::string& id, std::size_t index, const json& move,
                               clock_ms now) {
    transfer_request t;
    t.from_city = move.value("from", "");
    t.to_city = move.value("to", "");
    const auto cls = move.value("class", "");
    transfer_item item;
    const auto colon = cls.find(':');
    item.cls = parse_device_class(cls.substr(0, colon));
    if (colon != std::string::npos) item.analyte_type = parse_analyte(cls.substr(colon + 1));
    item.count = move.value("count", 0U);
    t.items.push_back(item);
    const auto eta =
        std::chrono::minutes(static_cast<std::int64_t>(std::ceil(move.value("eta_minutes", 0.0))));
    t.due = now + eta + transfer_slack;
    t.reason = "allocation plan " + id + ", move " + std::to_string(index);
    return t;
}

/// One approval at a time: the check that a plan is not approved yet and the transfers it
/// creates must not interleave with another approval of the same plan.
std::mutex approval_mutex;

result<response> approve_plan(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY(require_role(u, false));
    EQM_TRY_LET(body, http::read_json_object(req, {"moves"}));
    std::lock_guard lock(approval_mutex);
    EQM_TRY_LET(p, existing_plan(ctx, req.path_param("id")));
    if (p.approved_at)
        return fail(errc::conflict, "id",
                    "plan " + p.id + " was approved by " + p.approved_by.value_or("?") + " at " +
                        format_timestamp(*p.approved_at));
    const auto now = ctx.clock();
    if (now - p.created_at > plan_max_age)
        return fail(errc::expired, "id",
                    "plan " + p.id + " was made at " + format_timestamp(p.created_at) +
                        ", more than 24 h ago: make a new plan from today's stock");
    const json plan = json::parse(p.plan, nullptr, false);
    const json moves = plan.is_object() ? plan.value("moves", json::array()) : json::array();
    if (moves.empty()) return fail(errc::conflict, "id", "plan " + p.id + " has no moves");
    EQM_TRY_LET(chosen, approved_moves(body, moves.size()));
    std::vector<transfer_request> requests;
    for (auto i : chosen) requests.push_back(move_transfer(p.id, i, moves[i], now));
    auto made = create_transfers(ctx, requests, u, transfer_start::approved);
    if (!made) {
        auto e = made.error();
        if (e.code == errc::conflict)
            e.message = "the plan is stale, the region changed since it was made: " + e.message;
        return std::unexpected(std::move(e));
    }
    json ids = json::array(), transfers = json::array();
    for (const auto& t : *made) {
        ids.push_back(t.id);
        transfers.push_back(to_json(t));
    }
    EQM_TRY(ctx.store->approve_plan(p.id, u.id, now,
                                    json{{"moves", chosen}, {"transfers", ids}}.dump()));
    log_info("planning", "plan_approved id=" + log_value(p.id) + " by=" + log_value(u.id) +
                             " transfers=" + log_value(std::to_string(made->size())));
    return json_response(200, json{{"transfers", std::move(transfers)}});
}

// --- the utilization report ------------------------------------------------------------------

result<utilization_query> utilization_request(const user_account& u, const request& req,
                                              clock_ms now) {
    utilization_query q;
    q.now = now;
    EQM_TRY_LET(city, report_city(u, req));
    q.city = std::move(city);
    if (auto c = req.query_param("class")) {
        if (!parse_device_class(*c))
            return fail(errc::bad_field, "class", "must be body_camera, drone, analyzer or dock");
        q.cls = std::string(*c);
    }
    if (auto g = req.query_param("granularity")) {
        if (*g != "day" && *g != "total")
            return fail(errc::bad_field, "granularity", "must be day or total");
        q.per_day = *g == "day";
    }
    const auto today = std::chrono::floor<std::chrono::days>(now + report_utc_offset);
    q.to = today;
    if (auto t = req.query_param("to")) {
        EQM_TRY_LET(d, parse_date(*t, "to"));
        q.to = d;
    }
    q.from = q.to - std::chrono::days{29};
    if (auto f = req.query_param("from")) {
        EQM_TRY_LET(d, parse_date(*f, "from"));
        q.from = d;
    }
    if (q.from > q.to) return fail(errc::bad_field, "from", "must not be after to");
    if ((q.to - q.from).count() + 1 > max_report_days)
        return fail(errc::bad_field, "from",
                    "the range is at most " + std::to_string(max_report_days) + " days");
    return q;
}

result<response> utilization_report(api_context& ctx, const request& req) {
    EQM_TRY_LET(u, authenticate(ctx, req));
    EQM_TRY_LET(q, utilization_request(u, req, ctx.clock()));
    EQM_TRY_LET(csv, wants_csv(req));
    EQM_TRY_LET(devices, ctx.store->device_briefs());
    utilization_builder b(q, devices);
    const auto end = std::chrono::sys_days(q.to + std::chrono::days{1}) - report_utc_offset;
    EQM_TRY(
        ctx.store->scan_custody_states(std::chrono::time_point_cast<std::chrono::milliseconds>(end),
                                       [&](const custody_state_row& row) { b.add(row); }));
    const auto begin = std::chrono::sys_days(q.from) - report_utc_offset;
    EQM_TRY(
        ctx.store->scan_stock_outs(std::chrono::time_point_cast<std::chrono::milliseconds>(begin),
                                   std::chrono::time_point_cast<std::chrono::milliseconds>(end),
                                   [&](const std::string& city, const std::string& cls,
                                       clock_ms at) { b.add_stock_out(city, cls, at); }));
    auto groups = b.finish();
    if (csv) return csv_response(utilization_csv(q, groups));
    return json_response(200, utilization_json(q, groups));
}

}  // namespace

std::vector<route_entry> add_planning_routes(http::router& r, api_context& ctx) {
    std::vector<route_entry> routes;
    auto* c = &ctx;
    auto checked = [&](method m, std::string_view pattern,
                       result<response> (*h)(api_context&, const request&)) {
        r.add(m, pattern, [c, h](const request& req) { return answer(h(*c, req)); });
        routes.emplace_back(std::string(http::to_string(m)), std::string(pattern));
    };
    checked(method::get, "/api/v1/quotas", get_quotas);
    checked(method::put, "/api/v1/quotas", put_quotas);
    checked(method::post, "/api/v1/quotas/import", import_quotas);
    checked(method::get, "/api/v1/reports/quota-gap", quota_gap_report);
    checked(method::get, "/api/v1/reports/utilization", utilization_report);
    checked(method::post, "/api/v1/allocation/plan", make_plan);
    checked(method::get, "/api/v1/allocation/plans/{id}", show_plan);
    checked(method::post, "/api/v1/allocation/plans/{id}/approve", approve_plan);
    return routes;
}

}  // namespace eqm::server
