#pragma once
/// Which gateways hold a person, and what each of them gets: the one rule behind the full
/// registry sync (region_store::people_for_city) and the immediate push after a change over
/// REST (people_api.cpp).
///
/// A city's gateway holds an active person when their badge may open its docks (home city,
/// a badge city, or a region-wide role) or when they may log in at its kiosk page (its
/// custodians, every dispatcher and admin).
#include <set>
#include <string>
#include <string_view>

#include "eqm/domain/payloads.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// The cities whose gateways hold `u` (none when `u` is not active).
std::set<std::string> gateway_cities_of(const user_account& u);

/// `u` as the gateway of `city` gets it: the password hash only for those who may log in at
/// that city's kiosk page, and only once they chose their password (not a one-time one).
person_record person_for_gateway(user_account u, std::string_view city);

/// What a gateway that must no longer hold `u` gets instead: the person marked inactive,
/// without a password hash, so neither the badge nor a kiosk login works there any more (the
/// next full sync, which no longer lists them, deletes the row).
person_record person_withdrawn(const user_account& u);

}  // namespace eqm::server
