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
        booking("r-p", 8, 12, reservation_status::requested),
        booking("r-a", 10, 12),
        booking("r-o", 8, 12, reservation_status::approved, "dr-02"),
    };
    CHECK(eqm::active_reservation(all, "dr-01", h(9)) == nullptr);  // only requested covers 9
    REQUIRE(eqm::active_reservation(all, "dr-01", h(10)) != nullptr);
    CHECK(eqm::active_reservation(all, "dr-01", h(10))->id == "r-a");
    CHECK(eqm::active_reservation(all, "dr-01", h(12)) == nullptr);  // end is exclusive
}

namespace {

/// An approved class booking of `cls` at Nanning.
reservation class_booking(std::string id, std::string person, int from_hour, int to_hour,
                          eqm::device_class cls = eqm::device_class::drone,
                          std::optional<eqm::analyte> a = std::nullopt) {
    reservation r;
    r.id = std::move(id);
    r.person_id = std::move(person);
    r.start = h(from_hour);
    r.end = h(to_hour);
    r.status = reservation_status::approved;
    r.cls = cls;
    r.analyte = a;
    r.city = "450100";
    return r;
}

std::vector<eqm::ready_unit> drones(std::initializer_list<const char*> ids) {
    std::vector<eqm::ready_unit> out;
    for (const auto* id : ids) out.push_back({id, eqm::device_class::drone, std::nullopt});
    return out;
}

eqm::checkout_subject taking(std::string_view device, std::string_view person) {
    return {device, eqm::device_class::drone, std::nullopt, "450100", person};
}

}  // namespace

TEST_CASE("every status but declined, cancelled, completed and no_show holds its window",
          "[reservation]") {
    using enum reservation_status;
    for (const auto s : {requested, approved, active, overdue}) CHECK(eqm::holds_window(s));
    for (const auto s : {declined, cancelled, completed, no_show})
        CHECK_FALSE(eqm::holds_window(s));
    CHECK(pending == requested);
}

TEST_CASE("a class booking conflicts by device only once bound to a unit", "[reservation]") {
    auto c = class_booking("r-c", "p-2", 10, 12);
    const std::vector<reservation> existing{booking("r-1", 11, 13)};
    CHECK(eqm::conflicts(c, existing).empty());
    c.device_id = "dr-01";
    c.status = reservation_status::active;
    CHECK(eqm::conflicts(c, existing) == std::vector<std::string>{"r-1"});
}

TEST_CASE("a hand-built class booking is validated like a parsed one", "[reservation]") {
    CHECK(eqm::validate(class_booking("r-c", "p-2", 10, 12)).has_value());
    auto neither = class_booking("r-c", "p-2", 10, 12);
    neither.cls.reset();
    CHECK(eqm::validate(neither).error().field == "device_id");
    auto no_city = class_booking("r-c", "p-2", 10, 12);
    no_city.city.reset();
    CHECK(eqm::validate(no_city).error().field == "city");
    auto analyte = class_booking("r-c", "p-2", 10, 12);
    analyte.analyte = eqm::analyte::cod;
    CHECK(eqm::validate(analyte).error().field == "analyte");
}

TEST_CASE("a booking needs its unit from the lead before its start to its end", "[reservation]") {
    const auto r = booking("r-1", 10, 12);
    const auto lead = std::chrono::minutes{30};
    CHECK_FALSE(eqm::needs_unit(r, h(9), lead));
    CHECK_FALSE(eqm::needs_unit(r, h(10) - lead, lead));  // exactly the lead before: not yet
    CHECK(eqm::needs_unit(r, h(10) - lead + std::chrono::milliseconds{1}, lead));
    CHECK(eqm::needs_unit(r, h(11), lead));
    CHECK_FALSE(eqm::needs_unit(r, h(12), lead));
    auto requested = r;
    requested.status = reservation_status::requested;
    CHECK_FALSE(eqm::needs_unit(requested, h(11), lead));
}

TEST_CASE("the gateway keeps a named device for its booker and says which booking it fulfils",
          "[reservation][offline]") {
    const std::vector<reservation> all{
        booking("r-1", 10, 12, reservation_status::approved, "dr-01", "p-1")};
    // The booker takes it: the custody record will name r-1.
    auto mine = eqm::claim_for_checkout(taking("dr-01", "p-1"), all, std::nullopt, h(11));
    REQUIRE(mine.has_value());
    CHECK(mine->reservation_id == "r-1");
    // Anyone else is refused, also 20 minutes before the start.
    for (const auto at : {h(11), h(10) - std::chrono::minutes{20}}) {
        auto other = eqm::claim_for_checkout(taking("dr-01", "p-2"), all, std::nullopt, at);
        REQUIRE_FALSE(other.has_value());
        CHECK(other.error().code == eqm::errc::reserved_for_other);
        CHECK(other.error().message.find("reserved for p-1") != std::string::npos);
    }
    // An hour before the start, or after the end, the device is free for anyone.
    CHECK(
        eqm::claim_for_checkout(taking("dr-01", "p-2"), all, std::nullopt, h(9))->reservation_id ==
        std::nullopt);
    CHECK(eqm::claim_for_checkout(taking("dr-01", "p-2"), all, std::nullopt, h(12)).has_value());
    // Another device is not affected.
    CHECK(eqm::claim_for_checkout(taking("dr-02", "p-2"), all, std::nullopt, h(11)).has_value());
}

TEST_CASE("the gateway refuses the last free unit a class booking needs",
          "[reservation][offline]") {
    const std::vector<reservation> all{class_booking("r-c", "p-1", 10, 12)};
    const auto units = drones({"dr-01", "dr-02"});
    const std::span<const eqm::ready_unit> ready(units);
    // Two ready drones, one booked by class: the first walk-in may take one...
    auto first = eqm::claim_for_checkout(taking("dr-01", "p-9"), all, ready, h(11));
    REQUIRE(first.has_value());
    CHECK_FALSE(first->reservation_id.has_value());
    // ...but not the last one.
    const auto last_units = drones({"dr-02"});
    auto last = eqm::claim_for_checkout(taking("dr-02", "p-9"), all,
                                        std::span<const eqm::ready_unit>(last_units), h(11));
    REQUIRE_FALSE(last.has_value());
    CHECK(last.error().code == eqm::errc::reserved_for_other);
    CHECK(last.error().message.find("reservation r-c") != std::string::npos);
    // The booker takes the last one and fulfils the booking.
    auto booker = eqm::claim_for_checkout(taking("dr-02", "p-1"), all,
                                          std::span<const eqm::ready_unit>(last_units), h(11));
    REQUIRE(booker.has_value());
    CHECK(booker->reservation_id == "r-c");
    // Without the ready units the gateway cannot count: it matches, but does not refuse.
    CHECK(eqm::claim_for_checkout(taking("dr-02", "p-9"), all, std::nullopt, h(11)).has_value());
    // Once the booking has its unit (active), it needs no other.
    auto bound = all;
    bound[0].status = reservation_status::active;
    bound[0].device_id = "dr-01";
    CHECK(eqm::claim_for_checkout(taking("dr-02", "p-9"), bound,
                                  std::span<const eqm::ready_unit>(last_units), h(11))
              .has_value());
}

TEST_CASE("class enforcement counts only units that can serve the booking",
          "[reservation][offline]") {
    const auto at = h(11);
    SECTION("a unit held for a named booking is not free for a class booking") {
        const std::vector<reservation> all{
            class_booking("r-c", "p-1", 10, 12),
            booking("r-n", 10, 12, reservation_status::approved, "dr-02", "p-3")};
        const auto units = drones({"dr-01", "dr-02"});
        auto r = eqm::claim_for_checkout(taking("dr-01", "p-9"), all,
                                         std::span<const eqm::ready_unit>(units), at);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message.find("r-c") != std::string::npos);
    }
    SECTION("another city's or another analyte's booking does not hold this unit") {
        auto elsewhere = class_booking("r-x", "p-1", 10, 12);
        elsewhere.city = "450200";
        auto cod =
            class_booking("r-a", "p-1", 10, 12, eqm::device_class::analyzer, eqm::analyte::cod);
        const std::vector<reservation> all{elsewhere, cod};
        const auto units = drones({"dr-01"});
        CHECK(eqm::claim_for_checkout(taking("dr-01", "p-9"), all,
                                      std::span<const eqm::ready_unit>(units), at)
                  .has_value());
        const std::vector<eqm::ready_unit> voc{
            {"an-1", eqm::device_class::analyzer, eqm::analyte::voc}};
        const eqm::checkout_subject analyzer{"an-1", eqm::device_class::analyzer, eqm::analyte::voc,
                                             "450100", "p-9"};
        CHECK(eqm::claim_for_checkout(analyzer, all, std::span<const eqm::ready_unit>(voc), at)
                  .has_value());
        const std::vector<eqm::ready_unit> cod_units{
            {"an-2", eqm::device_class::analyzer, eqm::analyte::cod}};
        const eqm::checkout_subject cod_taken{"an-2", eqm::device_class::analyzer,
                                              eqm::analyte::cod, "450100", "p-9"};
        CHECK_FALSE(
            eqm::claim_for_checkout(cod_taken, all, std::span<const eqm::ready_unit>(cod_units), at)
                .has_value());
    }
    SECTION("a named booking's own check-out never waits for class bookings") {
        const std::vector<reservation> all{
            class_booking("r-c", "p-1", 10, 12),
            booking("r-n", 10, 12, reservation_status::approved, "dr-01", "p-3")};
        const auto units = drones({"dr-01"});
        auto r = eqm::claim_for_checkout(taking("dr-01", "p-3"), all,
                                         std::span<const eqm::ready_unit>(units), at);
        REQUIRE(r.has_value());
        CHECK(r->reservation_id == "r-n");
    }
    SECTION("two class bookings need two units; the booker of one leaves one for the other") {
        const std::vector<reservation> all{class_booking("r-1", "p-1", 10, 12),
                                           class_booking("r-2", "p-2", 11, 13)};
        const auto two = drones({"dr-01", "dr-02"});
        CHECK(eqm::claim_for_checkout(taking("dr-01", "p-1"), all,
                                      std::span<const eqm::ready_unit>(two), at)
                  ->reservation_id == "r-1");
        CHECK_FALSE(eqm::claim_for_checkout(taking("dr-01", "p-9"), all,
                                            std::span<const eqm::ready_unit>(two), at)
                        .has_value());
    }
}

TEST_CASE("records from older servers read as named bookings, pending as requested",
          "[reservation][payloads]") {
    const auto cmd = eqm::parse_srv_cmd(
        R"({"cmd_id":"c-1","ts":"2026-11-26T08:30:00.000Z","type":"reservation_upsert",)"
        R"("reservation":{"id":"r-1","device_id":"dr-01","person_id":"p-1",)"
        R"("start":"2026-11-27T00:00:00.000Z","end":"2026-11-27T08:00:00.000Z",)"
        R"("status":"pending"}})");
    REQUIRE(cmd.has_value());
    const auto& r = std::get<eqm::reservation_upsert_cmd>(cmd->body).reservation;
    CHECK(r.status == reservation_status::requested);
    CHECK(r.device_id == "dr-01");
    CHECK_FALSE(r.by_class());
    CHECK_FALSE(r.city.has_value());
    CHECK(eqm::to_json(r).at("status") == "requested");
}
