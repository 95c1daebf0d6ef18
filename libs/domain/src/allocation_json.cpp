// The plan input and the plan as JSON: the reader of `POST /api/v1/allocation/plan` and
// `eqm plan FILE.json` (every refusal names its field), and the writers.
#include <charconv>
#include <cmath>

#include "allocation_names.hpp"
#include "eqm/domain/allocation.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/domain/vocabulary.hpp"
#include "payloads_reader.hpp"

namespace eqm {

namespace {

using detail::index_of;
using detail::json;
using detail::name_index;

constexpr std::size_t max_plan_name_chars = 64;
constexpr std::string_view region_classes_text =
    "body_camera, drone, analyzer, dock or analyzer:<analyte> (cod, nh3n, voc, so2, nox, noise)";

bool is_plan_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_plan_name_chars) return false;
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string micros_text(micros v) {
    const auto whole = std::to_string(v / micros_per_unit);
    auto frac = std::to_string(v % micros_per_unit);
    if (v % micros_per_unit == 0) return whole;
    frac.insert(0, static_cast<std::size_t>(max_decimal_places) - frac.size(), '0');
    while (frac.back() == '0') frac.pop_back();
    return whole + "." + frac;
}

/// The JSON number nearest to the exact decimal (integers stay integers).
json micros_json(micros v) {
    if (v % micros_per_unit == 0) return json(v / micros_per_unit);
    return json::parse(micros_text(v));
}

/// A number 0..max as exact micros; more than 6 decimal places is refused.
result<micros> to_micros(const json& j, const std::string& path, micros max) {
    if (!j.is_number()) return detail::wrong_type(path, "a number");
    const auto range = [&] {
        return fail(errc::bad_field, path, "out of range: must be 0.." + micros_text(max));
    };
    if (j.is_number_unsigned()) {
        const auto v = j.get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(max / micros_per_unit)) return range();
        return static_cast<micros>(v) * micros_per_unit;
    }
    if (j.is_number_integer()) {
        const auto v = j.get<std::int64_t>();
        if (v < 0 || v > max / micros_per_unit) return range();
        return v * micros_per_unit;
    }
    const double v = j.get<double>();
    if (!std::isfinite(v) || v < 0 || v > static_cast<double>(max) / micros_per_unit)
        return range();
    if (v == 0) return micros{0};
    // The shortest decimal that reads back as this double is what the sender wrote.
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    if (ec != std::errc{}) return range();
    const std::string_view text(buf, static_cast<std::size_t>(end - buf));
    const auto dot = text.find('.');
    const auto whole = text.substr(0, dot);
    const auto frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (frac.size() > static_cast<std::size_t>(max_decimal_places))
        return fail(errc::bad_field, path,
                    "too precise: at most 6 decimal places, is " + std::string(text));
    micros w = 0, f = 0;
    std::from_chars(whole.data(), whole.data() + whole.size(), w);
    if (!frac.empty()) std::from_chars(frac.data(), frac.data() + frac.size(), f);
    for (std::size_t i = frac.size(); i < static_cast<std::size_t>(max_decimal_places); ++i)
        f *= 10;
    return w * micros_per_unit + f;
}

auto micros_reader(micros max) {
    return [=](const json& j, const std::string& p) { return to_micros(j, p, max); };
}

result<std::string> to_city_name(const json& j, const std::string& path, plan_names names) {
    if (!j.is_string()) return detail::wrong_type(path, "a string");
    const auto& s = j.get_ref<const std::string&>();
    if (names == plan_names::any) {
        if (!is_plan_name(s))
            return fail(errc::bad_field, path, "pattern: must match ^[A-Za-z0-9_:.-]{1,64}$");
        return s;
    }
    if (find_city(s) == nullptr)
        return fail(
            errc::bad_field, path,
            "unknown city " + detail::dump(json(s)) + ": not one of the region's 14 city codes");
    return s;
}

result<std::string> to_class_name(const json& j, const std::string& path, plan_names names) {
    if (!j.is_string()) return detail::wrong_type(path, "a string");
    const auto& s = j.get_ref<const std::string&>();
    if (names == plan_names::any) {
        if (!is_plan_name(s))
            return fail(errc::bad_field, path, "pattern: must match ^[A-Za-z0-9_:.-]{1,64}$");
        return s;
    }
    if (!is_region_plan_class(s))
        return fail(errc::bad_field, path,
                    "unknown class " + detail::dump(json(s)) + ": must be " +
                        std::string(region_classes_text));
    return s;
}

/// An array of distinct names, each read by `one`.
template <class One>
auto name_list(std::size_t max_items, One one) {
    return [=](const json& j, const std::string& path) -> result<std::vector<std::string>> {
        EQM_TRY_LET(list, detail::to_array(j, path, 1, max_items, one));
        name_index seen;
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (!seen.emplace(list[i], i).second)
                return fail(errc::bad_field, detail::index_path(path, i),
                            "duplicate: " + detail::dump(json(list[i])) + " is listed twice");
        }
        return list;
    };
}

/// Visits `{city: {class: value}}`, resolving both names; `cell(value, path, index)`.
template <class Cell>
result<void> for_each_cell(const json& j, const std::string& path, const allocation_input& in,
                           Cell cell) {
    if (!j.is_object()) return detail::wrong_type(path, "an object");
    const auto cities = index_of(in.cities);
    const auto classes = index_of(in.classes);
    for (const auto& [city, row] : j.items()) {
        const auto row_path = detail::join_path(path, city);
        const auto c = cities.find(city);
        if (c == cities.end())
            return fail(errc::bad_field, row_path,
                        "unknown city " + detail::dump(json(city)) + ": not in cities");
        if (!row.is_object()) return detail::wrong_type(row_path, "an object");
        for (const auto& [cls, value] : row.items()) {
            const auto cell_path = detail::join_path(row_path, cls);
            const auto k = classes.find(cls);
            if (k == classes.end())
                return fail(errc::bad_field, cell_path,
                            "unknown class " + detail::dump(json(cls)) + ": not in classes");
            EQM_TRY(cell(value, cell_path, c->second * in.class_count() + k->second));
        }
    }
    return {};
}

result<kind_units> to_demand_cell(const json& j, const std::string& path) {
    detail::object_reader r(j, path, "demand");
    kind_units out;
    for (const auto kind : demand_kinds) {
        std::optional<std::uint64_t> v;
        r.opt(to_string(kind), v, detail::uint(0, max_plan_units));
        if (v) out[kind] = static_cast<std::int64_t>(*v);
    }
    return detail::finish(r, std::move(out));
}

result<std::vector<micros>> to_travel(const json& j, const std::string& path, std::size_t n) {
    if (!j.is_array()) return detail::wrong_type(path, "an array");
    const auto square = "not square: must have " + std::to_string(n) +
                        " rows of as many entries, one per city in the order of cities";
    if (j.size() != n)
        return fail(errc::bad_field, path, square + "; has " + std::to_string(j.size()) + " rows");
    std::vector<micros> out(n * n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const auto row_path = detail::index_path(path, i);
        if (!j[i].is_array()) return detail::wrong_type(row_path, "an array");
        if (j[i].size() != n)
            return fail(errc::bad_field, row_path,
                        square + "; this row has " + std::to_string(j[i].size()));
        for (std::size_t k = 0; k < n; ++k) {
            const auto& v = j[i][k];
            if (v.is_null()) {
                out[i * n + k] = unreachable;
                continue;
            }
            EQM_TRY_LET(t, to_micros(v, detail::index_path(row_path, k), max_travel_minutes));
            out[i * n + k] = t;
        }
    }
    return out;
}

/// Road-time estimates between the region's cities (region.hpp), in whole minutes.
std::vector<micros> estimated_travel(const std::vector<std::string>& cities) {
    const std::size_t n = cities.size();
    std::vector<micros> out(n * n, 0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k)
            if (i != k)
                out[i * n + k] = road_time(*find_city(cities[i]), *find_city(cities[k])).count() *
                                 micros_per_unit;
    return out;
}

result<std::array<micros, 3>> to_penalty(const json& j, const std::string& path) {
    detail::object_reader r(j, path, "penalty");
    auto out = default_penalty;
    for (const auto kind : demand_kinds) {
        std::optional<micros> v;
        r.opt(to_string(kind), v, micros_reader(max_penalty));
        if (v) out[static_cast<std::size_t>(kind)] = *v;
    }
    return detail::finish(r, std::move(out));
}

/// stock and demand, once cities and classes are known (skipped after an earlier problem).
void read_cells(detail::object_reader& r, allocation_input& in) {
    bool read = false;
    r.req("stock", read, [&](const json& v, const std::string& p) -> result<bool> {
        EQM_TRY(for_each_cell(
            v, p, in, [&](const json& cell, const std::string& at, std::size_t i) -> result<void> {
                EQM_TRY_LET(units, detail::to_uint(cell, at, 0, max_plan_units));
                in.stock[i] = static_cast<std::int64_t>(units);
                return result<void>{};
            }));
        return true;
    });
    r.req("demand", read, [&](const json& v, const std::string& p) -> result<bool> {
        EQM_TRY(for_each_cell(
            v, p, in, [&](const json& cell, const std::string& at, std::size_t i) -> result<void> {
                EQM_TRY_LET(units, to_demand_cell(cell, at));
                in.demand[i] = units;
                return result<void>{};
            }));
        return true;
    });
}

}  // namespace

bool is_region_plan_class(std::string_view name) noexcept {
    if (parse_device_class(name)) return true;
    constexpr std::string_view prefix = "analyzer:";
    return name.starts_with(prefix) && parse_analyte(name.substr(prefix.size())).has_value();
}

result<allocation_input> parse_allocation_input(const json& j, plan_names names) {
    detail::object_reader r(j, "", "allocation plan input");
    std::vector<std::string> cities, classes;
    r.req("cities", cities, name_list(max_plan_cities, [=](const json& v, const std::string& p) {
              return to_city_name(v, p, names);
          }));
    r.req("classes", classes, name_list(max_plan_classes, [=](const json& v, const std::string& p) {
              return to_class_name(v, p, names);
          }));
    auto in = allocation_input::empty(std::move(cities), std::move(classes));
    read_cells(r, in);
    std::optional<std::vector<micros>> travel;
    r.opt("travel_minutes", travel, [n = in.city_count()](const json& v, const std::string& p) {
        return to_travel(v, p, n);
    });
    std::optional<micros> per_minute;
    r.opt("cost_per_unit_minute", per_minute, micros_reader(max_cost_per_unit_minute));
    std::optional<std::array<micros, 3>> penalty;
    r.opt("penalty", penalty, to_penalty);
    if (r.ok() && !travel && names == plan_names::any)
        r.reject(errc::bad_field, "travel_minutes",
                 "missing: required when cities are not the region's (no coordinates to "
                 "estimate it from)");
    EQM_TRY(r.finish());
    in.travel = travel ? std::move(*travel) : estimated_travel(in.cities);
    if (per_minute) in.cost_per_unit_minute = *per_minute;
    if (penalty) in.penalty = *penalty;
    EQM_TRY(validate(in));
    return in;
}

result<allocation_input> parse_allocation_input_text(std::string_view text, plan_names names) {
    EQM_TRY_LET(j, detail::parse_text(text, max_allocation_input_bytes));
    return parse_allocation_input(j, names);
}

json to_json(const allocation_input& in) {
    json stock = json::object(), demand = json::object();
    for (std::size_t c = 0; c < in.city_count(); ++c) {
        for (std::size_t k = 0; k < in.class_count(); ++k) {
            if (const auto s = in.stock_of(c, k); s != 0) stock[in.cities[c]][in.classes[k]] = s;
            const auto& d = in.demand_of(c, k);
            if (d.total() == 0) continue;
            json cell = json::object();
            for (const auto kind : demand_kinds)
                if (d[kind] != 0) cell[std::string(to_string(kind))] = d[kind];
            demand[in.cities[c]][in.classes[k]] = std::move(cell);
        }
    }
    json travel = json::array();
    for (std::size_t i = 0; i < in.city_count(); ++i) {
        json row = json::array();
        for (std::size_t k = 0; k < in.city_count(); ++k) {
            const auto t = in.travel_of(i, k);
            row.push_back(t == unreachable ? json(nullptr) : micros_json(t));
        }
        travel.push_back(std::move(row));
    }
    json penalty = json::object();
    for (const auto kind : demand_kinds)
        penalty[std::string(to_string(kind))] = micros_json(in.penalty_of(kind));
    return json{{"cities", in.cities},
                {"classes", in.classes},
                {"stock", std::move(stock)},
                {"demand", std::move(demand)},
                {"travel_minutes", std::move(travel)},
                {"cost_per_unit_minute", micros_json(in.cost_per_unit_minute)},
                {"penalty", std::move(penalty)}};
}

namespace {

json serves_json(const kind_units& serves) {
    json out = json::object();
    for (const auto kind : demand_kinds)
        if (serves[kind] > 0) out[std::string(to_string(kind))] = serves[kind];
    return out;
}

}  // namespace

json to_json(const allocation_plan& plan) {
    json moves = json::array();
    for (const auto& m : plan.moves)
        moves.push_back({{"from", m.from},
                         {"to", m.to},
                         {"class", m.cls},
                         {"count", m.count},
                         {"eta_minutes", detail::number_json(m.eta_minutes)},
                         {"cost", detail::number_json(m.cost)},
                         {"serves", serves_json(m.serves)}});
    json unmet = json::array();
    for (const auto& u : plan.unmet)
        unmet.push_back({{"city", u.city},
                         {"class", u.cls},
                         {"kind", to_string(u.kind)},
                         {"count", u.count},
                         {"reason", u.reason_text},
                         {"reason_code", to_string(u.reason)}});
    json out{{"moves", std::move(moves)},
             {"unmet", std::move(unmet)},
             {"total_cost", detail::number_json(plan.total_cost)}};
    if (plan.id) out["id"] = *plan.id;
    return out;
}

namespace {

result<kind_units> to_serves(const json& j, const std::string& path) {
    detail::object_reader r(j, path, "serves");
    kind_units out;
    for (const auto kind : demand_kinds) {
        std::optional<std::uint64_t> v;
        r.opt(to_string(kind), v, detail::uint(1, max_plan_units));
        if (v) out[kind] = static_cast<std::int64_t>(*v);
    }
    if (r.ok() && out.total() == 0)
        r.reject(errc::bad_field, path, "a move serves at least one unit of demand");
    return detail::finish(r, std::move(out));
}

result<plan_move> to_move(const json& j, const std::string& path) {
    detail::object_reader r(j, path, "move");
    plan_move m;
    std::uint64_t count = 0;
    r.req("from", m.from, detail::text(1, max_plan_name_chars));
    r.req("to", m.to, detail::text(1, max_plan_name_chars));
    r.req("class", m.cls, detail::text(1, max_plan_name_chars));
    r.req("count", count, detail::uint(1, max_plan_units));
    r.req("eta_minutes", m.eta_minutes, detail::number(0));
    r.req("cost", m.cost, detail::number(0));
    r.req("serves", m.serves, to_serves);
    m.count = static_cast<std::int64_t>(count);
    return detail::finish(r, std::move(m));
}

result<unmet_demand> to_unmet(const json& j, const std::string& path) {
    detail::object_reader r(j, path, "unmet demand");
    unmet_demand u;
    std::uint64_t count = 0;
    r.req("city", u.city, detail::text(1, max_plan_name_chars));
    r.req("class", u.cls, detail::text(1, max_plan_name_chars));
    r.req("kind", u.kind, detail::enumeration(parse_demand_kind, "reserved, quota, forecast"));
    r.req("count", count, detail::uint(1, max_plan_units));
    r.req("reason", u.reason_text, detail::text(1, 1024));
    r.req("reason_code", u.reason,
          detail::enumeration(parse_unmet_reason, "no_spare, spares_taken, no_route, not_worth"));
    u.count = static_cast<std::int64_t>(count);
    return detail::finish(r, std::move(u));
}

}  // namespace

result<allocation_plan> parse_allocation_plan(const json& j) {
    detail::object_reader r(j, "", "allocation plan");
    allocation_plan plan;
    r.opt("id", plan.id, detail::id());
    r.req("moves", plan.moves, detail::array(0, SIZE_MAX, to_move));
    r.req("unmet", plan.unmet, detail::array(0, SIZE_MAX, to_unmet));
    r.req("total_cost", plan.total_cost, detail::number(0));
    return detail::finish(r, std::move(plan));
}

}  // namespace eqm
