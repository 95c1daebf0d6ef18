#include "eqm/domain/booking_capacity.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

#include "eqm/domain/reservation.hpp"

namespace eqm {
namespace {

using ms = std::chrono::milliseconds;

// Far enough out that subtracting a window length (at most 90 days) cannot overflow.
constexpr clock_ms far_past{ms{std::numeric_limits<ms::rep>::min() / 4}};
constexpr clock_ms far_future{ms{std::numeric_limits<ms::rep>::max() / 4}};

/// [a, b): a held window, or a stretch when the device or the pool is taken.
struct interval {
    clock_ms a;
    clock_ms b;
};

/// A held booking with its held window.
struct hold {
    const booking* b;
    interval w;
};

bool overlap(const interval& x, const interval& y) {
    return windows_overlap(x.a, x.b, y.a, y.b);
}

bool contains(std::span<const std::string> ids, const std::optional<std::string>& id) {
    return id && std::ranges::find(ids, *id) != ids.end();
}

/// The bookings of the candidate's city, other than it, whose held windows reach past
/// `from`.
std::vector<hold> holds_of(std::span<const booking> all, const booking& cand, ms buffer,
                           clock_ms from, clock_ms now) {
    std::vector<hold> out;
    for (const auto& o : all) {
        if (o.id == cand.id || o.city != cand.city || !holds_window(o.status)) continue;
        const interval w{o.start, held_until(o, now) + buffer};
        if (w.b > from) out.push_back({&o, w});
    }
    return out;
}

/// Takes a unit from the pool of the candidate's class and analyte: a class booking not yet
/// bound, or a booking holding one of the pool's units.
bool takes_from_pool(const booking& o, const booking& cand, std::span<const std::string> units) {
    if (o.cls != cand.cls || o.analyte != cand.analyte) return false;
    return (o.by_class() && !o.unit_id) || contains(units, o.held_device());
}

/// Where `holds` leave no unit of a pool of `pool` free: stretches with count >= pool.
std::vector<interval> pool_exhausted(const std::vector<hold>& holds, std::size_t pool) {
    if (pool == 0) return {{far_past, far_future}};
    std::vector<std::pair<clock_ms, int>> events;
    events.reserve(holds.size() * 2);
    for (const auto& h : holds) {
        events.emplace_back(h.w.a, +1);
        events.emplace_back(h.w.b, -1);
    }
    std::ranges::sort(events);  // at one instant, ends (-1) before starts: windows are half-open
    std::vector<interval> out;
    std::size_t count = 0;
    clock_ms run_start{};
    for (const auto& [t, delta] : events) {
        const bool was_full = count >= pool;
        count = delta > 0 ? count + 1 : count - 1;
        if (!was_full && count >= pool) run_start = t;
        if (was_full && count < pool && run_start < t) out.push_back({run_start, t});
    }
    return out;
}

/// Sorted, merged open intervals (x, y) of starts whose window [s, s + span) would overlap a
/// blocked stretch: s in (a - span, b).
std::vector<interval> forbidden_starts(std::vector<interval> blocked, ms span) {
    for (auto& i : blocked) i.a = i.a - span;
    std::ranges::sort(blocked, {}, &interval::a);
    std::vector<interval> out;
    for (const auto& i : blocked) {
        // (x1, y1) and (x2, y2) with x2 < y1 share points; at x2 == y1 the point y1 is free.
        if (!out.empty() && i.a < out.back().b)
            out.back().b = std::max(out.back().b, i.b);
        else
            out.push_back(i);
    }
    return out;
}

/// Where free windows of one length are looked for.
struct search_space {
    std::vector<interval> forbidden;  ///< open intervals of starts, sorted, disjoint
    std::optional<working_hours> hours;
    ms length{};
    clock_ms lower{};
    clock_ms upper{};

    /// The forbidden interval strictly containing t.
    const interval* blocking(clock_ms t) const {
        auto it = std::ranges::upper_bound(forbidden, t, {}, &interval::a);  // first with a > t
        if (it == forbidden.begin()) return nullptr;
        --it;
        return it->a < t && t < it->b ? &*it : nullptr;
    }

    /// The earliest free start at or after t. Each step moves t forward to the end of a blocked
    /// interval or to an opening of the counter, so the loop ends within the horizon.
    std::optional<clock_ms> next_free(clock_ms t) const {
        t = std::max(t, lower);
        while (t <= upper) {
            std::optional<clock_ms> moved;
            if (const auto* f = blocking(t))
                moved = f->b;
            else if (hours && !within(*hours, t))
                moved = next_within(*hours, t);
            else if (hours && !within(*hours, t + length))
                moved = next_within(*hours, t + length).transform([&](clock_ms e) {
                    return e - length;
                });
            else
                return t;
            if (!moved) return std::nullopt;
            t = *moved;
        }
        return std::nullopt;
    }

    /// The latest free start at or before t (the mirror of next_free).
    std::optional<clock_ms> prev_free(clock_ms t) const {
        while (t >= lower) {
            std::optional<clock_ms> moved;
            if (const auto* f = blocking(t))
                moved = f->a;
            else if (hours && !within(*hours, t))
                moved = prev_within(*hours, t);
            else if (hours && !within(*hours, t + length))
                moved = prev_within(*hours, t + length).transform([&](clock_ms e) {
                    return e - length;
                });
            else
                return t;
            if (!moved) return std::nullopt;
            t = *moved;
        }
        return std::nullopt;
    }
};

/// The nearest free windows after and before `start`, three in all (one of each side at least,
/// when both sides have one), nearest first.
std::vector<booking_window> alternatives(const search_space& space, clock_ms start,
                                         const std::optional<std::string>& device_id) {
    std::vector<clock_ms> after, before;
    for (auto t = space.next_free(start); t && after.size() < alternative_count;
         t = space.next_free(*t + space.length))
        after.push_back(*t);
    for (auto t = space.prev_free(start); t && before.size() < alternative_count;
         t = space.prev_free(*t - space.length))
        before.push_back(*t);
    // (distance, side: after first on a tie, start)
    std::vector<std::tuple<ms, int, clock_ms>> all;
    for (const auto t : after) all.emplace_back(t - start, 0, t);
    for (const auto t : before) all.emplace_back(start - t, 1, t);
    std::ranges::sort(all);
    if (all.size() > alternative_count) {
        all.resize(alternative_count);
        const auto side_of = [](const auto& x) { return std::get<1>(x); };
        const bool one_sided = std::ranges::all_of(
            all, [&](const auto& x) { return side_of(x) == side_of(all.front()); });
        if (one_sided && side_of(all.front()) == 0 && !before.empty())
            all.back() = {start - before.front(), 1, before.front()};
        else if (one_sided && side_of(all.front()) == 1 && !after.empty())
            all.back() = {after.front() - start, 0, after.front()};
    }
    std::vector<booking_window> out;
    for (const auto& [distance, side, t] : all) out.push_back({t, t + space.length, device_id});
    return out;
}

std::vector<booking_conflict> conflict_list(const std::vector<const booking*>& with) {
    std::vector<booking_conflict> out;
    for (const auto* b : with) out.push_back({b->id, b->start, b->end});
    std::ranges::sort(out, {}, [](const booking_conflict& c) { return std::tie(c.start, c.id); });
    const auto [first, last] = std::ranges::unique(out, {}, &booking_conflict::id);
    out.erase(first, last);
    return out;
}

std::string clash_message(const booking& cand, bool device_clash, std::size_t pool,
                          std::size_t clashes) {
    const auto what = std::string(to_string(cand.cls)) +
                      (cand.analyte ? " (" + std::string(to_string(*cand.analyte)) + ")" : "");
    if (device_clash)
        return *cand.device_id + " is booked in that window, the " +
               "recharging buffer after each booking included (" + std::to_string(clashes) +
               " booking(s))";
    if (pool == 0) return "city " + cand.city + " has no serviceable " + what + " to promise";
    return "city " + cand.city + " has " + std::to_string(pool) + " serviceable " + what +
           " unit(s), all promised at some instant of that window (buffer included)";
}

}  // namespace

clock_ms held_until(const booking& b, clock_ms now) noexcept {
    const bool out =
        b.status == reservation_status::active || b.status == reservation_status::overdue;
    return out ? std::max(b.end, now) : b.end;
}

std::vector<std::string> serviceable_units(std::span<const device_facts> devices,
                                           std::string_view city, device_class cls,
                                           std::optional<eqm::analyte> analyte) {
    std::vector<std::string> out;
    for (const auto& d : devices)
        if (d.city == city && d.cls == cls && d.analyte == analyte &&
            (d.state == custody_state::available || d.state == custody_state::checked_out))
            out.push_back(d.id);
    return out;
}

booking_result<void> check_availability(const booking& cand, std::span<const booking> city_bookings,
                                        std::span<const std::string> units,
                                        const reservation_rule& rule, clock_ms now) {
    const ms length = cand.end - cand.start;
    const ms span = length + rule.buffer;
    const interval want{cand.start, cand.end + rule.buffer};
    const auto holds = holds_of(city_bookings, cand, rule.buffer, std::min(now, cand.start), now);

    std::vector<interval> blocked;
    std::vector<const booking*> device_clash, pool_clash;
    bool pool_short = false;  // at some instant of the window no unit is left
    if (cand.device_id)
        for (const auto& h : holds)
            if (h.b->held_device() == cand.device_id) {
                blocked.push_back(h.w);
                if (overlap(h.w, want)) device_clash.push_back(h.b);
            }
    const bool uses_pool = cand.by_class() || contains(units, cand.device_id);
    if (uses_pool) {
        std::vector<hold> pool_holds;
        for (const auto& h : holds)
            if (takes_from_pool(*h.b, cand, units)) pool_holds.push_back(h);
        for (const auto& full : pool_exhausted(pool_holds, units.size())) {
            blocked.push_back(full);
            if (!overlap(full, want)) continue;
            pool_short = true;
            const interval clash{std::max(full.a, want.a), std::min(full.b, want.b)};
            for (const auto& h : pool_holds)
                if (overlap(h.w, clash)) pool_clash.push_back(h.b);
        }
    }
    if (device_clash.empty() && !pool_short) return {};

    const bool by_device = !device_clash.empty();
    auto refusal = refuse(errc::conflict, cand.device_id ? "device_id" : "class",
                          by_device ? booking_rule::device_conflict : booking_rule::class_capacity,
                          clash_message(cand, by_device, units.size(),
                                        by_device ? device_clash.size() : pool_clash.size()));
    refusal.error().conflicts = conflict_list(by_device ? device_clash : pool_clash);
    const search_space space{
        forbidden_starts(std::move(blocked), span), rule.hours, length,
        clock_ms{std::chrono::ceil<std::chrono::minutes>(now + rule.min_notice)},
        cand.start + alternative_horizon};
    refusal.error().alternatives = alternatives(space, cand.start, cand.device_id);
    return refusal;
}

std::optional<std::string> choose_unit(const booking& b, std::span<const booking> city_bookings,
                                       std::span<const std::string> ready,
                                       const reservation_rule& rule, clock_ms now) {
    const interval need{std::min(now, b.start), std::max(b.end, now) + rule.buffer};
    const auto holds = holds_of(city_bookings, b, rule.buffer, need.a, now);
    std::optional<std::pair<clock_ms, std::string>> best;  // (next booking of the unit, id)
    for (const auto& unit : ready) {
        clock_ms next = far_future;
        bool free = true;
        for (const auto& h : holds) {
            if (h.b->held_device() != unit) continue;
            if (overlap(h.w, need)) free = false;
            if (h.w.a >= need.b) next = std::min(next, h.w.a);
        }
        if (free && (!best || std::tie(next, unit) < std::tie(best->first, best->second)))
            best = std::pair{next, unit};
    }
    if (!best) return std::nullopt;
    return best->second;
}

}  // namespace eqm
