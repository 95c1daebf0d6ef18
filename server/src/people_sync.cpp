// Which gateways hold a person (see people_sync.hpp).
#include "people_sync.hpp"

#include <algorithm>

#include "eqm/domain/region.hpp"

namespace eqm::server {

namespace {

bool region_wide(person_role r) noexcept {
    return r == person_role::dispatcher || r == person_role::admin;
}

}  // namespace

std::set<std::string> gateway_cities_of(const user_account& u) {
    std::set<std::string> out;
    if (!u.active) return out;
    if (region_wide(u.role) || (u.badge && !u.city)) {
        for (const auto& c : region_cities) out.emplace(c.code);
        return out;
    }
    if (u.city && (u.badge || u.role == person_role::custodian)) out.insert(*u.city);
    if (u.badge) out.insert(u.badge_cities.begin(), u.badge_cities.end());
    return out;
}

person_record person_for_gateway(user_account u, std::string_view city) {
    person_record p;
    p.id = std::move(u.id);
    p.name = std::move(u.name);
    p.role = u.role;
    p.city = u.city;
    p.badge = std::move(u.badge);
    if (!u.badge_cities.empty()) p.badge_cities = std::move(u.badge_cities);
    const bool kiosk =
        region_wide(u.role) || (u.role == person_role::custodian && u.city && *u.city == city);
    if (kiosk && !u.must_change_password) p.password_hash = std::move(u.password_hash);
    return p;
}

person_record person_withdrawn(const user_account& u) {
    person_record p;
    p.id = u.id;
    p.name = u.name;
    p.role = u.role;
    p.city = u.city;
    p.badge = u.badge;
    p.active = false;
    return p;
}

}  // namespace eqm::server
