#pragma once
/// The region eqm serves: Guangxi's 14 prefecture-level cities (ARCHITECTURE.md, Region data),
/// and the road-distance estimate used until real figures are loaded.
#include <array>
#include <chrono>
#include <string_view>

namespace eqm {

/// One city: its administrative code, name and approximate centre.
struct city_info {
    std::string_view code;
    std::string_view name;
    double lat = 0;
    double lon = 0;
};

inline constexpr std::size_t region_city_count = 14;

/// The 14 cities in code order.
inline constexpr std::array<city_info, region_city_count> region_cities{{
    {"450100", "Nanning", 22.803, 108.321},
    {"450200", "Liuzhou", 24.327, 109.427},
    {"450300", "Guilin", 25.253, 110.300},
    {"450400", "Wuzhou", 23.462, 111.276},
    {"450500", "Beihai", 21.473, 109.164},
    {"450600", "Fangchenggang", 21.673, 108.348},
    {"450700", "Qinzhou", 21.887, 108.626},
    {"450800", "Guigang", 23.103, 109.586},
    {"450900", "Yulin", 22.653, 110.140},
    {"451000", "Baise", 23.893, 106.632},
    {"451100", "Hezhou", 24.412, 111.545},
    {"451200", "Hechi", 24.701, 108.123},
    {"451300", "Laibin", 23.722, 109.606},
    {"451400", "Chongzuo", 22.392, 107.359},
}};

/// The city with this code, or nullptr when it is not one of the region's.
const city_info* find_city(std::string_view code) noexcept;

/// Great-circle distance between two city centres, in km.
double great_circle_km(const city_info& a, const city_info& b) noexcept;

/// Estimated road distance: great-circle x 1.3 (ARCHITECTURE.md), in km.
inline constexpr double road_factor = 1.3;
double road_km(const city_info& a, const city_info& b) noexcept;

/// Estimated driving time at 80 km/h over road_km.
inline constexpr double road_speed_kmh = 80.0;
std::chrono::minutes road_time(const city_info& a, const city_info& b) noexcept;

}  // namespace eqm
