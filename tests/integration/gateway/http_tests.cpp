// The kiosk's HTTP API: check-out and check-in, device listings, alerts, problem+json errors.
#include <catch2/catch.hpp>

#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

void check_problem(const http_reply& r, int status, const std::string& type,
                   const std::string& field) {
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(r.content_type == "application/problem+json");
    auto j = r.as_json();
    CHECK(j["type"] == "urn:eqm:problem:" + type);
    if (!field.empty()) CHECK(j["field"] == field);
}

}  // namespace

TEST_CASE("HTTP check-out and check-in, with problem+json errors naming the field", "[http]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-h1"), device("bc-h2"), device("dr-1", "drone")}),
                     json::array({person("p-1", "b-1")}));
    f.telemetry("bc-h1", 95);
    f.telemetry("bc-h2", 10);

    auto out = f.post("/api/v1/devices/bc-h1/checkout",
                      json{{"badge", "b-1"}, {"due", now_ts(8h)}}.dump());
    REQUIRE(out.status == 200);
    auto body = out.as_json();
    CHECK(body["record"]["action"] == "checkout");
    CHECK(body["record"]["source"] == "api");
    CHECK(body["device"]["status"] == "checked_out");
    CHECK(body["device"]["holder"] == "p-1");

    auto listed = f.get("/api/v1/devices?status=checked_out").as_json();
    REQUIRE(listed["devices"].size() == 1);
    CHECK(listed["devices"][0]["id"] == "bc-h1");
    CHECK(f.get("/api/v1/devices?class=drone").as_json()["devices"].size() == 1);

    auto in = f.post("/api/v1/devices/bc-h1/checkin",
                     R"({"condition":"needs_service","note":"lens scratched"})");
    REQUIRE(in.status == 200);
    CHECK(in.as_json()["device"]["status"] == "maintenance");

    auto custody = f.get("/api/v1/devices/bc-h1/custody").as_json();
    REQUIRE(custody["records"].size() == 2);
    CHECK(custody["records"][1]["note"] == "lens scratched");
    CHECK(custody["records"][1]["prev_hash"] == custody["records"][0]["hash"]);

    check_problem(f.post("/api/v1/devices/bc-h2/checkout", "{}"), 400, "bad_field", "badge");
    check_problem(f.post("/api/v1/devices/bc-h2/checkout", R"({"badge":"b-1","colour":"red"})"),
                  400, "unknown_field", "colour");
    check_problem(f.post("/api/v1/devices/bc-h2/checkout", "not json"), 400, "bad_json", "");
    check_problem(f.post("/api/v1/devices/bc-h2/checkout", R"({"badge":"b-1","due":"tomorrow"})"),
                  400, "bad_field", "due");
    check_problem(f.post("/api/v1/devices/bc-h2/checkout", R"({"badge":"b-1"})"), 409,
                  "battery_low", "");
    check_problem(f.post("/api/v1/devices/bc-h1/checkout", R"({"badge":"b-1"})"), 409,
                  "in_maintenance", "");
    check_problem(f.post("/api/v1/devices/nope/checkout", R"({"badge":"b-1"})"), 404, "not_found",
                  "id");
    check_problem(f.post("/api/v1/devices/bc-h2/checkin", R"({"condition":"wet"})"), 400,
                  "bad_field", "condition");
    check_problem(f.get("/api/v1/devices?class=tank"), 400, "bad_field", "class");
    check_problem(f.get("/api/v1/devices/nope"), 404, "not_found", "id");
}

TEST_CASE("alerts are raised once, listed, acknowledged and cleared when the cause goes away",
          "[http]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-a1")}), json::array({person("p-1", "b-1")}));
    f.telemetry("bc-a1", 10);
    std::string alert_id;
    REQUIRE(eqm::test::wait_until(
        [&] {
            const auto alerts = f.get("/api/v1/alerts").as_json();
            for (const auto& a : alerts["alerts"])
                if (a["type"] == "low_battery" && a["device_id"] == "bc-a1") {
                    alert_id = a["id"];
                    return true;
                }
            return false;
        },
        wait_timeout));
    f.telemetry("bc-a1", 11);  // still low: no second alert
    auto acked = f.post("/api/v1/alerts/" + alert_id + "/ack", "{}");
    REQUIRE(acked.status == 200);
    CHECK(acked.as_json()["acked"] == true);
    CHECK(acked.as_json()["acked_by"] == "kiosk-cust");  // whoever is logged in
    check_problem(f.post("/api/v1/alerts/al-none/ack", "{}"), 404, "not_found", "id");

    f.telemetry("bc-a1", 90);
    REQUIRE(eqm::test::wait_until(
        [&] { return f.get("/api/v1/alerts").as_json()["alerts"].empty(); }, wait_timeout));
    CHECK(f.metric("eqm_gateway_alerts_raised_total") == 1);
    // The server heard both: raised, then cleared.
    REQUIRE(eqm::test::wait_until(
        [&] {
            int raised = 0, cleared = 0;
            for (const auto& [seq, e] : f.server().by_seq())
                if (const auto* a = std::get_if<eqm::alert_body>(&e.body);
                    a && a->alert_id == alert_id)
                    (a->state == eqm::alert_state::raised ? raised : cleared)++;
            return raised == 1 && cleared == 1;
        },
        wait_timeout));
}
