// The booking store over a real SQLite file: a seeded random history of requests, cancellations,
// check-outs and check-ins through the store (each one transaction, as the server runs them),
// after which the stored bookings must keep the two promises of docs/reservations.md.
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "eqm/domain/booking_capacity.hpp"
#include "eqm/store/database.hpp"
#include "eqm/test/temp_dir.hpp"
#include "region_store.hpp"

using namespace eqm;
using namespace eqm::server;

namespace {

constexpr int units_per_class = 3;
const clock_ms t0 = clock_ms{std::chrono::milliseconds{1'800'000'000'000}};

/// Every stored booking.
std::vector<booking> all_bookings(region_store& store) {
    std::vector<booking> out;
    page_query q;
    q.limit = 5000;
    for (;;) {
        auto p = store.list_bookings({}, q);
        REQUIRE(p);
        out.insert(out.end(), p->items.begin(), p->items.end());
        if (!p->next_key) return out;
        q.after = p->next_key;
    }
}

bool holds(const booking& b) {
    return b.status == reservation_status::requested || b.status == reservation_status::approved ||
           b.status == reservation_status::active || b.status == reservation_status::overdue;
}

}  // namespace

TEST_CASE(
    "random bookings, cancellations and check-outs never double-book a device or "
    "over-promise a class",
    "[server][reservations][property]") {
    test::temp_dir dir("eqm-booking-store");
    auto opened = open_sqlite_region_store(dir.path() / "region.db");
    REQUIRE(opened);
    auto& store = **opened;
    std::vector<device_record> devices;
    for (int i = 0; i < units_per_class; ++i)
        for (auto cls : {device_class::body_camera, device_class::drone}) {
            device_record d;
            d.id = std::string(to_string(cls)) + "-" + std::to_string(i);
            d.cls = cls;
            d.model = "M";
            d.city = "450100";
            devices.push_back(d);
        }
    REQUIRE(store.insert_devices(devices, t0));
    const auto seed = GENERATE(1u, 2u);
    std::mt19937 rng(seed);
    const auto now = t0 - std::chrono::hours{1};
    std::uniform_int_distribution<int> slot(0, 7 * 24 * 4);  // quarter hours over a week
    std::uniform_int_distribution<int> length(1, 16);
    std::size_t admitted = 0;
    for (int step = 0; step < 800; ++step) {
        const auto pick = rng() % 10;
        if (pick < 7) {
            booking_request r;
            r.city = "450100";
            const auto cls = rng() % 2 ? device_class::body_camera : device_class::drone;
            if (rng() % 2)
                r.device_id =
                    std::string(to_string(cls)) + "-" + std::to_string(rng() % units_per_class);
            else
                r.cls = cls;
            r.start = t0 + std::chrono::minutes{15 * slot(rng)};
            r.end = r.start + std::chrono::minutes{15 * length(rng)};
            r.purpose = "p";
            const booking_requester who{"p-" + std::to_string(rng() % 20), person_role::dispatcher,
                                        std::nullopt};
            auto d = store.admit_reservation(r, who, now);
            REQUIRE(d);
            if (*d) ++admitted;
        } else if (pick < 8 && admitted > 0) {
            // A check-out binds a class booking to a unit (the late binding the gateway does).
            auto b = store.find_booking("r-" + std::to_string(1 + rng() % admitted));
            REQUIRE(b);
            if (!*b) continue;
            booking_command cmd;
            cmd.action = booking_action::check_out;
            cmd.unit_id = (*b)->device_id;
            if (!cmd.unit_id) {
                // The unit a kiosk hands out: one free for the whole window (choose_unit).
                std::vector<std::string> ready;
                for (int u = 0; u < units_per_class; ++u)
                    ready.push_back(std::string(to_string((*b)->cls)) + "-" + std::to_string(u));
                const auto city = all_bookings(store);
                cmd.unit_id = choose_unit(**b, city, ready, default_rule((*b)->cls), (*b)->start);
                if (!cmd.unit_id) continue;
            }
            cmd.at = (*b)->start;
            REQUIRE(store.act_on_booking((*b)->id, cmd, (*b)->start));
        } else if (admitted > 0) {
            const auto id = "r-" + std::to_string(1 + rng() % admitted);
            booking_command cmd;
            cmd.action = booking_action::cancel;
            cmd.actor = booking_actor{"disp", person_role::dispatcher, std::nullopt};
            REQUIRE(store.act_on_booking(id, cmd, now));  // refused or not: never an error
        }
    }
    const auto list = all_bookings(store);
    REQUIRE(admitted > 100);
    const std::vector<std::string> units{"body_camera-0", "body_camera-1", "body_camera-2"};
    const auto buffer = std::chrono::minutes{30};
    // No two held bookings of one device overlap, buffer included.
    for (std::size_t i = 0; i < list.size(); ++i)
        for (std::size_t j = i + 1; j < list.size(); ++j) {
            const auto &a = list[i], &b = list[j];
            if (!holds(a) || !holds(b) || !a.held_device() || a.held_device() != b.held_device())
                continue;
            INFO(a.id << " and " << b.id);
            CHECK((a.end + buffer <= b.start || b.end + buffer <= a.start));
        }
    // At no instant does a class have more held bookings than units.
    for (auto cls : {device_class::body_camera, device_class::drone}) {
        std::map<clock_ms, int> delta;
        for (const auto& b : list)
            if (holds(b) && b.cls == cls) {
                delta[b.start] += 1;
                delta[b.end + buffer] -= 1;
            }
        int in_use = 0;
        for (const auto& [at, d] : delta) {
            in_use += d;
            INFO(format_timestamp(at));
            CHECK(in_use <= units_per_class);
        }
    }
}
