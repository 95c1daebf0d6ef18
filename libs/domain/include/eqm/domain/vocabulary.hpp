#pragma once
/// The small closed vocabularies shared by payloads, rules and adapters, with their wire names.
#include <optional>
#include <string_view>

namespace eqm {

enum class device_class { body_camera, drone, analyzer, dock };
enum class person_role { officer, custodian, dispatcher, admin };
enum class analyte { cod, nh3n, voc, so2, nox, noise };

std::string_view to_string(device_class v) noexcept;
std::string_view to_string(person_role v) noexcept;
std::string_view to_string(analyte v) noexcept;

/// Wire name -> value; std::nullopt when the name is not one of ours.
std::optional<device_class> parse_device_class(std::string_view s) noexcept;
std::optional<person_role> parse_person_role(std::string_view s) noexcept;
std::optional<analyte> parse_analyte(std::string_view s) noexcept;

}  // namespace eqm
