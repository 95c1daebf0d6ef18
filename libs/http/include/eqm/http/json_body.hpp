#pragma once
/// The one way a handler reads a JSON request body, at the gateway and at the server alike.
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/http/message.hpp"

namespace eqm::http {

/// True when a Content-Type value is JSON: `application/json` or `application/<x>+json`,
/// parameters (`; charset=utf-8`) and letter case ignored.
bool is_json_media_type(std::string_view content_type) noexcept;

/// The body as a JSON object:
/// - an empty body is an empty object (a check-in with nothing to say);
/// - a body that is not declared `application/json` is refused with
///   errc::unsupported_media_type (415), so an HTML form or a `text/plain` fetch from another
///   page can never reach a handler;
/// - text that is not JSON is errc::bad_json, anything but an object errc::bad_field (field
///   "body"), and a member not in `allowed` errc::unknown_field naming it.
/// Every refusal goes through the errc -> HTTP table (problem.hpp).
eqm::result<nlohmann::json> read_json_object(const request& req,
                                             std::initializer_list<std::string_view> allowed);

/// The same without the member check, for bodies that a domain reader checks field by field
/// (parse_custody_request, ...).
eqm::result<nlohmann::json> read_json_object(const request& req);

}  // namespace eqm::http
