#include "eqm/domain/region.hpp"

#include <catch2/catch.hpp>

TEST_CASE("the region has the 14 Guangxi cities, each found by its code", "[region]") {
    CHECK(eqm::region_cities.size() == 14);
    for (const auto& c : eqm::region_cities) {
        const auto* found = eqm::find_city(c.code);
        REQUIRE(found != nullptr);
        CHECK(found->name == c.name);
    }
    CHECK(eqm::find_city("450000") == nullptr);
    CHECK(eqm::find_city("") == nullptr);
    CHECK(eqm::find_city("4501000") == nullptr);
}

TEST_CASE("road distance is great-circle x 1.3 and time is at 80 km/h", "[region]") {
    const auto& nanning = *eqm::find_city("450100");
    const auto& guilin = *eqm::find_city("450300");
    const double gc = eqm::great_circle_km(nanning, guilin);
    // Flat-earth check at ~24 N: dy = 2.450 deg x 111.2 km = 272.4 km, dx = 1.979 deg x 101.7 km
    // = 201.3 km, so about 338.7 km as the crow flies.
    CHECK(gc == Approx(338.7).margin(1.5));
    CHECK(eqm::road_km(nanning, guilin) == Approx(gc * 1.3));
    CHECK(eqm::road_time(nanning, guilin).count() == Approx(gc * 1.3 / 80 * 60).margin(1));
    CHECK(eqm::great_circle_km(nanning, nanning) == Approx(0).margin(1e-9));
    CHECK(eqm::road_km(guilin, nanning) == Approx(eqm::road_km(nanning, guilin)));
}
