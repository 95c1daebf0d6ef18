// Seeded random histories of bookings, decisions, cancellations, check-outs (with late binding
// of class bookings) and returns at one city. After every step the city's promises hold:
// - no two held bookings of one device overlap, the recharging buffer included;
// - at no instant do the bookings of a class promise more units than the city has;
// and every alternative a refusal offers is admitted when asked for at once.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "eqm/domain/booking.hpp"
#include "eqm/domain/booking_capacity.hpp"
#include "eqm/domain/booking_request.hpp"
#include "eqm/domain/reservation.hpp"

using eqm::booking;
using eqm::device_class;
using eqm::reservation_status;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view city = "450100";
constexpr int steps_per_seed = 4000;

/// One kind of unit at the city: its units, class and analyte.
struct group {
    device_class cls;
    std::optional<eqm::analyte> analyte;
    std::vector<std::string> units;
};

struct tally {
    int admitted = 0, refused = 0, alternatives_checked = 0, bound = 0, cancelled = 0, returned = 0,
        timers = 0;
};

class city_sim {
  public:
    explicit city_sim(unsigned seed) : rng_(seed) {
        groups_ = {{device_class::drone, std::nullopt, {"dr-1", "dr-2", "dr-3", "dr-4"}},
                   {device_class::analyzer, eqm::analyte::cod, {"an-1", "an-2"}}};
        auto drones = eqm::default_rule(device_class::drone);
        drones.max_length = std::chrono::days{2};
        auto analyzers = eqm::default_rule(device_class::analyzer);
        analyzers.buffer = 60min;
        analyzers.hours = eqm::working_hours{};  // 08:30-17:30 Mon-Fri
        rules_.items = {drones, analyzers, eqm::default_rule(device_class::body_camera)};
    }

    void step() {
        now_ += std::chrono::minutes{pick(0, 40)};
        run_timers();
        const int op = pick(0, 99);
        if (op < 35)
            request();
        else if (op < 45)
            approve();
        else if (op < 55)
            cancel();
        else if (op < 85)
            check_out();
        else
            check_in();
    }

    /// The city's promises, checked over every booking ever made.
    void check_invariants() const {
        for (const auto& g : groups_) {
            const auto rule = rules_.rule_for(g.cls, g.analyte);
            check_devices(g, rule);
            check_capacity(g, rule);
        }
    }

    const tally& counts() const { return tally_; }

  private:
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    template <class T>
    const T& pick_of(const std::vector<T>& v) {
        return v[static_cast<std::size_t>(pick(0, static_cast<int>(v.size()) - 1))];
    }

    std::string officer() { return "p-" + std::to_string(pick(1, 12)); }

    /// A window: drones any time in the next days; analyzers mostly within office hours.
    std::pair<eqm::clock_ms, eqm::clock_ms> window(const group& g) {
        const auto day = std::chrono::floor<std::chrono::days>(now_ + 8h) - 8h;
        if (g.cls == device_class::analyzer) {
            // 08:30 local plus some quarter hours, on one of the next seven days (weekends and
            // returns after 17:30 are refused by the working hours).
            const auto start = day + std::chrono::days{pick(0, 6)} + 510min + 15min * pick(0, 30);
            return {start, start + 30min * pick(1, 12)};
        }
        const auto start = now_ - 4min + 5min * pick(0, 12 * 24 * 4);
        return {start, start + 15min * pick(1, 48)};
    }

    json body_for(const group& g, bool by_class, eqm::clock_ms start, eqm::clock_ms end,
                  const std::string& device) const {
        json b = {{"city", city},
                  {"start", eqm::format_timestamp(start)},
                  {"end", eqm::format_timestamp(end)},
                  {"purpose", "inspection"}};
        if (by_class) {
            b["class"] = eqm::to_string(g.cls);
            if (g.analyte) b["analyte"] = eqm::to_string(*g.analyte);
        } else {
            b["device_id"] = device;
        }
        return b;
    }

    eqm::booking_result<booking> admit(const json& body, const std::string& person) {
        auto q = eqm::parse_booking_request(body);
        REQUIRE(q.has_value());
        const auto g = std::ranges::find_if(groups_, [&](const group& x) {
            return q->cls ? x.cls == *q->cls : std::ranges::count(x.units, *q->device_id) > 0;
        });
        std::optional<eqm::device_facts> device;
        if (q->device_id)
            device = eqm::device_facts{*q->device_id, g->cls, g->analyte, std::string(city),
                                       eqm::custody_state::available};
        eqm::booking_facts facts;
        facts.requester.person_id = person;
        facts.requester.city = std::string(city);
        facts.device = std::move(device);
        return eqm::admit_booking("r-" + std::to_string(next_id_), *q, facts, rules_, all_,
                                  g->units, now_);
    }

    void request() {
        const auto& g = pick_of(groups_);
        const bool by_class = pick(0, 1) == 0;
        const auto [start, end] = window(g);
        const auto body = body_for(g, by_class, start, end, pick_of(g.units));
        const auto person = officer();
        const auto before = all_;
        auto out = admit(body, person);
        REQUIRE(all_ == before);  // deciding changes nothing by itself
        if (out) {
            ++next_id_;
            ++tally_.admitted;
            all_.push_back(std::move(*out));
            return;
        }
        ++tally_.refused;
        const auto rule = out.error().rule;
        if (rule != eqm::booking_rule::device_conflict && rule != eqm::booking_rule::class_capacity)
            return;
        CHECK((g.units.empty() || !out.error().conflicts.empty()));
        // Each alternative is free: asked for at once, it is admitted.
        for (const auto& w : out.error().alternatives) {
            CHECK(w.end - w.start == end - start);
            CHECK(w.start >= now_);
            auto again = body;
            again["start"] = eqm::format_timestamp(w.start);
            again["end"] = eqm::format_timestamp(w.end);
            if (w.device_id) CHECK(again.at("device_id") == *w.device_id);
            const auto retried = admit(again, person);
            INFO((retried ? std::string() : retried.error().err.describe()));
            CHECK(retried.has_value());
            ++tally_.alternatives_checked;
        }
        CHECK(out.error().alternatives.size() <= eqm::alternative_count);
    }

    std::vector<booking*> with_status(reservation_status s) {
        std::vector<booking*> out;
        for (auto& b : all_)
            if (b.status == s) out.push_back(&b);
        return out;
    }

    void apply(booking& b, const eqm::booking_command& cmd) {
        auto next = eqm::apply(b, cmd, now_);
        INFO((next ? std::string() : next.error().err.describe()));
        REQUIRE(next.has_value());
        b = std::move(*next);
    }

    void approve() {
        const auto requested = with_status(reservation_status::requested);
        if (requested.empty()) return;
        auto& b = *pick_of(requested);
        apply(b, {eqm::booking_action::approve,
                  eqm::booking_actor{"d-1", eqm::person_role::dispatcher, std::nullopt},
                  {},
                  {},
                  {}});
    }

    void cancel() {
        auto open = with_status(reservation_status::approved);
        const auto requested = with_status(reservation_status::requested);
        open.insert(open.end(), requested.begin(), requested.end());
        if (open.empty()) return;
        auto& b = *pick_of(open);
        apply(b, {eqm::booking_action::cancel,
                  eqm::booking_actor{b.person_id, eqm::person_role::officer, std::string(city)},
                  {},
                  {},
                  {}});
        ++tally_.cancelled;
    }

    bool is_out(const std::string& unit) const {
        return std::ranges::any_of(all_, [&](const booking& b) {
            return (b.status == reservation_status::active ||
                    b.status == reservation_status::overdue) &&
                   b.unit_id == unit;
        });
    }

    void check_out() {
        std::vector<booking*> due;
        for (auto& b : all_)
            if (b.status == reservation_status::approved && b.start - 30min < now_ && now_ < b.end)
                due.push_back(&b);
        if (due.empty()) return;
        auto& b = *pick_of(due);
        const auto& g = *std::ranges::find_if(
            groups_, [&](const group& x) { return x.cls == b.cls && x.analyte == b.analyte; });
        std::optional<std::string> unit;
        if (b.device_id) {
            if (!is_out(*b.device_id)) unit = b.device_id;
        } else {
            std::vector<std::string> ready;
            for (const auto& u : g.units)
                if (!is_out(u)) ready.push_back(u);
            unit = eqm::choose_unit(b, all_, ready, rules_.rule_for(b.cls, b.analyte), now_);
        }
        if (!unit) return;
        apply(b, {eqm::booking_action::check_out, std::nullopt, {}, unit, now_});
        ++tally_.bound;
    }

    void check_in() {
        auto out = with_status(reservation_status::active);
        const auto late = with_status(reservation_status::overdue);
        out.insert(out.end(), late.begin(), late.end());
        if (out.empty()) return;
        apply(*pick_of(out), {eqm::booking_action::check_in, std::nullopt, {}, {}, now_});
        ++tally_.returned;
    }

    void run_timers() {
        for (auto& b : all_)
            if (const auto action = eqm::due_action(b, now_)) {
                apply(b, {*action, std::nullopt, {}, {}, {}});
                ++tally_.timers;
            }
    }

    /// The planned windows, buffer included, of the held bookings of each unit never overlap.
    void check_devices(const group& g, const eqm::reservation_rule& rule) const {
        for (const auto& unit : g.units) {
            std::vector<const booking*> held;
            for (const auto& b : all_)
                if (eqm::holds_window(b.status) && b.held_device() == unit) held.push_back(&b);
            std::ranges::sort(held, {}, &booking::start);
            for (std::size_t i = 1; i < held.size(); ++i) {
                INFO(unit << ": " << held[i - 1]->id << " then " << held[i]->id);
                CHECK(held[i - 1]->end + rule.buffer <= held[i]->start);
            }
        }
    }

    /// At every instant, the held bookings taking a unit of the group number at most its units.
    void check_capacity(const group& g, const eqm::reservation_rule& rule) const {
        std::vector<std::pair<eqm::clock_ms, int>> events;
        for (const auto& b : all_) {
            if (!eqm::holds_window(b.status) || b.cls != g.cls || b.analyte != g.analyte) continue;
            const bool takes = (b.by_class() && !b.unit_id) ||
                               std::ranges::count(g.units, b.held_device().value_or("")) > 0;
            if (!takes) continue;
            events.emplace_back(b.start, +1);
            events.emplace_back(b.end + rule.buffer, -1);
        }
        std::ranges::sort(events);
        int count = 0;
        for (const auto& [t, delta] : events) {
            count += delta;
            INFO(eqm::to_string(g.cls) << " at " << eqm::format_timestamp(t));
            REQUIRE(count <= static_cast<int>(g.units.size()));
        }
    }

    std::mt19937 rng_;
    std::vector<group> groups_;
    eqm::reservation_rules rules_;
    std::vector<booking> all_;
    eqm::clock_ms now_ = eqm::parse_timestamp("2026-11-23T00:00:00.000Z").value();
    int next_id_ = 1;
    tally tally_;
};

}  // namespace

TEST_CASE("random booking histories never overbook a device or a class", "[booking][property]") {
    const auto seed = GENERATE(1u, 2u, 3u, 4u);
    INFO("seed " << seed);
    city_sim sim(seed);
    for (int i = 0; i < steps_per_seed; ++i) {
        sim.step();
        if (i % 10 == 0) sim.check_invariants();
    }
    sim.check_invariants();
    const auto& n = sim.counts();
    INFO("admitted " << n.admitted << ", refused " << n.refused << ", alternatives "
                     << n.alternatives_checked << ", picked up " << n.bound << ", returned "
                     << n.returned << ", timers " << n.timers);
    // The history exercised what it is meant to: many admissions and clashes, late binding,
    // returns and timers.
    CHECK(n.admitted > 300);
    CHECK(n.refused > 100);
    CHECK(n.alternatives_checked > 100);
    CHECK(n.bound > 50);
    CHECK(n.returned > 30);
    CHECK(n.timers > 50);
}
