#pragma once
/// The rules of a person record (a user of the REST API, the badge a dock reads), in one place,
/// for `eqm-server user add`, the login and the people REST API alike:
///
/// | field | rule |
/// | ----- | ---- |
/// | name  | 1..128 characters (Unicode code points) of valid UTF-8, no control characters |
/// | role  | officer, custodian, dispatcher or admin |
/// | city  | one of the region's 14 codes; required for the city-scoped roles (officer, custodian);
/// none: region-wide | | badge | optional, an id (`^[A-Za-z0-9_-]{1,64}$`) |
///
/// Every refusal is errc::bad_field naming the field.
#include <optional>
#include <string>
#include <string_view>

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
                                  std::optional<std::string> city,
                                  std::optional<std::string> badge);

}  // namespace eqm
