#pragma once
/// Who may call an API from a browser. Two checks before a handler acts on a request:
/// - Host: a page on an attacker's domain that resolves to 127.0.0.1 (DNS rebinding) sends its
///   own name as Host. Only IP literals, `localhost` and the names an operator configured are
///   accepted, with any port.
/// - Origin: a browser names the page that sent a request. When the header is present it must
///   be the API's own origin (the same host and port as Host, http or https) or one the
///   operator configured; a request without it comes from a program, not a web page.
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/http/message.hpp"

namespace eqm::http {

struct origin_policy {
    /// Host names accepted besides IP literals and `localhost` (a kiosk's LAN name, ...),
    /// without port, compared case-insensitively.
    std::vector<std::string> host_names;
    /// Origins accepted besides the API's own, exactly as a browser sends them
    /// ("https://eqm.example.gov.cn").
    std::vector<std::string> origins;
};

/// errc::forbidden naming "Host" or "Origin" when the request fails a check; see above.
eqm::result<void> check_origin(const request& req, const origin_policy& policy);

}  // namespace eqm::http
