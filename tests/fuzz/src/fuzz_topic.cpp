// libFuzzer target for eqm::parse_topic. Asserts, for any input: no crash, no exception, every
// refusal names a field under `topic`, and an accepted topic formats back to exactly the input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "eqm/domain/payloads.hpp"

namespace {

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

void check(std::string_view text) {
    const auto t = eqm::parse_topic(text);
    if (!t) {
        if (!t.error().field.starts_with("topic")) broken("a refusal that does not name the topic");
        return;
    }
    if (eqm::format_topic(*t) != text) broken("format_topic(parse_topic(text)) != text");
    const auto again = eqm::parse_topic(eqm::format_topic(*t));
    if (!again || !(*again == *t)) broken("parse_topic(format_topic(t)) != t");
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
