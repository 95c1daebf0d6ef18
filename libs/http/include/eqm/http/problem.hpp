#pragma once
/// Problem details (RFC 9457). ONE table maps every eqm::errc to an HTTP status and a problem
/// `type`; this is the only place that decides them.
///
/// `type` is "urn:eqm:problem:<name>" where <name> is the errc wire name (battery_low, not_found,
/// ...) or, for failures that are purely HTTP's, one of: bad_request, method_not_allowed,
/// not_implemented, upgrade_required, gateway_timeout. Clients switch on `type`, never on `title`.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/http/message.hpp"

namespace eqm::http {

/// Prefix of every problem `type`.
inline constexpr std::string_view problem_type_prefix = "urn:eqm:problem:";

/// The problem media type.
inline constexpr std::string_view problem_content_type = "application/problem+json";

/// Status, type and title for one errc.
struct problem_kind {
    unsigned status = 500;
    std::string_view type;   ///< full URI, e.g. "urn:eqm:problem:battery_low"
    std::string_view title;  ///< short and stable, e.g. "Battery too low"
};

/// The table lookup: bad_json/bad_field/unknown_field -> 400, too_large -> 413,
/// unsupported_media_type -> 415, unauthorized -> 401, forbidden and password_change_required
/// -> 403, not_found -> 404,
/// conflict, expired, invalid_transition, not_holder and every readiness refusal -> 409,
/// too_many_requests -> 429, unavailable -> 503, ledger_broken and internal -> 500.
problem_kind problem_kind_for(eqm::errc code) noexcept;

/// `{type, title, status, detail, field?}` as application/problem+json. `detail` is the error's
/// message; `field` appears when the error names one.
response problem_response(const eqm::error& e);

/// The same, with extra members merged into the body (a conflict's `conflicts` and
/// `alternatives`, an import's refused `errors`, ...). Members named like the standard ones
/// (type, title, status, detail, field) are ignored.
response problem_response(const eqm::error& e, const nlohmann::json& extra);

/// A problem that is not an eqm::errc (see the list above); `name` is the suffix after the prefix.
response problem_response(unsigned status, std::string_view name, std::string_view title,
                          std::string_view detail);

}  // namespace eqm::http
