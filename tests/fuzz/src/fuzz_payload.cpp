// libFuzzer target for one payload parser, chosen at compile time by EQM_FUZZ_PAYLOAD (the
// payload name, e.g. device_state -> eqm::parse_device_state). Asserts, for any input:
// - no crash and no exception escapes the parser or the serializer;
// - a refusal carries a message;
// - an accepted value re-serializes to text that parses back to an equal value, and that text
//   is a fixed point of serialize(parse(.)) (the canonical form).
// For gw_events also: whatever the fast batch reader accepts, the reference reader accepts with
// an equal value.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "eqm/domain/payloads.hpp"

#ifndef EQM_FUZZ_PAYLOAD
#error "EQM_FUZZ_PAYLOAD must name a payload, e.g. -DEQM_FUZZ_PAYLOAD=device_state"
#endif
#define EQM_FUZZ_CAT2(a, b) a##b
#define EQM_FUZZ_CAT(a, b) EQM_FUZZ_CAT2(a, b)
#define EQM_FUZZ_PARSE EQM_FUZZ_CAT(eqm::parse_, EQM_FUZZ_PAYLOAD)

namespace {

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

void check_fast_reader([[maybe_unused]] std::string_view text) {
#ifdef EQM_FUZZ_FAST_GW_EVENTS
    const auto fast = eqm::detail::parse_gw_events_fast(text);
    if (!fast) return;
    const auto reference = eqm::detail::parse_gw_events_reference(text);
    if (!reference) broken("the fast gw_events reader accepted what the reference refuses");
    if (!(*fast == *reference)) broken("the fast gw_events reader and the reference disagree");
#endif
}

void check(std::string_view text) {
    check_fast_reader(text);
    const auto value = EQM_FUZZ_PARSE(text);
    if (!value) {
        if (value.error().message.empty()) broken("a refusal without a message");
        return;
    }
    const std::string out = eqm::to_json_text(*value);
    const auto again = EQM_FUZZ_PARSE(out);
    if (!again) {
        // Re-serializing may lengthen a few spellings (1e300 -> 1e+300); over the limit is fine.
        if (again.error().code == eqm::errc::too_large) return;
        std::fprintf(stderr, "re-parse failed: %s\n%s\n", again.error().describe().c_str(),
                     out.c_str());
        broken("serialized text does not parse back");
    }
    if (!(*again == *value)) broken("parse(serialize(x)) != x");
    if (eqm::to_json_text(*again) != out) broken("serialize(parse(text)) is not a fixed point");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        check(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception escaped: %s\n", e.what());
        std::abort();
    } catch (...) {
        broken("a non-standard exception escaped");
    }
    return 0;
}
