// libFuzzer target for the allocation plan input reader (the body of
// POST /api/v1/allocation/plan and the file of `eqm plan`). Asserts, for any input, with the
// region's names and with any names:
// - no crash and no exception escapes the reader, the writer or the cost arithmetic;
// - a refusal carries a message;
// - an accepted input re-serializes to JSON that reads back to an equal input, and its exact
//   costs can be made or are refused with a message;
// - settling no moves gives a plan that check_plan() recomputes to the same cost.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string_view>

#include "eqm/domain/allocation.hpp"

namespace {

/// Bigger inputs only slow the fuzzer down: the reader's cost is linear in cities x classes.
constexpr std::size_t max_fuzz_bytes = 64 * 1024;

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

void check(std::string_view text, eqm::plan_names names) {
    const auto in = eqm::parse_allocation_input_text(text, names);
    if (!in) {
        if (in.error().message.empty()) broken("a refusal without a message");
        return;
    }
    const auto again = eqm::parse_allocation_input(eqm::to_json(*in), names);
    if (!again) {
        std::fprintf(stderr, "re-read failed: %s\n", again.error().describe().c_str());
        broken("the written input does not read back");
    }
    if (!(*again == *in)) broken("read(write(x)) != x");
    const auto costs = eqm::make_exact_costs(*in);
    if (!costs) {
        if (costs.error().message.empty()) broken("a cost refusal without a message");
        return;
    }
    const auto plan = eqm::settle(*in, *costs, {});
    const auto recomputed = eqm::check_plan(*in, plan);
    // A plan without moves may be refused as not optimal, never for its figures.
    if (!recomputed && recomputed.error().code != eqm::errc::conflict) {
        std::fprintf(stderr, "check_plan: %s\n", recomputed.error().describe().c_str());
        broken("check_plan refuses the figures settle() wrote");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > max_fuzz_bytes) return 0;
    try {
        const std::string_view text(reinterpret_cast<const char*>(data), size);
        check(text, eqm::plan_names::region);
        check(text, eqm::plan_names::any);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception escaped: %s\n", e.what());
        std::abort();
    } catch (...) {
        broken("a non-standard exception escaped");
    }
    return 0;
}
