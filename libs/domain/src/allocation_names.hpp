#pragma once
// Private to the allocation sources: names of cities or classes to their index.
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eqm::detail {

using name_index = std::unordered_map<std::string_view, std::size_t>;

/// The names' indexes; the names must outlive the index.
inline name_index index_of(const std::vector<std::string>& names) {
    name_index out;
    out.reserve(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) out.emplace(names[i], i);
    return out;
}

}  // namespace eqm::detail
