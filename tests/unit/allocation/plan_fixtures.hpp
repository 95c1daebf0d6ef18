#pragma once
// Shared by the allocation tests: a builder of small inputs by name, and glpsol as a reference.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "eqm/domain/allocation.hpp"

namespace eqm::test {

/// A plan input built by name: `plan_builder b({"S", "A"}, {"drone"}); b.stock("S", "drone", 1);`
/// Every route is 0 minutes until set.
class plan_builder {
  public:
    plan_builder(std::initializer_list<std::string> cities,
                 std::initializer_list<std::string> classes);

    plan_builder& stock(const std::string& city, const std::string& cls, std::int64_t units);
    plan_builder& demand(const std::string& city, const std::string& cls, std::int64_t reserved,
                         std::int64_t quota, std::int64_t forecast);
    /// Both directions; nullopt for no route.
    plan_builder& travel(const std::string& a, const std::string& b, std::optional<double> minutes);
    /// One direction only.
    plan_builder& travel_one_way(const std::string& from, const std::string& to,
                                 std::optional<double> minutes);
    plan_builder& cost_per_unit_minute(double v);
    plan_builder& penalty(double reserved, double quota, double forecast);

    const allocation_input& input() const noexcept { return in_; }

  private:
    std::size_t city(const std::string& name) const;
    std::size_t cls(const std::string& name) const;

    allocation_input in_;
};

/// Units as exact micros (the builder's figures have at most 6 decimal places).
micros to_micros(double v);

/// Full path of glpsol in PATH; fails the current test (REQUIRE) when it is missing, saying that
/// scripts/bootstrap installs glpk-utils.
std::filesystem::path require_glpsol();

/// Solves the LP file with glpsol and returns the optimum it reports (REQUIREs success).
double glpsol_optimum(const std::filesystem::path& glpsol, const std::filesystem::path& lp_file,
                      const std::filesystem::path& work_dir);

/// The file's whole content (REQUIREs it to be readable).
std::string read_text(const std::filesystem::path& p);

}  // namespace eqm::test
