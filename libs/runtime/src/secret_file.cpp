#include "eqm/runtime/secret_file.hpp"

#include <fstream>

namespace eqm {

result<std::string> read_secret_file(const std::string& path, std::string_view field) {
    std::ifstream in(path);
    if (!in) return fail(errc::bad_field, std::string(field), "cannot read " + path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ' ||
                             line.back() == '\t'))
        line.pop_back();
    if (line.empty())
        return fail(errc::bad_field, std::string(field), path + " has an empty first line");
    return line;
}

}  // namespace eqm
