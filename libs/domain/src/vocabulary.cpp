#include "eqm/domain/vocabulary.hpp"

#include <array>
#include <utility>

namespace eqm {
namespace {

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
    for (const auto& [value, name] : table)
        if (value == v) return name;
    return "unknown";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table,
                          std::string_view s) {
    for (const auto& [value, name] : table)
        if (name == s) return value;
    return std::nullopt;
}

constexpr std::array<std::pair<device_class, std::string_view>, 4> class_names{{
    {device_class::body_camera, "body_camera"},
    {device_class::drone, "drone"},
    {device_class::analyzer, "analyzer"},
    {device_class::dock, "dock"},
}};
constexpr std::array<std::pair<person_role, std::string_view>, 4> role_names{{
    {person_role::officer, "officer"},
    {person_role::custodian, "custodian"},
    {person_role::dispatcher, "dispatcher"},
    {person_role::admin, "admin"},
}};
constexpr std::array<std::pair<analyte, std::string_view>, 6> analyte_names{{
    {analyte::cod, "cod"},
    {analyte::nh3n, "nh3n"},
    {analyte::voc, "voc"},
    {analyte::so2, "so2"},
    {analyte::nox, "nox"},
    {analyte::noise, "noise"},
}};

}  // namespace

std::string_view to_string(device_class v) noexcept {
    return name_of(class_names, v);
}
std::string_view to_string(person_role v) noexcept {
    return name_of(role_names, v);
}
std::string_view to_string(analyte v) noexcept {
    return name_of(analyte_names, v);
}

std::optional<device_class> parse_device_class(std::string_view s) noexcept {
    return value_of(class_names, s);
}
std::optional<person_role> parse_person_role(std::string_view s) noexcept {
    return value_of(role_names, s);
}
std::optional<analyte> parse_analyte(std::string_view s) noexcept {
    return value_of(analyte_names, s);
}

}  // namespace eqm
