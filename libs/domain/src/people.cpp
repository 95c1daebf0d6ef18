// The person rules (see people.hpp).
#include "eqm/domain/people.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

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

namespace {

using nlohmann::json;

/// The badge cities as stored: known codes, each once, sorted, without the home city.
result<std::vector<std::string>> normalize_badge_cities(std::vector<std::string> cities,
                                                        const std::optional<std::string>& home) {
    for (const auto& c : cities)
        if (!find_city(c))
            return fail(errc::bad_field, "badge_cities",
                        "must list the region's 14 city codes only (" + c + " is not one)");
    std::sort(cities.begin(), cities.end());
    if (std::adjacent_find(cities.begin(), cities.end()) != cities.end())
        return fail(errc::bad_field, "badge_cities", "must not name a city twice");
    std::erase_if(cities, [&](const std::string& c) { return home && c == *home; });
    return cities;
}

result<std::string> text_member(const json& j, std::string_view name) {
    const auto& v = j.at(name);
    if (!v.is_string()) return fail(errc::bad_field, std::string(name), "must be a string");
    return v.get<std::string>();
}

/// A member that may be a string or null (null, like absence, means none).
result<std::optional<std::string>> nullable_text(const json& j, std::string_view name) {
    const auto& v = j.at(name);
    if (v.is_null()) return std::optional<std::string>();
    EQM_TRY_LET(t, text_member(j, name));
    return std::optional<std::string>(std::move(t));
}

result<std::vector<std::string>> city_list(const json& j) {
    const auto& v = j.at("badge_cities");
    std::vector<std::string> out;
    if (v.is_null()) return out;
    if (!v.is_array())
        return fail(errc::bad_field, "badge_cities", "must be an array of city codes");
    if (v.size() > region_city_count)
        return fail(errc::bad_field, "badge_cities",
                    "must have at most " + std::to_string(region_city_count) + " cities");
    for (const auto& c : v) {
        if (!c.is_string())
            return fail(errc::bad_field, "badge_cities", "must be an array of city codes");
        out.push_back(c.get<std::string>());
    }
    return out;
}

}  // namespace

result<void> check_password(std::string_view password, std::string_view field) {
    if (password.size() < min_password_bytes || password.size() > max_password_bytes)
        return fail(errc::bad_field, std::string(field),
                    "must be " + std::to_string(min_password_bytes) + ".." +
                        std::to_string(max_password_bytes) + " bytes long");
    return {};
}

result<person_record> person_from_json(const nlohmann::json& body) {
    if (!body.is_object()) return fail(errc::bad_field, "body", "must be a JSON object");
    for (const char* required : {"name", "role"})
        if (!body.contains(required)) return fail(errc::bad_field, required, "is required");
    EQM_TRY_LET(name, text_member(body, "name"));
    EQM_TRY_LET(role, text_member(body, "role"));
    std::optional<std::string> city;
    std::optional<std::string> badge;
    std::vector<std::string> cities;
    if (body.contains("city")) {
        EQM_TRY_LET(v, nullable_text(body, "city"));
        city = std::move(v);
    }
    if (body.contains("badge")) {
        EQM_TRY_LET(v, nullable_text(body, "badge"));
        badge = std::move(v);
    }
    if (body.contains("badge_cities")) {
        EQM_TRY_LET(v, city_list(body));
        cities = std::move(v);
    }
    return make_person(name, role, std::move(city), std::move(badge), std::move(cities));
}

result<person_record> patch_person(const person_record& current, const nlohmann::json& patch) {
    if (!patch.is_object()) return fail(errc::bad_field, "body", "must be a JSON object");
    std::string name = current.name;
    std::string role(to_string(current.role));
    auto city = current.city;
    auto badge = current.badge;
    auto cities = current.badge_cities.value_or(std::vector<std::string>{});
    bool active = current.is_active();
    if (patch.contains("name")) {
        EQM_TRY_LET(v, text_member(patch, "name"));
        name = std::move(v);
    }
    if (patch.contains("role")) {
        EQM_TRY_LET(v, text_member(patch, "role"));
        role = std::move(v);
    }
    if (patch.contains("city")) {
        EQM_TRY_LET(v, nullable_text(patch, "city"));
        city = std::move(v);
    }
    if (patch.contains("badge")) {
        EQM_TRY_LET(v, nullable_text(patch, "badge"));
        badge = std::move(v);
    }
    if (patch.contains("badge_cities")) {
        EQM_TRY_LET(v, city_list(patch));
        cities = std::move(v);
    }
    if (patch.contains("active")) {
        if (!patch["active"].is_boolean())
            return fail(errc::bad_field, "active", "must be true or false");
        active = patch["active"].get<bool>();
    }
    EQM_TRY_LET(p, make_person(name, role, std::move(city), std::move(badge), std::move(cities)));
    p.id = current.id;
    p.active = active;
    p.password_hash = current.password_hash;
    return p;
}

result<person_record> make_person(std::string_view name, std::string_view role,
                                  std::optional<std::string> city, std::optional<std::string> badge,
                                  std::vector<std::string> badge_cities) {
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
    EQM_TRY_LET(cities, normalize_badge_cities(std::move(badge_cities), city));
    person_record p;
    p.name = std::string(name);
    p.role = *r;
    p.city = std::move(city);
    p.badge = std::move(badge);
    if (!cities.empty()) p.badge_cities = std::move(cities);
    return p;
}

}  // namespace eqm
