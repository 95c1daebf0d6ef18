// The allocation model: names of kinds and reasons, structural validation of an input, and the
// exact integer costs the optimiser and the checker share.
#include "eqm/domain/allocation.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {

namespace {

constexpr std::array<std::string_view, 3> kind_names{"reserved", "quota", "forecast"};
constexpr std::array<std::string_view, 4> reason_names{"no_spare", "spares_taken", "no_route",
                                                       "not_worth"};

/// Any sum of at most (units + nodes) per-unit costs stays below this: the network simplex keeps
/// potentials near 2^62 on its artificial arcs (LEMON), so plan costs must leave that room.
constexpr std::int64_t cost_sum_limit = std::int64_t{1} << 61;

std::string micros_text(micros v) {
    return detail::dump(detail::number_json(static_cast<double>(v) / micros_per_unit));
}

result<void> check_names(const std::vector<std::string>& names, std::string_view field,
                         std::size_t max_count) {
    if (names.empty() || names.size() > max_count)
        return fail(errc::bad_field, std::string(field),
                    "out of range: must have 1.." + std::to_string(max_count) + " items, has " +
                        std::to_string(names.size()));
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i].empty())
            return fail(errc::bad_field, detail::index_path(field, i), "must not be empty");
        if (!seen.insert(names[i]).second)
            return fail(errc::bad_field, detail::index_path(field, i),
                        "duplicate: \"" + names[i] + "\" is listed twice");
    }
    return {};
}

result<void> check_counts(const allocation_input& in) {
    const std::string range = "out of range: must be 0.." + std::to_string(max_plan_units);
    for (std::size_t c = 0; c < in.city_count(); ++c) {
        for (std::size_t k = 0; k < in.class_count(); ++k) {
            const std::string at = in.cities[c] + "." + in.classes[k];
            const auto s = in.stock_of(c, k);
            if (s < 0 || s > max_plan_units) return fail(errc::bad_field, "stock." + at, range);
            for (const auto kind : demand_kinds) {
                const auto d = in.demand_of(c, k)[kind];
                if (d < 0 || d > max_plan_units)
                    return fail(errc::bad_field,
                                "demand." + at + "." + std::string(to_string(kind)), range);
            }
        }
    }
    return {};
}

result<void> check_travel(const allocation_input& in) {
    const std::size_t n = in.city_count();
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            const auto t = in.travel_of(i, j);
            const auto at = "travel_minutes[" + std::to_string(i) + "][" + std::to_string(j) + "]";
            if (i == j && t != 0) return fail(errc::bad_field, at, "must be 0: a city to itself");
            if (t == unreachable) continue;
            if (t < 0 || t > max_travel_minutes)
                return fail(errc::bad_field, at,
                            "out of range: must be 0.." + micros_text(max_travel_minutes) +
                                " minutes, or null for no route");
        }
    }
    return {};
}

result<void> check_costs(const allocation_input& in) {
    if (in.cost_per_unit_minute < 0 || in.cost_per_unit_minute > max_cost_per_unit_minute)
        return fail(errc::bad_field, "cost_per_unit_minute",
                    "out of range: must be 0.." + micros_text(max_cost_per_unit_minute));
    for (const auto kind : demand_kinds) {
        if (in.penalty_of(kind) < 0 || in.penalty_of(kind) > max_penalty)
            return fail(errc::bad_field, "penalty." + std::string(to_string(kind)),
                        "out of range: must be 0.." + micros_text(max_penalty));
    }
    if (in.penalty_of(demand_kind::quota) > in.penalty_of(demand_kind::reserved))
        return fail(errc::bad_field, "penalty.quota",
                    "must be at most penalty.reserved (" +
                        micros_text(in.penalty_of(demand_kind::reserved)) +
                        "): bookings come before quota gaps");
    if (in.penalty_of(demand_kind::forecast) > in.penalty_of(demand_kind::quota))
        return fail(errc::bad_field, "penalty.forecast",
                    "must be at most penalty.quota (" +
                        micros_text(in.penalty_of(demand_kind::quota)) +
                        "): quota gaps come before forecast");
    return {};
}

/// Decimal places needed to write `v` micros exactly (0 for whole numbers).
int places(micros v) noexcept {
    int p = max_decimal_places;
    while (p > 0 && v % 10 == 0) {
        v /= 10;
        --p;
    }
    return v == 0 ? 0 : p;
}

std::int64_t pow10(int e) noexcept {
    std::int64_t r = 1;
    for (int i = 0; i < e; ++i) r *= 10;
    return r;
}

/// a * b, or nullopt when it would overflow.
std::optional<std::int64_t> times(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

std::unexpected<error> too_large(std::string field) {
    return fail(errc::bad_field, std::move(field),
                "too large to plan exactly: costs times the units involved must stay below 2^61 "
                "in the finest decimal place the input uses; use smaller penalties or costs, or "
                "fewer decimal places");
}

}  // namespace

std::string_view to_string(demand_kind k) noexcept {
    return kind_names[static_cast<std::size_t>(k)];
}

std::optional<demand_kind> parse_demand_kind(std::string_view s) noexcept {
    for (const auto k : demand_kinds)
        if (to_string(k) == s) return k;
    return std::nullopt;
}

std::string_view to_string(unmet_reason r) noexcept {
    return reason_names[static_cast<std::size_t>(r)];
}

std::optional<unmet_reason> parse_unmet_reason(std::string_view s) noexcept {
    for (std::size_t i = 0; i < reason_names.size(); ++i)
        if (reason_names[i] == s) return static_cast<unmet_reason>(i);
    return std::nullopt;
}

kind_units take_by_priority(kind_units& open, std::int64_t units) noexcept {
    kind_units taken;
    for (const auto kind : demand_kinds) {
        const auto t = std::min(open[kind], std::max<std::int64_t>(units, 0));
        open[kind] -= t;
        taken[kind] = t;
        units -= t;
    }
    return taken;
}

std::int64_t allocation_input::spare(std::size_t city, std::size_t cls) const noexcept {
    const auto& d = demand_of(city, cls);
    return std::max<std::int64_t>(
        0, stock_of(city, cls) - d[demand_kind::reserved] - d[demand_kind::quota]);
}

allocation_input allocation_input::empty(std::vector<std::string> cities,
                                         std::vector<std::string> classes) {
    allocation_input in;
    const std::size_t n = cities.size();
    const std::size_t cells = n * classes.size();
    in.cities = std::move(cities);
    in.classes = std::move(classes);
    in.stock.assign(cells, 0);
    in.demand.assign(cells, kind_units{});
    in.travel.assign(n * n, 0);
    return in;
}

result<void> validate(const allocation_input& in) {
    EQM_TRY(check_names(in.cities, "cities", max_plan_cities));
    EQM_TRY(check_names(in.classes, "classes", max_plan_classes));
    const std::size_t cells = in.city_count() * in.class_count();
    if (in.stock.size() != cells)
        return fail(errc::bad_field, "stock", "must have one entry per city and class");
    if (in.demand.size() != cells)
        return fail(errc::bad_field, "demand", "must have one entry per city and class");
    if (in.travel.size() != in.city_count() * in.city_count())
        return fail(errc::bad_field, "travel_minutes",
                    "not square: must have " + std::to_string(in.city_count()) +
                        " rows of as many entries, one per city");
    EQM_TRY(check_counts(in));
    EQM_TRY(check_travel(in));
    return check_costs(in);
}

double exact_costs::value(std::int64_t scaled) const noexcept {
    // Both operands are exact doubles below 2^53, so the quotient is correctly rounded.
    return static_cast<double>(scaled) / static_cast<double>(pow10(decimals));
}

result<exact_costs> make_exact_costs(const allocation_input& in) {
    EQM_TRY(validate(in));
    int travel_places = 0;
    for (const auto t : in.travel)
        if (t > 0) travel_places = std::max(travel_places, places(t));
    const int cost_places = places(in.cost_per_unit_minute);
    int penalty_places = 0;
    for (const auto p : in.penalty) penalty_places = std::max(penalty_places, places(p));

    exact_costs out;
    out.decimals = std::max(travel_places + cost_places, penalty_places);
    const auto per_minute = times(in.cost_per_unit_minute / pow10(max_decimal_places - cost_places),
                                  pow10(out.decimals - travel_places - cost_places));
    const std::int64_t minute_unit = pow10(max_decimal_places - travel_places);
    if (!per_minute) return too_large("cost_per_unit_minute");

    std::int64_t largest = 0;
    std::string largest_field = "cost_per_unit_minute";
    out.move.assign(in.travel.size(), 0);
    for (std::size_t i = 0; i < in.travel.size(); ++i) {
        if (in.travel[i] == unreachable) {
            out.move[i] = -1;
            continue;
        }
        const auto c = times(in.travel[i] / minute_unit, *per_minute);
        if (!c) return too_large("cost_per_unit_minute");
        out.move[i] = *c;
        largest = std::max(largest, *c);
    }
    for (const auto kind : demand_kinds) {
        const auto k = static_cast<std::size_t>(kind);
        const auto p = times(in.penalty[k] / pow10(max_decimal_places - penalty_places),
                             pow10(out.decimals - penalty_places));
        if (!p) return too_large("penalty." + std::string(to_string(kind)));
        out.unmet[k] = *p;
        if (out.unmet[k] > largest) {
            largest = out.unmet[k];
            largest_field = "penalty." + std::string(to_string(kind));
        }
    }

    std::int64_t units = 0;
    for (const auto s : in.stock) units += s;
    for (const auto& d : in.demand) units += d.total();
    const auto span = times(largest, units + 3 * static_cast<std::int64_t>(in.city_count()) + 3);
    if (!span || *span >= cost_sum_limit) return too_large(largest_field);
    return out;
}

}  // namespace eqm
