#include "eqm/http/json_body.hpp"

#include <algorithm>
#include <cctype>

namespace eqm::http {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool is_json_media_type(std::string_view content_type) noexcept {
    const auto type = trim(content_type.substr(0, content_type.find(';')));
    constexpr std::string_view application = "application/";
    constexpr std::string_view plus_json = "+json";
    if (iequals(type, "application/json")) return true;
    // application/<subtype>+json with a non-empty subtype
    return type.size() > application.size() + plus_json.size() &&
           iequals(type.substr(0, application.size()), application) &&
           iequals(type.substr(type.size() - plus_json.size()), plus_json);
}

eqm::result<nlohmann::json> read_json_object(const request& req) {
    if (req.body.empty()) return nlohmann::json::object();
    if (!is_json_media_type(req.header("Content-Type")))
        return fail(errc::unsupported_media_type, "Content-Type",
                    "the body must be sent as application/json");
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (j.is_discarded()) return fail(errc::bad_json, "body", "the body is not valid JSON");
    if (!j.is_object()) return fail(errc::bad_field, "body", "the body must be a JSON object");
    return j;
}

eqm::result<nlohmann::json> read_json_object(const request& req,
                                             std::initializer_list<std::string_view> allowed) {
    auto j = read_json_object(req);
    if (!j) return j;
    for (const auto& [k, v] : j->items()) {
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
            return fail(errc::unknown_field, k, "is not a field of this request");
    }
    return j;
}

}  // namespace eqm::http
