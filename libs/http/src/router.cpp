#include <algorithm>
#include <stdexcept>

#include "internal.hpp"

namespace eqm::http {
namespace {

using detail::route_segment;

bool valid_param_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
}

std::vector<route_segment> parse_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/') {
        throw std::invalid_argument("route pattern must start with '/': " + std::string{pattern});
    }
    std::vector<route_segment> segments;
    std::size_t pos = 1;
    while (pos <= pattern.size()) {
        std::size_t end = pattern.find('/', pos);
        if (end == std::string_view::npos) end = pattern.size();
        std::string_view seg = pattern.substr(pos, end - pos);
        pos = end + 1;
        if (seg.empty()) continue;
        if (seg.front() == '{' || seg.back() == '}') {
            if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}' ||
                !valid_param_name(seg.substr(1, seg.size() - 2))) {
                throw std::invalid_argument("bad route parameter '" + std::string{seg} + "' in " +
                                            std::string{pattern});
            }
            segments.push_back({std::string{seg.substr(1, seg.size() - 2)}, true});
        } else {
            if (seg.find_first_of("{}?#") != std::string_view::npos) {
                throw std::invalid_argument("bad route segment '" + std::string{seg} + "' in " +
                                            std::string{pattern});
            }
            segments.push_back({std::string{seg}, false});
        }
    }
    return segments;
}

bool same_shape(const std::vector<route_segment>& a, const std::vector<route_segment>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.is_param == y.is_param && (x.is_param || x.text == y.text);
    });
}

bool matches(const std::vector<route_segment>& pattern, const std::vector<std::string>& path,
             param_map* params) {
    if (pattern.size() != path.size()) return false;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (!pattern[i].is_param && pattern[i].text != path[i]) return false;
    }
    if (params != nullptr) {
        for (std::size_t i = 0; i < path.size(); ++i) {
            if (pattern[i].is_param) (*params)[pattern[i].text] = path[i];
        }
    }
    return true;
}

// True when `a` is more specific than `b` (both matched the same path): at the first segment
// where one is a literal and the other a parameter, the literal wins.
bool more_specific(const std::vector<route_segment>& a, const std::vector<route_segment>& b) {
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (a[i].is_param != b[i].is_param) return !a[i].is_param;
    }
    return false;
}

}  // namespace

router::router() : table_(std::make_unique<detail::router_table>()) {}
router::~router() = default;
router::router(router&&) noexcept = default;
router& router::operator=(router&&) noexcept = default;

router& router::add(method m, std::string_view pattern, handler h, route_options options) {
    auto segments = parse_pattern(pattern);
    for (const auto& r : table_->routes) {
        if (r.verb == m && same_shape(r.segments, segments)) {
            throw std::invalid_argument("route added twice: " + std::string{to_string(m)} + " " +
                                        std::string{pattern});
        }
    }
    detail::route r;
    r.pattern = std::string{pattern};
    r.segments = std::move(segments);
    r.verb = m;
    r.sync = std::move(h);
    r.options = options;
    table_->routes.push_back(std::move(r));
    return *this;
}

router& router::add_async(method m, std::string_view pattern, async_handler h,
                          route_options options) {
    add(m, pattern, handler{}, options);
    table_->routes.back().async = std::move(h);
    return *this;
}

router& router::add_websocket(std::string_view pattern, ws_hub& hub, ws_accept accept) {
    detail::ws_route r;
    r.pattern = std::string{pattern};
    r.segments = parse_pattern(pattern);
    r.hub = detail::hub_access::state(hub);
    r.accept = std::move(accept);
    table_->ws_routes.push_back(std::move(r));
    return *this;
}

router& router::serve_directory(std::string_view prefix, std::filesystem::path root) {
    detail::static_mount m;
    m.prefix = std::string{prefix};
    for (auto& s : parse_pattern(prefix)) {
        if (s.is_param) throw std::invalid_argument("static prefix cannot have parameters");
        m.prefix_segments.push_back(std::move(s.text));
    }
    m.root = std::move(root);
    table_->mounts.push_back(std::move(m));
    return *this;
}

namespace detail {

match_result resolve(const router_table& table, http::method verb,
                     const std::vector<std::string>& segments, bool is_upgrade) {
    match_result out;

    for (const auto& w : table.ws_routes) {
        if (!matches(w.segments, segments, nullptr)) continue;
        if (!is_upgrade || verb != http::method::get) {
            out.kind = match_kind::upgrade_required;
            return out;
        }
        out.kind = match_kind::websocket;
        out.matched_ws = &w;
        matches(w.segments, segments, &out.params);
        return out;
    }

    const route* best = nullptr;
    std::vector<http::method> allowed;
    for (const auto& r : table.routes) {
        if (!matches(r.segments, segments, nullptr)) continue;
        if (r.verb == verb) {
            if (best == nullptr || more_specific(r.segments, best->segments)) best = &r;
        } else if (std::find(allowed.begin(), allowed.end(), r.verb) == allowed.end()) {
            allowed.push_back(r.verb);
        }
    }
    if (best != nullptr) {
        out.kind = match_kind::route;
        out.matched_route = best;
        matches(best->segments, segments, &out.params);
        return out;
    }
    if (!allowed.empty()) {
        std::sort(allowed.begin(), allowed.end());
        out.kind = match_kind::method_not_allowed;
        for (auto m : allowed) {
            if (!out.allow.empty()) out.allow += ", ";
            out.allow += to_string(m);
        }
        return out;
    }

    const static_mount* mount = nullptr;
    for (const auto& m : table.mounts) {
        if (m.prefix_segments.size() > segments.size() ||
            !std::equal(m.prefix_segments.begin(), m.prefix_segments.end(), segments.begin())) {
            continue;
        }
        if (mount == nullptr || m.prefix_segments.size() > mount->prefix_segments.size())
            mount = &m;
    }
    if (mount != nullptr) {
        if (verb != http::method::get && verb != http::method::head) {
            out.kind = match_kind::method_not_allowed;
            out.allow = "GET, HEAD";
            return out;
        }
        out.kind = match_kind::static_file;
        out.mount = mount;
        out.rest.assign(
            segments.begin() + static_cast<std::ptrdiff_t>(mount->prefix_segments.size()),
            segments.end());
        return out;
    }
    out.kind = match_kind::not_found;
    return out;
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            int hi = hex(text[i + 1]);
            int lo = hex(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<parsed_target> parse_target(std::string_view target) {
    if (target.empty() || target.front() != '/') return std::nullopt;
    parsed_target out;
    std::string_view path = target;
    std::string_view query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
    if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);

    auto decoded_path = percent_decode(path, false);
    if (!decoded_path) return std::nullopt;
    out.path = std::move(*decoded_path);

    // Split before decoding so an encoded "/" (%2F) stays inside its segment.
    std::size_t pos = 1;
    while (pos <= path.size()) {
        std::size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        std::string_view seg = path.substr(pos, end - pos);
        pos = end + 1;
        if (seg.empty()) continue;
        auto decoded = percent_decode(seg, false);
        if (!decoded) return std::nullopt;
        out.segments.push_back(std::move(*decoded));
    }

    pos = 0;
    while (pos < query.size()) {
        std::size_t end = query.find('&', pos);
        if (end == std::string_view::npos) end = query.size();
        std::string_view pair = query.substr(pos, end - pos);
        pos = end + 1;
        if (pair.empty()) continue;
        std::string_view key = pair;
        std::string_view value;
        if (auto eq = pair.find('='); eq != std::string_view::npos) {
            key = pair.substr(0, eq);
            value = pair.substr(eq + 1);
        }
        auto k = percent_decode(key, true);
        auto v = percent_decode(value, true);
        if (!k || !v) return std::nullopt;
        out.query.emplace(std::move(*k), std::move(*v));  // emplace keeps the first occurrence
    }
    return out;
}

}  // namespace detail
}  // namespace eqm::http
