#include "eqm/sim/model.hpp"

namespace eqm::sim {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

}  // namespace

rng::rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t rng::next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double rng::uniform() {
    constexpr double two_pow_minus_53 = 1.0 / 9007199254740992.0;
    return static_cast<double>(next() >> 11) * two_pow_minus_53;
}

std::uint64_t rng::below(std::uint64_t n) {
    return n == 0 ? 0 : next() % n;
}

std::uint64_t stream_seed(std::uint64_t run_seed, std::string_view name) {
    // FNV-1a of the name, mixed with the run seed through splitmix64.
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    std::uint64_t x = run_seed ^ h;
    return splitmix64(x);
}

}  // namespace eqm::sim
