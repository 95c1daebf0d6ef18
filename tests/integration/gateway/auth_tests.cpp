// Who may use the gateway's API: a login checked against the people the server sent (with
// their argon2id password hashes), bearer tokens on every /api/v1 route, JSON bodies only,
// Host and Origin checks against DNS rebinding and cross-site pages, a throttle on failed
// logins, and tokens that die with their person.
#include <catch2/catch.hpp>

#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

constexpr const char* password = "correct horse battery";

json user(const std::string& id, const std::string& name, const std::string& role,
          const std::optional<std::string>& home) {
    static const std::string hash = password_hash(password);
    json p{{"id", id}, {"name", name}, {"role", role}, {"password_hash", hash}};
    if (home) p["city"] = *home;
    return p;
}

json staff() {
    return json::array({user("u-cust", "cust-nn", "custodian", city),
                        user("u-disp", "disp", "dispatcher", std::nullopt),
                        user("u-admin", "admin", "admin", std::nullopt),
                        user("u-off", "off-nn", "officer", city),
                        user("u-lz", "cust-lz", "custodian", "450200"), person("p-1", "b-1")});
}

header_fields bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
}

void check_problem(const http_reply& r, int status, const std::string& type,
                   const std::string& field = "") {
    INFO(r.head << "\n" << r.body);
    CHECK(r.status == status);
    CHECK(r.content_type == "application/problem+json");
    const auto j = r.as_json();
    CHECK(j["type"] == "urn:eqm:problem:" + type);
    if (!field.empty()) CHECK(j["field"] == field);
}

std::string token_of(city_fixture& f, const std::string& name) {
    const auto r = f.login(name, password);
    INFO(r.body);
    REQUIRE(r.status == 200);
    return r.as_json()["token"].get<std::string>();
}

}  // namespace

TEST_CASE("a custodian of the city logs in, and every /api/v1 route needs the token", "[auth]") {
    city_fixture f({{"--min-battery-body-camera", "0"}});
    f.register_fleet(json::array({device("bc-1"), device("bc-2")}), staff());
    const auto port = f.http_port();

    const auto login = f.login("cust-nn", password);
    REQUIRE(login.status == 200);
    const auto grant = login.as_json();
    CHECK(grant["role"] == "custodian");
    CHECK(grant["city"] == city);
    CHECK(grant["name"] == "cust-nn");
    CHECK(grant["user_id"] == "u-cust");
    CHECK(eqm::parse_timestamp(grant["expires_at"].get<std::string>(), "expires_at").has_value());
    const std::string token = grant["token"];
    CHECK(token.size() >= 32);

    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/api/v1/devices"},
                                                          {"GET", "/api/v1/devices/bc-1"},
                                                          {"GET", "/api/v1/devices/bc-1/custody"},
                                                          {"POST", "/api/v1/devices/bc-1/checkout"},
                                                          {"POST", "/api/v1/devices/bc-1/checkin"},
                                                          {"GET", "/api/v1/alerts"},
                                                          {"POST", "/api/v1/alerts/al-1/ack"}}) {
        INFO(method << " " << path);
        check_problem(http_call(port, method, path, method == "POST" ? "{}" : ""), 401,
                      "unauthorized", "Authorization");
        check_problem(http_call(port, method, path, method == "POST" ? "{}" : "",
                                bearer("0123456789abcdef0123456789abcdef")),
                      401, "unauthorized", "Authorization");
    }
    CHECK(http_call(port, "GET", "/api/v1/devices/bc-1", "", bearer(token)).status == 200);
    // Reading the gateway's health changes nothing: no token needed.
    CHECK(http_call(port, "GET", "/healthz").status == 200);
    CHECK(http_call(port, "GET", "/metrics").status == 200);

    // The custodian checks out; the ledger records who did it at the kiosk.
    const auto out = http_call(port, "POST", "/api/v1/devices/bc-1/checkout", R"({"badge":"b-1"})",
                               bearer(token));
    REQUIRE(out.status == 200);
    CHECK(out.as_json()["record"]["actor"] == "u-cust");
    CHECK(out.as_json()["record"]["holder"] == "p-1");
}

TEST_CASE("who may log in at a gateway: the city's custodians, dispatchers and admins", "[auth]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-1")}), staff());
    const auto port = f.http_port();

    // A wrong password and an unknown name get the same answer.
    const auto wrong = f.login("cust-nn", "not it");
    const auto unknown = f.login("nobody", password);
    check_problem(wrong, 401, "unauthorized");
    check_problem(unknown, 401, "unauthorized");
    CHECK(wrong.as_json()["detail"] == unknown.as_json()["detail"]);
    // A person without a password (a badge only) cannot log in.
    check_problem(f.login("Officer p-1", password), 401, "unauthorized");

    // The right password, but not someone who works at this gateway: 403 with the reason.
    const auto officer = f.login("off-nn", password);
    check_problem(officer, 403, "forbidden", "role");
    CHECK(officer.as_json()["detail"].get<std::string>().find("officer") != std::string::npos);
    const auto other_city = f.login("cust-lz", password);
    check_problem(other_city, 403, "forbidden", "city");
    CHECK(other_city.as_json()["detail"].get<std::string>().find("450200") != std::string::npos);

    // Region-wide roles may; a dispatcher reads but does not check devices out.
    const auto disp = token_of(f, "disp");
    CHECK(http_call(port, "GET", "/api/v1/devices/bc-1", "", bearer(disp)).status == 200);
    check_problem(http_call(port, "POST", "/api/v1/devices/bc-1/checkout", R"({"badge":"b-1"})",
                            bearer(disp)),
                  403, "forbidden", "role");
    const auto admin = token_of(f, "admin");
    CHECK(http_call(port, "GET", "/api/v1/alerts", "", bearer(admin)).status == 200);
}

TEST_CASE("login and every write take JSON only: a text/plain body is refused with 415", "[auth]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-1")}), staff());
    const auto port = f.http_port();
    check_problem(http_call(port, "POST", "/api/v1/auth/login",
                            json{{"name", "cust-nn"}, {"password", password}}.dump(),
                            {{"Content-Type", "text/plain"}}),
                  415, "unsupported_media_type", "Content-Type");
    const auto token = token_of(f, "cust-nn");
    auto headers = bearer(token);
    headers.emplace_back("Content-Type", "text/plain;charset=UTF-8");
    check_problem(
        http_call(port, "POST", "/api/v1/devices/bc-1/checkout", R"({"badge":"b-1"})", headers),
        415, "unsupported_media_type", "Content-Type");
    check_problem(http_call(port, "POST", "/api/v1/auth/login", R"({"name":"cust-nn"})"), 400,
                  "bad_field", "password");
    check_problem(http_call(port, "POST", "/api/v1/auth/login",
                            R"({"name":"cust-nn","password":"x","remember":true})"),
                  400, "unknown_field", "remember");
}

TEST_CASE("failed logins are throttled per name and address", "[auth]") {
    city_fixture f;
    f.register_fleet(json::array(), staff());
    for (int i = 0; i < 5; ++i) check_problem(f.login("cust-nn", "guess"), 401, "unauthorized");
    // Now even the right password waits.
    const auto throttled = f.login("cust-nn", password);
    check_problem(throttled, 429, "too_many_requests");
    CHECK(throttled.head.find("Retry-After:") != std::string::npos);
    // Someone else is not affected.
    CHECK(f.login("admin", password).status == 200);
    CHECK(f.metric("eqm_gateway_logins_total", "result=\"throttled\"") == 1);
}

TEST_CASE("a person deactivated or removed by a registry update loses their tokens at once",
          "[auth]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-1")}), staff());
    const auto port = f.http_port();
    const auto token = token_of(f, "cust-nn");
    REQUIRE(http_call(port, "GET", "/api/v1/devices/bc-1", "", bearer(token)).status == 200);

    auto inactive = user("u-cust", "cust-nn", "custodian", city);
    inactive["active"] = false;
    f.register_fleet(json::array(), json::array({inactive}));
    check_problem(http_call(port, "GET", "/api/v1/devices/bc-1", "", bearer(token)), 401,
                  "unauthorized");
    check_problem(f.login("cust-nn", password), 401, "unauthorized");

    // Back again, then left out of a full sync: gone again.
    f.register_fleet(json::array(), json::array({user("u-cust", "cust-nn", "custodian", city)}));
    const auto again = token_of(f, "cust-nn");
    REQUIRE(http_call(port, "GET", "/api/v1/devices/bc-1", "", bearer(again)).status == 200);
    CHECK(f.command({{"type", "registry_upsert"},
                     {"full_sync", true},
                     {"devices", json::array({device("bc-1")})},
                     {"people",
                      json::array({user("u-disp", "disp", "dispatcher", std::nullopt)})}}) == "ok");
    check_problem(http_call(port, "GET", "/api/v1/devices/bc-1", "", bearer(again)), 401,
                  "unauthorized");
}

TEST_CASE("Host and Origin are checked: DNS rebinding and other sites' pages are refused",
          "[auth]") {
    city_fixture f({{"--http-host", "kiosk.lan", "--http-origin", "https://eqm.example.gov.cn"}});
    f.register_fleet(json::array({device("bc-1")}), staff());
    const auto port = f.http_port();
    const auto token = token_of(f, "cust-nn");
    const auto with = [&](header_fields extra) {
        auto h = bearer(token);
        for (auto& x : extra) h.push_back(std::move(x));
        return http_call(port, "GET", "/api/v1/devices/bc-1", "", h);
    };
    check_problem(with({{"Host", "evil.example:" + std::to_string(port)}}), 403, "forbidden",
                  "Host");
    check_problem(with({{"Origin", "http://evil.example"}}), 403, "forbidden", "Origin");
    check_problem(http_call(port, "POST", "/api/v1/auth/login",
                            json{{"name", "cust-nn"}, {"password", password}}.dump(),
                            {{"Origin", "http://evil.example"}}),
                  403, "forbidden", "Origin");
    CHECK(with({{"Host", "kiosk.lan:" + std::to_string(port)}}).status == 200);
    CHECK(with({{"Host", "localhost:" + std::to_string(port)}}).status == 200);
    CHECK(with({{"Origin", "https://eqm.example.gov.cn"}}).status == 200);
    // The page the gateway serves itself (the kiosk) is its own origin.
    const std::string self = "127.0.0.1:" + std::to_string(port);
    CHECK(with({{"Host", self}, {"Origin", "http://" + self}}).status == 200);
}
