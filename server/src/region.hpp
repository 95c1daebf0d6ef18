#pragma once
/// The region the dispatcher serves: the 14 cities live in libs/domain (eqm/domain/region.hpp).
#include "eqm/domain/region.hpp"

namespace eqm::server {

using eqm::city_info;
using eqm::find_city;
using eqm::region_cities;
using eqm::region_city_count;

}  // namespace eqm::server
