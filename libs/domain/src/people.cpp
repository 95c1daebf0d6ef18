// The person rules (see people.hpp).
#include "eqm/domain/people.hpp"

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {

bool is_city_scoped(person_role role) noexcept {
    return role == person_role::officer || role == person_role::custodian;
}

result<void> check_person_name(std::string_view name) {
    if (!is_valid_utf8(name)) return fail(errc::bad_field, "name", "must be valid UTF-8");
    const auto n = detail::code_points(name);
    if (n == 0 || n > max_person_name_chars)
        return fail(errc::bad_field, "name",
                    "must be 1.." + std::to_string(max_person_name_chars) + " characters");
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            return fail(errc::bad_field, "name", "must not contain control characters");
    }
    return {};
}

result<person_record> make_person(std::string_view name, std::string_view role,
                                  std::optional<std::string> city,
                                  std::optional<std::string> badge) {
    EQM_TRY(check_person_name(name));
    const auto r = parse_person_role(role);
    if (!r) return fail(errc::bad_field, "role", "must be officer, custodian, dispatcher or admin");
    if (city && !find_city(*city))
        return fail(errc::bad_field, "city", "must be one of the region's 14 city codes");
    if (!city && is_city_scoped(*r))
        return fail(errc::bad_field, "city",
                    "is required for an officer or a custodian (they belong to one city)");
    if (badge && !is_valid_id(*badge))
        return fail(errc::bad_field, "badge", "must match ^[A-Za-z0-9_-]{1,64}$");
    person_record p;
    p.name = std::string(name);
    p.role = *r;
    p.city = std::move(city);
    p.badge = std::move(badge);
    return p;
}

}  // namespace eqm
