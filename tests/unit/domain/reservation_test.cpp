#include "eqm/domain/reservation.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using eqm::reservation;
using eqm::reservation_status;

namespace {

eqm::clock_ms h(int hour) {
    return eqm::parse_timestamp("2026-11-26T00:00:00.000Z").value() + std::chrono::hours{hour};
}

reservation booking(std::string id, int from_hour, int to_hour,
                    reservation_status status = reservation_status::approved,
                    std::string device = "dr-01", std::string person = "p-1") {
    return reservation{std::move(id), std::move(device), std::move(person),
                       h(from_hour),  h(to_hour),        status};
}

}  // namespace

TEST_CASE("windows are half-open: touching windows do not overlap", "[reservation]") {
    // existing: [10, 14)
    auto [from, to, overlaps] = GENERATE(table<int, int, bool>({
        {6, 10, false},   // ends where the other starts
        {14, 18, false},  // starts where the other ends
        {6, 11, true},    // overlaps the start
        {13, 18, true},   // overlaps the end
        {11, 12, true},   // inside
        {8, 20, true},    // around
        {10, 14, true},   // identical
        {2, 4, false},    // well before
        {12, 12, false},  // empty window
    }));
    INFO("[" << from << ", " << to << ")");
    CHECK(eqm::windows_overlap(h(from), h(to), h(10), h(14)) == overlaps);
    CHECK(eqm::windows_overlap(h(10), h(14), h(from), h(to)) == overlaps);  // symmetric
}

TEST_CASE("conflicts lists the overlapping live reservations of the same device", "[reservation]") {
    const std::vector<reservation> existing{
        booking("r-1", 8, 12),
        booking("r-2", 12, 16, reservation_status::pending),
        booking("r-3", 9, 11, reservation_status::cancelled),          // cancelled holds nothing
        booking("r-4", 9, 11, reservation_status::approved, "dr-02"),  // other device
        booking("r-5", 16, 20),
    };
    CHECK(eqm::conflicts(booking("c", 10, 13), existing) == std::vector<std::string>{"r-1", "r-2"});
    CHECK(eqm::conflicts(booking("c", 12, 16), existing) == std::vector<std::string>{"r-2"});
    CHECK(eqm::conflicts(booking("c", 20, 22), existing).empty());
    CHECK(eqm::conflicts(booking("c", 0, 8), existing).empty());
    // Editing r-1 is not a conflict with its own stored copy.
    CHECK(eqm::conflicts(booking("r-1", 9, 12), existing).empty());
    // A cancelled candidate conflicts with nothing.
    CHECK(eqm::conflicts(booking("c", 0, 24, reservation_status::cancelled), existing).empty());
}

TEST_CASE("reservation validation names the bad field", "[reservation]") {
    auto [r, field] = GENERATE(table<reservation, std::string>({
        {booking("r-1", 10, 10), "end"},
        {booking("r-1", 12, 10), "end"},
        {booking("r-1", 0, 14 * 24 + 1), "end"},
        {booking("", 10, 12), "id"},
        {booking("r 1", 10, 12), "id"},
        {booking("r-1", 10, 12, reservation_status::approved, "dr/01"), "device_id"},
        {booking("r-1", 10, 12, reservation_status::approved, "dr-01", ""), "person_id"},
    }));
    const auto v = eqm::validate(r);
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().code == eqm::errc::bad_field);
    CHECK(v.error().field == field);
}

TEST_CASE("a valid reservation passes, up to exactly the maximum length", "[reservation]") {
    CHECK(eqm::validate(booking("r-1", 10, 11)).has_value());
    CHECK(eqm::validate(booking("r-1", 0, 14 * 24)).has_value());
    CHECK_FALSE(eqm::validate(booking("r-1", 0, 3), std::chrono::hours{2}).has_value());
}

TEST_CASE("the active reservation is the approved one covering the instant", "[reservation]") {
    const std::vector<reservation> all{
        booking("r-p", 8, 12, reservation_status::pending),
        booking("r-a", 10, 12),
        booking("r-o", 8, 12, reservation_status::approved, "dr-02"),
    };
    CHECK(eqm::active_reservation(all, "dr-01", h(9)) == nullptr);  // only pending covers 9
    REQUIRE(eqm::active_reservation(all, "dr-01", h(10)) != nullptr);
    CHECK(eqm::active_reservation(all, "dr-01", h(10))->id == "r-a");
    CHECK(eqm::active_reservation(all, "dr-01", h(12)) == nullptr);  // end is exclusive
}
