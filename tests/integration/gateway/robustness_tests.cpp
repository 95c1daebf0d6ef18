// Bad input and a database that cannot be written.
#include <catch2/catch.hpp>

#include "eqm/store/database.hpp"
#include "gateway_harness.hpp"

using namespace eqm::gwtest;

TEST_CASE("malformed payloads are rejected, counted in /metrics, and the gateway keeps working",
          "[robustness]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-1")}), json::array({person("p-1", "b-1")}));
    f.telemetry("bc-1", 95);
    const auto ledger = f.db_count("SELECT COUNT(*) FROM ledger");

    f.publish_dock("dock-1", "this is not json");
    f.publish_dock("dock-1", R"({"event_id":"ev-bad","ts":"2026-11-26T08:30:00.000Z",)"
                             R"("type":"slot_remove","slot":99,"device_id":"bc-1","badge":"b-1"})");
    f.publish_dock("dock-1", R"({"event_id":"ev-typo","ts":"2026-11-26T08:30:00.000Z",)"
                             R"("type":"slot_remove","slot":1,"device_id":"bc-1","bagde":"b-1"})");
    f.dock().publish("eqm/v1/dev/bc-1/telemetry", R"({"ts":"x","seq":1,"battery_pct":"full"})", 0);
    f.dock().publish("eqm/v1/dev/bad!id/telemetry", R"({"ts":"2026-11-26T08:30:00.000Z"})", 0);
    f.dock().publish("eqm/v1/dev/bc-1/telemetry", std::string(300 * 1024, 'x'), 0);
    f.dock().publish("eqm/v1/dev/bc-1/state", R"({"online":"yes"})", 1);

    // A malformed event with a readable event_id is answered, so the dock stops resending it.
    CHECK(f.wait_ack("dock-1", "ev-bad") == "rejected:bad_field");
    CHECK(f.wait_ack("dock-1", "ev-typo") == "rejected:unknown_field");
    REQUIRE(eqm::test::wait_until(
        [&] {
            return f.metric("eqm_gateway_messages_rejected_total", "reason=\"too_large\"") == 1 &&
                   f.metric("eqm_gateway_malformed_payloads_total", "kind=\"device_state\"") == 1;
        },
        wait_timeout));
    CHECK(f.metric("eqm_gateway_malformed_payloads_total", "kind=\"dock_event\"") == 3);
    CHECK(f.metric("eqm_gateway_malformed_payloads_total", "kind=\"device_telemetry\"") == 2);
    CHECK(f.metric("eqm_gateway_messages_rejected_total", "reason=\"bad_json\"") == 1);
    CHECK(f.metric("eqm_gateway_messages_rejected_total", "reason=\"unknown_topic\"") == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger") == ledger);
    CHECK(f.log().find("reason=too_large") != std::string::npos);

    // Still working.
    CHECK(f.dock_event("ev-good", "slot_remove", "bc-1", "b-1") == "ok");
    CHECK(f.metric("eqm_gateway_custody_decisions_total", "result=\"ok\"") == 1);
}

TEST_CASE("a locked database makes check-outs fail as unavailable and loses nothing acked",
          "[robustness]") {
    city_fixture f(gateway_options{{"--db-busy-timeout", "200ms"}});
    f.register_fleet(json::array({device("bc-1"), device("bc-2")}), json::array({person("p-1", "b-1")}));
    f.telemetry("bc-1", 95);
    f.telemetry("bc-2", 95);
    REQUIRE(f.dock_event("ev-1", "slot_remove", "bc-1", "b-1") == "ok");

    {
        eqm::store::database_options o;
        o.create = false;
        auto db = eqm::store::database::open(f.db_path(), o);
        REQUIRE(db);
        auto tx = eqm::store::transaction::begin(*db);  // holds the write lock
        REQUIRE(tx);
        CHECK(f.dock_event("ev-2", "slot_remove", "bc-2", "b-1") == "rejected:unavailable");
        auto r = http_call(f.http_port(), "POST", "/api/v1/devices/bc-2/checkout", R"({"badge":"b-1"})");
        CHECK(r.status == 503);
        CHECK(r.content_type == "application/problem+json");
    }
    // The lock is gone: the same event is decided now (an unavailable answer is not stored).
    CHECK(f.dock_event("ev-2", "slot_remove", "bc-2", "b-1") == "ok");
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger WHERE record LIKE '%\"request_id\":\"ev-1\"%'") == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE state = 'checked_out'") == 2);
    CHECK(f.metric("eqm_gateway_commit_failures_total") >= 1);
}
