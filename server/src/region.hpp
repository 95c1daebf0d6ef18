#pragma once
/// The region the dispatcher serves: Guangxi's 14 prefecture-level cities (ARCHITECTURE.md).
#include <array>
#include <optional>
#include <string_view>

namespace eqm::server {

/// One city: its administrative code, name and approximate centre.
struct city_info {
    std::string_view code;
    std::string_view name;
    double lat = 0;
    double lon = 0;
};

/// Number of cities in the region.
inline constexpr std::size_t region_city_count = 14;

/// The 14 cities in code order.
inline constexpr std::array<city_info, region_city_count> region_cities{{
    {"450100", "Nanning", 22.803, 108.321},      {"450200", "Liuzhou", 24.327, 109.427},
    {"450300", "Guilin", 25.253, 110.300},       {"450400", "Wuzhou", 23.462, 111.276},
    {"450500", "Beihai", 21.473, 109.164},       {"450600", "Fangchenggang", 21.673, 108.348},
    {"450700", "Qinzhou", 21.887, 108.626},      {"450800", "Guigang", 23.103, 109.586},
    {"450900", "Yulin", 22.653, 110.140},        {"451000", "Baise", 23.893, 106.632},
    {"451100", "Hezhou", 24.412, 111.545},       {"451200", "Hechi", 24.701, 108.123},
    {"451300", "Laibin", 23.722, 109.606},       {"451400", "Chongzuo", 22.392, 107.359},
}};

/// The city with this code, or nullopt when it is not one of the region's.
inline std::optional<city_info> find_city(std::string_view code) noexcept {
    for (const auto& c : region_cities)
        if (c.code == code) return c;
    return std::nullopt;
}

}  // namespace eqm::server
