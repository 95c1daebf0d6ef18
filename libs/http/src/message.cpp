#include "eqm/http/message.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace eqm::http {
namespace {

constexpr std::array<std::pair<method, std::string_view>, 7> method_names{{
    {method::get, "GET"},
    {method::head, "HEAD"},
    {method::post, "POST"},
    {method::put, "PUT"},
    {method::patch, "PATCH"},
    {method::delete_, "DELETE"},
    {method::options, "OPTIONS"},
}};

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string_view to_string(method m) noexcept {
    for (const auto& [v, n] : method_names) {
        if (v == m) return n;
    }
    return "GET";
}

std::optional<method> method_from_string(std::string_view token) noexcept {
    for (const auto& [v, n] : method_names) {
        if (n == token) return v;
    }
    return std::nullopt;
}

std::string_view request::header(std::string_view name) const noexcept {
    for (const auto& [n, v] : headers) {
        if (iequals(n, name)) return v;
    }
    return {};
}

std::string_view request::path_param(std::string_view name) const noexcept {
    auto it = path_params.find(name);
    return it == path_params.end() ? std::string_view{} : std::string_view{it->second};
}

std::optional<std::string_view> request::query_param(std::string_view name) const noexcept {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return std::string_view{it->second};
}

std::string_view request::bearer_token() const noexcept {
    constexpr std::string_view scheme = "Bearer ";
    std::string_view value = header("Authorization");
    if (value.size() <= scheme.size() || !iequals(value.substr(0, scheme.size()), scheme))
        return {};
    value.remove_prefix(scheme.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return value;
}

response response::json(unsigned status, std::string body) {
    return response{status, "application/json", std::move(body), {}};
}

response response::text(unsigned status, std::string body) {
    return response{status, "text/plain; charset=utf-8", std::move(body), {}};
}

response response::no_content() {
    return response{204, "", "", {}};
}

}  // namespace eqm::http
