#include "eqm/http/problem.hpp"

#include <array>
#include <nlohmann/json.hpp>

namespace eqm::http {
namespace {

struct problem_row {
    errc code;
    problem_kind kind;
};

// THE table: every errc, its status, its type and its title. Keep it complete; the unit of
// truth for clients is `type`.
constexpr std::array<problem_row, 26> problem_table{{
    {errc::bad_json, {400, "urn:eqm:problem:bad_json", "Body is not valid JSON"}},
    {errc::bad_field, {400, "urn:eqm:problem:bad_field", "Invalid field"}},
    {errc::unknown_field, {400, "urn:eqm:problem:unknown_field", "Unknown field"}},
    {errc::too_large, {413, "urn:eqm:problem:too_large", "Payload too large"}},
    {errc::unsupported_media_type,
     {415, "urn:eqm:problem:unsupported_media_type", "Body must be application/json"}},
    {errc::battery_low, {409, "urn:eqm:problem:battery_low", "Battery too low"}},
    {errc::calibration_expired,
     {409, "urn:eqm:problem:calibration_expired", "Calibration expired"}},
    {errc::footage_pending, {409, "urn:eqm:problem:footage_pending", "Footage pending offload"}},
    {errc::locked, {409, "urn:eqm:problem:locked", "Device is locked"}},
    {errc::in_maintenance, {409, "urn:eqm:problem:in_maintenance", "Device is in maintenance"}},
    {errc::reserved_for_other,
     {409, "urn:eqm:problem:reserved_for_other", "Reserved for someone else"}},
    {errc::unregistered, {409, "urn:eqm:problem:unregistered", "Device is not registered"}},
    {errc::badge_unknown, {409, "urn:eqm:problem:badge_unknown", "Badge unknown"}},
    {errc::badge_not_allowed, {409, "urn:eqm:problem:badge_not_allowed", "Badge not allowed here"}},
    {errc::invalid_transition,
     {409, "urn:eqm:problem:invalid_transition", "Not allowed in the current state"}},
    {errc::not_holder, {409, "urn:eqm:problem:not_holder", "Not the holder"}},
    {errc::ledger_broken, {500, "urn:eqm:problem:ledger_broken", "Ledger verification failed"}},
    {errc::not_found, {404, "urn:eqm:problem:not_found", "Not found"}},
    {errc::conflict, {409, "urn:eqm:problem:conflict", "Conflict with the current state"}},
    {errc::forbidden, {403, "urn:eqm:problem:forbidden", "Forbidden"}},
    {errc::unauthorized, {401, "urn:eqm:problem:unauthorized", "Authentication required"}},
    {errc::password_change_required,
     {403, "urn:eqm:problem:password_change_required",
      "Change the one-time password first (POST /api/v1/auth/password)"}},
    {errc::too_many_requests, {429, "urn:eqm:problem:too_many_requests", "Too many requests"}},
    {errc::expired, {409, "urn:eqm:problem:expired", "Request expired"}},
    {errc::unavailable, {503, "urn:eqm:problem:unavailable", "Service unavailable"}},
    {errc::internal, {500, "urn:eqm:problem:internal", "Internal error"}},
}};

response make_problem(unsigned status, std::string type, std::string_view title,
                      std::string_view detail, std::string_view field,
                      const nlohmann::json* extra = nullptr) {
    nlohmann::json body{
        {"type", std::move(type)}, {"title", title}, {"status", status}, {"detail", detail}};
    if (!field.empty()) body["field"] = field;
    if (extra && extra->is_object()) {
        for (const auto& [k, v] : extra->items())
            if (!body.contains(k) && k != "field") body[k] = v;
    }
    // `replace` keeps a message with broken UTF-8 from turning into an exception here.
    return response{status,
                    std::string{problem_content_type},
                    body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    {}};
}

}  // namespace

problem_kind problem_kind_for(errc code) noexcept {
    for (const auto& row : problem_table) {
        if (row.code == code) return row.kind;
    }
    return problem_table.back().kind;
}

response problem_response(const eqm::error& e) {
    const problem_kind kind = problem_kind_for(e.code);
    return make_problem(kind.status, std::string{kind.type}, kind.title,
                        e.message.empty() ? kind.title : std::string_view{e.message}, e.field);
}

response problem_response(const eqm::error& e, const nlohmann::json& extra) {
    const problem_kind kind = problem_kind_for(e.code);
    return make_problem(kind.status, std::string{kind.type}, kind.title,
                        e.message.empty() ? kind.title : std::string_view{e.message}, e.field,
                        &extra);
}

response problem_response(unsigned status, std::string_view name, std::string_view title,
                          std::string_view detail) {
    std::string type{problem_type_prefix};
    type += name;
    return make_problem(status, std::move(type), title, detail, {});
}

}  // namespace eqm::http
