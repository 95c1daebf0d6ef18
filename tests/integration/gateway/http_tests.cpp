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
    REQUIRE(listed["items"].size() == 1);
    CHECK(listed["items"][0]["id"] == "bc-h1");
    CHECK(f.get("/api/v1/devices?class=drone").as_json()["items"].size() == 1);

    auto in = f.post("/api/v1/devices/bc-h1/checkin",
                     R"({"condition":"needs_service","note":"lens scratched"})");
    REQUIRE(in.status == 200);
    CHECK(in.as_json()["device"]["status"] == "maintenance");

    auto custody = f.get("/api/v1/devices/bc-h1/custody").as_json();
    REQUIRE(custody["items"].size() == 2);
    CHECK(custody["items"][1]["note"] == "lens scratched");
    CHECK(custody["items"][1]["prev_hash"] == custody["items"][0]["hash"]);

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
            for (const auto& a : alerts["items"])
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
        [&] { return f.get("/api/v1/alerts").as_json()["items"].empty(); }, wait_timeout));
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

namespace {

/// Every item of a paged list, following next_cursor; fails the test on a bad page.
std::vector<json> all_pages(city_fixture& f, const std::string& path, int limit) {
    std::vector<json> items;
    std::string cursor;
    for (int pages = 0; pages < 1000; ++pages) {
        const auto sep = path.find('?') == std::string::npos ? "?" : "&";
        auto target = path + sep + "limit=" + std::to_string(limit);
        if (!cursor.empty()) target += "&cursor=" + cursor;
        const auto page = f.get(target).as_json();
        INFO(target << " -> " << page.dump().substr(0, 300));
        REQUIRE(page.contains("items"));
        REQUIRE(page.contains("next_cursor"));
        REQUIRE(page["items"].size() <= static_cast<std::size_t>(limit));
        for (const auto& i : page["items"]) items.push_back(i);
        if (page["next_cursor"].is_null()) return items;
        REQUIRE(page["items"].size() == static_cast<std::size_t>(limit));
        cursor = page["next_cursor"].get<std::string>();
    }
    FAIL("more than 1000 pages");
    return items;
}

}  // namespace

TEST_CASE("device, custody and alert lists are pages in a stable order", "[http]") {
    city_fixture f({{"--min-battery-body-camera", "0"}});
    json devices = json::array();
    for (int i = 0; i < 250; ++i) devices.push_back(device("bc-p" + std::to_string(1000 + i)));
    f.register_fleet(devices, json::array({person("p-1", "b-1")}));

    // Devices: 100 by default, then the rest by cursor, ordered by id, each once.
    const auto first = f.get("/api/v1/devices").as_json();
    REQUIRE(first["items"].size() == 100);
    REQUIRE(first["next_cursor"].is_string());
    const auto listed = all_pages(f, "/api/v1/devices", 70);
    REQUIRE(listed.size() == 250);
    for (std::size_t i = 0; i < listed.size(); ++i)
        CHECK(listed[i]["id"] == "bc-p" + std::to_string(1000 + i));
    for (const char* field :
         {"id", "class", "model", "city", "status", "holder", "readiness", "last_seen"})
        CHECK(listed[0].contains(field));
    const auto whole = f.get("/api/v1/devices?limit=5000").as_json();
    CHECK(whole["items"].size() == 250);
    CHECK(whole["next_cursor"].is_null());

    // A filter pages too.
    for (int i = 0; i < 5; ++i)
        REQUIRE(f.dock_event("ev-" + std::to_string(i), "slot_remove",
                             "bc-p" + std::to_string(1100 + i), "b-1") == "ok");
    const auto out = all_pages(f, "/api/v1/devices?status=checked_out", 2);
    REQUIRE(out.size() == 5);
    CHECK(out[4]["id"] == "bc-p1104");

    // A device's custody history, oldest first.
    for (int i = 0; i < 4; ++i) {
        REQUIRE(f.dock_event("in-" + std::to_string(i), "slot_insert", "bc-p1100", std::nullopt) ==
                "ok");
        REQUIRE(f.dock_event("out-" + std::to_string(i), "slot_remove", "bc-p1100", "b-1") == "ok");
    }
    const auto history = all_pages(f, "/api/v1/devices/bc-p1100/custody", 3);
    REQUIRE(history.size() == 9);
    for (std::size_t i = 1; i < history.size(); ++i)
        CHECK(history[i]["index"].get<std::uint64_t>() >
              history[i - 1]["index"].get<std::uint64_t>());

    // Alerts, newest first.
    for (int i = 0; i < 5; ++i) f.telemetry("bc-p" + std::to_string(1200 + i), 5);
    REQUIRE(eqm::test::wait_until(
        [&] { return f.get("/api/v1/alerts?limit=5000").as_json()["items"].size() == 5; },
        wait_timeout));
    const auto alerts = all_pages(f, "/api/v1/alerts", 2);
    REQUIRE(alerts.size() == 5);
    CHECK(alerts[0]["raised_at"] >= alerts[4]["raised_at"]);

    // Bad limits and cursors are refused naming the field.
    check_problem(f.get("/api/v1/devices?limit=0"), 400, "bad_field", "limit");
    check_problem(f.get("/api/v1/devices?limit=5001"), 400, "bad_field", "limit");
    check_problem(f.get("/api/v1/devices?limit=ten"), 400, "bad_field", "limit");
    check_problem(f.get("/api/v1/devices?cursor=..%2F"), 400, "bad_field", "cursor");
    check_problem(f.get("/api/v1/devices/bc-p1100/custody?cursor=x"), 400, "bad_field", "cursor");
    check_problem(f.get("/api/v1/alerts?cursor=-3"), 400, "bad_field", "cursor");
}
