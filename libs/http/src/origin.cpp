#include "eqm/http/origin.hpp"

#include <algorithm>
#include <cctype>

namespace eqm::http {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// The host part of "host", "host:port", "[v6]" or "[v6]:port"; empty when malformed.
std::string_view host_part(std::string_view host_port) {
    if (host_port.starts_with('[')) {
        const auto close = host_port.find(']');
        if (close == std::string_view::npos) return {};
        const auto rest = host_port.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) return {};
        return host_port.substr(0, close + 1);
    }
    const auto colon = host_port.find(':');
    return colon == std::string_view::npos ? host_port : host_port.substr(0, colon);
}

bool is_ipv4_literal(std::string_view h) {
    int parts = 0;
    std::size_t i = 0;
    while (i <= h.size()) {
        const auto dot = std::min(h.find('.', i), h.size());
        const auto part = h.substr(i, dot - i);
        if (part.empty() || part.size() > 3 ||
            !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return false;
        if (std::stoi(std::string(part)) > 255) return false;
        ++parts;
        i = dot + 1;
    }
    return parts == 4;
}

bool is_ipv6_literal(std::string_view h) {
    if (h.size() < 3 || !h.starts_with('[') || !h.ends_with(']')) return false;
    const auto inner = h.substr(1, h.size() - 2);
    return std::all_of(inner.begin(), inner.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
}

bool host_allowed(std::string_view host, const origin_policy& p) {
    if (host.empty()) return false;
    const auto h = lower(host);
    if (h == "localhost" || is_ipv4_literal(h) || is_ipv6_literal(h)) return true;
    return std::any_of(p.host_names.begin(), p.host_names.end(),
                       [&](const std::string& n) { return lower(n) == h; });
}

}  // namespace

eqm::result<void> check_origin(const request& req, const origin_policy& policy) {
    const auto host_header = req.header("Host");
    if (!host_allowed(host_part(host_header), policy))
        return fail(errc::forbidden, "Host",
                    "this API answers only to its IP address, localhost or a configured name, "
                    "not to \"" +
                        std::string(host_header) + "\"");
    const auto origin = req.header("Origin");
    if (origin.empty()) return {};
    const auto o = lower(origin);
    const auto own = lower(host_header);
    if (o == "http://" + own || o == "https://" + own) return {};
    if (std::any_of(policy.origins.begin(), policy.origins.end(),
                    [&](const std::string& x) { return lower(x) == o; }))
        return {};
    return fail(errc::forbidden, "Origin",
                "requests from the page at " + std::string(origin) + " are not accepted");
}

}  // namespace eqm::http
