// `eqm plan FILE.json`, the real program: the examples of schemas/examples give exactly their
// plans, bad input exits 2 naming the field, `-` reads stdin and --lp writes the LP that glpsol
// solves to the same cost. It needs no server.
#ifdef EQM_CLI_BIN

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "eqm/domain/allocation.hpp"
#include "eqm/test/child_process.hpp"
#include "eqm/test/temp_dir.hpp"
#include "plan_fixtures.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path examples = fs::path(EQM_SOURCE_DIR) / "schemas" / "examples";

struct run_result {
    int status = -1;
    std::string out;
    std::string err;
};

run_result run(const eqm::test::temp_dir& dir, std::vector<std::string> argv) {
    eqm::test::process_options o;
    o.argv = std::move(argv);
    o.stdout_path = dir / "stdout";
    o.stderr_path = dir / "stderr";
    eqm::test::child_process p(o);
    const auto status = p.wait_for_exit(std::chrono::seconds{60});
    REQUIRE(status.has_value());
    return {*status, eqm::test::read_text(dir / "stdout"), eqm::test::read_text(dir / "stderr")};
}

}  // namespace

TEST_CASE("eqm plan prints exactly the plan of each example input", "[allocation][cli]") {
    eqm::test::temp_dir dir("eqm-plan-cli");
    std::size_t checked = 0;
    for (const auto& file : fs::directory_iterator(examples / "allocation_plan_input" / "valid")) {
        const auto name = file.path().filename();
        CAPTURE(name.string());
        const auto r = run(dir, {EQM_CLI_BIN, "plan", file.path().string()});
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto printed = json::parse(r.out);
        CHECK(printed ==
              json::parse(eqm::test::read_text(examples / "allocation_plan" / "valid" / name)));

        const auto in = eqm::parse_allocation_input_text(eqm::test::read_text(file.path()),
                                                         eqm::plan_names::region);
        REQUIRE(in.has_value());
        const auto plan = eqm::parse_allocation_plan(printed);
        REQUIRE(plan.has_value());
        const auto check = eqm::check_plan(*in, *plan);
        INFO((check ? std::string() : check.error().describe()));
        CHECK(check.has_value());
        ++checked;
    }
    CHECK(checked >= 2);
}

TEST_CASE("eqm plan exits 2 naming the field of bad input", "[allocation][cli]") {
    eqm::test::temp_dir dir("eqm-plan-cli");
    const auto invalid = examples / "allocation_plan_input" / "invalid";
    const auto row = GENERATE(values<std::pair<std::string, std::string>>({
        {"negative_stock.json", "stock.450200.drone: out of range"},
        {"unknown_class.json", "classes[1]: unknown class \"helicopter\""},
        {"unknown_city.json", "cities[2]: unknown city \"999999\""},
        {"negative_travel.json", "travel_minutes[0][2]: out of range"},
        {"unknown_field.json", "horizon_days: unknown field"},
    }));
    CAPTURE(row.first);
    const auto r = run(dir, {EQM_CLI_BIN, "plan", (invalid / row.first).string()});
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find(row.second) != std::string::npos);
    INFO(r.err);

    const auto missing = run(dir, {EQM_CLI_BIN, "plan", (dir / "none.json").string()});
    CHECK(missing.status == 2);
    CHECK(missing.err.find("cannot read") != std::string::npos);
}

TEST_CASE("eqm plan reads stdin and writes an LP that glpsol solves to the plan's cost",
          "[allocation][cli][glpk]") {
    const auto glpsol = eqm::test::require_glpsol();
    eqm::test::temp_dir dir("eqm-plan-cli");
    const auto input = examples / "allocation_plan_input" / "valid" / "guangxi_five_cities.json";
    const auto lp = dir / "plan.lp";
    const auto r =
        run(dir, {"/bin/sh", "-c", std::string("exec \"$0\" plan - --compact --lp \"$1\" < \"$2\""),
                  EQM_CLI_BIN, lp.string(), input.string()});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.out.find('\n') == r.out.size() - 1);  // --compact: one line
    const double total = json::parse(r.out)["total_cost"].get<double>();
    CHECK(eqm::test::glpsol_optimum(glpsol, lp, dir.path()) == Approx(total).epsilon(1e-9));
}

#endif
