#include "eqm/runtime/clock.hpp"

#include <chrono>

namespace eqm {

clock_ms system_now() {
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace eqm
