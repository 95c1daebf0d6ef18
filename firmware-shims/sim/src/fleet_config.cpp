#include "eqm/domain/try.hpp"
#include "eqm/sim/model.hpp"

namespace eqm::sim {
namespace {

/// Upper bound per kind and city: keeps ids at three digits and a run within one machine.
constexpr int max_per_city = 999;

result<fleet_size> parse_size(const nlohmann::json& j, fleet_size base, const std::string& path) {
    if (!j.is_object()) return fail(errc::bad_field, path, "must be an object");
    for (const auto& [key, value] : j.items()) {
        int* target = nullptr;
        if (key == "body_cameras")
            target = &base.body_cameras;
        else if (key == "drones")
            target = &base.drones;
        else if (key == "analyzers")
            target = &base.analyzers;
        else if (key == "docks")
            target = &base.docks;
        else if (key == "officers")
            target = &base.officers;
        else
            return fail(errc::unknown_field, path + "." + key, "is not a fleet count");
        if (!value.is_number_integer() || value.get<long long>() < 0 ||
            value.get<long long>() > max_per_city)
            return fail(errc::bad_field, path + "." + key, "must be an integer 0..999");
        *target = value.get<int>();
    }
    if (base.docks == 0 && base.body_cameras + base.drones + base.analyzers > 0)
        return fail(errc::bad_field, path + ".docks",
                    "a city with devices needs at least one dock");
    return base;
}

}  // namespace

fleet_size fleet_config::for_city(const std::string& code) const {
    auto it = per_city.find(code);
    return it == per_city.end() ? defaults : it->second;
}

result<fleet_config> parse_fleet_config(const nlohmann::json& j) {
    if (!j.is_object()) return fail(errc::bad_field, "fleet", "must be a JSON object");
    fleet_config out;
    for (const auto& [key, value] : j.items())
        if (key != "defaults" && key != "cities")
            return fail(errc::unknown_field, key, "expected defaults or cities");
    if (j.contains("defaults")) {
        EQM_TRY_LET(d, parse_size(j["defaults"], fleet_size{}, "defaults"));
        out.defaults = d;
    }
    if (j.contains("cities")) {
        if (!j["cities"].is_object()) return fail(errc::bad_field, "cities", "must be an object");
        for (const auto& [code, value] : j["cities"].items()) {
            if (!find_city(code))
                return fail(errc::bad_field, "cities." + code, "is not a Guangxi city code");
            EQM_TRY_LET(s, parse_size(value, out.defaults, "cities." + code));
            out.per_city[code] = s;
        }
    }
    return out;
}

}  // namespace eqm::sim
