#pragma once
/// The rules of a person record (a user of the REST API, the badge a dock reads), in one place,
/// for `eqm-server user add`, the login and the people REST API alike:
///
/// | field | rule |
/// | ----- | ---- |
/// | name  | 1..128 characters (Unicode code points) of valid UTF-8, no control characters |
/// | role  | officer, custodian, dispatcher or admin |
/// | city  | one of the region's 14 codes; required for the city-scoped roles (officer, custodian);
/// none: region-wide |
/// | badge | optional, an id (`^[A-Za-z0-9_-]{1,64}$`) |
/// | badge_cities | optional, distinct city codes whose docks also accept the badge (the home
/// city is implied and dropped from the list) |
/// | password | 8..1024 bytes (REST: a new person's or a changed password) |
///
/// Every refusal is errc::bad_field naming the field.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"

namespace eqm {

/// True for the roles that belong to one city (officer, custodian).
bool is_city_scoped(person_role role) noexcept;

/// The name rule of the table above.
result<void> check_person_name(std::string_view name);

/// A person from its fields as given (a command line, a request body), every rule checked.
/// The id is left empty: who makes the person gives it one.
result<person_record> make_person(std::string_view name, std::string_view role,
                                  std::optional<std::string> city, std::optional<std::string> badge,
                                  std::vector<std::string> badge_cities = {});

/// Shortest and longest password a person may be given or choose.
inline constexpr std::size_t min_password_bytes = 8;
inline constexpr std::size_t max_password_bytes = 1024;

/// The password rule of the table above, naming `field` ("password", "new_password").
result<void> check_password(std::string_view password, std::string_view field = "password");

/// A new person from a request body `{name, role, city?, badge?, badge_cities?}` (other members
/// are the caller's to allow or refuse): each member's type, then make_person.
result<person_record> person_from_json(const nlohmann::json& body);

/// `current` changed by a merge patch `{name?, role?, city?, badge?, badge_cities?, active?}`
/// (null clears city, badge and badge_cities), every rule checked again on the result.
result<person_record> patch_person(const person_record& current, const nlohmann::json& patch);

}  // namespace eqm
