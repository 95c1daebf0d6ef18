#include "plan_fixtures.hpp"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "eqm/allocation/lp_format.hpp"
#include "eqm/test/child_process.hpp"

namespace eqm::test {

namespace fs = std::filesystem;

plan_builder::plan_builder(std::initializer_list<std::string> cities,
                           std::initializer_list<std::string> classes)
    : in_(allocation_input::empty(cities, classes)) {}

std::size_t plan_builder::city(const std::string& name) const {
    const auto it = std::find(in_.cities.begin(), in_.cities.end(), name);
    REQUIRE(it != in_.cities.end());
    return static_cast<std::size_t>(it - in_.cities.begin());
}

std::size_t plan_builder::cls(const std::string& name) const {
    const auto it = std::find(in_.classes.begin(), in_.classes.end(), name);
    REQUIRE(it != in_.classes.end());
    return static_cast<std::size_t>(it - in_.classes.begin());
}

plan_builder& plan_builder::stock(const std::string& c, const std::string& k, std::int64_t units) {
    in_.stock[city(c) * in_.class_count() + cls(k)] = units;
    return *this;
}

plan_builder& plan_builder::demand(const std::string& c, const std::string& k,
                                   std::int64_t reserved, std::int64_t quota,
                                   std::int64_t forecast) {
    auto& d = in_.demand[city(c) * in_.class_count() + cls(k)];
    d[demand_kind::reserved] = reserved;
    d[demand_kind::quota] = quota;
    d[demand_kind::forecast] = forecast;
    return *this;
}

plan_builder& plan_builder::travel(const std::string& a, const std::string& b,
                                   std::optional<double> minutes) {
    travel_one_way(a, b, minutes);
    return travel_one_way(b, a, minutes);
}

plan_builder& plan_builder::travel_one_way(const std::string& from, const std::string& to,
                                           std::optional<double> minutes) {
    in_.travel[city(from) * in_.city_count() + city(to)] =
        minutes ? to_micros(*minutes) : unreachable;
    return *this;
}

plan_builder& plan_builder::cost_per_unit_minute(double v) {
    in_.cost_per_unit_minute = to_micros(v);
    return *this;
}

plan_builder& plan_builder::penalty(double reserved, double quota, double forecast) {
    in_.penalty = {to_micros(reserved), to_micros(quota), to_micros(forecast)};
    return *this;
}

micros to_micros(double v) {
    return static_cast<micros>(std::llround(v * static_cast<double>(micros_per_unit)));
}

fs::path require_glpsol() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        if (dir.empty()) continue;
        const auto candidate = fs::path(dir) / "glpsol";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    FAIL(
        "glpsol is not installed (it is the reference the plans are checked against): "
        "scripts/bootstrap installs glpk-utils");
    return {};
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

double glpsol_optimum(const fs::path& glpsol, const fs::path& lp_file, const fs::path& work_dir) {
    const auto solution = work_dir / "glpsol.sol";
    const auto log = work_dir / "glpsol.log";
    fs::remove(solution);
    child_process run({glpsol.string(), "--lp", lp_file.string(), "-w", solution.string()}, log);
    const auto status = run.wait_for_exit(std::chrono::seconds{60});
    INFO(read_text(log));
    REQUIRE(status == 0);
    const auto objective = allocation::read_glpk_objective(read_text(solution));
    INFO((objective ? std::string() : objective.error().describe()));
    REQUIRE(objective.has_value());
    return *objective;
}

}  // namespace eqm::test
