#include "eqm/domain/region.hpp"

#include <cmath>
#include <numbers>

namespace eqm {

const city_info* find_city(std::string_view code) noexcept {
    for (const auto& c : region_cities)
        if (c.code == code) return &c;
    return nullptr;
}

double great_circle_km(const city_info& a, const city_info& b) noexcept {
    constexpr double earth_radius_km = 6371.0;
    constexpr double to_rad = std::numbers::pi / 180.0;
    const double dlat = (b.lat - a.lat) * to_rad;
    const double dlon = (b.lon - a.lon) * to_rad;
    // Haversine: stable for the short distances inside one province.
    const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                     std::cos(a.lat * to_rad) * std::cos(b.lat * to_rad) * std::sin(dlon / 2) *
                         std::sin(dlon / 2);
    return 2 * earth_radius_km * std::asin(std::sqrt(h));
}

double road_km(const city_info& a, const city_info& b) noexcept {
    return great_circle_km(a, b) * road_factor;
}

std::chrono::minutes road_time(const city_info& a, const city_info& b) noexcept {
    return std::chrono::minutes{std::lround(road_km(a, b) / road_speed_kmh * 60.0)};
}

}  // namespace eqm
