// Check-out and check-in through dock events: acks after commit, refusals with their reason,
// replays answered the same without changing anything.
#include <catch2/catch.hpp>

#include "eqm/domain/ledger.hpp"
#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

std::string ledger_rows_for(const std::string& request_id) {
    return "SELECT COUNT(*) FROM ledger WHERE record LIKE '%\"request_id\":\"" + request_id +
           "\"%'";
}

bool server_has_custody(city_fixture& f, const std::string& request_id) {
    return eqm::test::wait_until(
        [&] {
            for (const auto& e : f.server().events())
                if (const auto* r = std::get_if<eqm::custody_record>(&e.body);
                    r && r->request_id == request_id)
                    return true;
            return false;
        },
        wait_timeout);
}

}  // namespace

TEST_CASE("a dock check-out is acked ok, and its ledger row and outbox event are there",
          "[custody]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-0001")}), json::array({person("p-1", "b-1")}));
    f.telemetry("bc-0001", 95);

    CHECK(f.dock_event("ev-out-1", "slot_remove", "bc-0001", "b-1") == "ok");
    CHECK(f.db_count(ledger_rows_for("ev-out-1")) == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE device_id = 'bc-0001' AND "
                     "state = 'checked_out' AND holder = 'p-1'") == 1);
    // The outbox event was written with it (command_result of the registry, then custody).
    CHECK(f.db_count("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") >= 2);
    REQUIRE(server_has_custody(f, "ev-out-1"));

    // Docking it again is the check-in.
    CHECK(f.dock_event("ev-in-1", "slot_insert", "bc-0001", std::nullopt) == "ok");
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE device_id = 'bc-0001' AND "
                     "state = 'available' AND holder IS NULL") == 1);
    REQUIRE(server_has_custody(f, "ev-in-1"));

    // The server got both records, chained.
    std::vector<eqm::custody_record> records;
    for (const auto& [seq, e] : f.server().by_seq())
        if (const auto* r = std::get_if<eqm::custody_record>(&e.body)) records.push_back(*r);
    REQUIRE(records.size() == 2);
    CHECK(records[1].prev_hash == records[0].hash);
    CHECK(eqm::verify(records).ok());
    CHECK(f.log().find("custody checkout device=bc-0001 badge=b-1") != std::string::npos);
}

TEST_CASE("each refusal reason comes back in the ack", "[custody]") {
    city_fixture f;
    f.register_fleet(
        json::array({device("bc-low"),
                     device("an-exp", "analyzer", {{"calibration_due", "2020-01-01"}}),
                     device("bc-foot"), device("bc-lock"), device("bc-maint"), device("bc-res"),
                     device("bc-out"), device("bc-ok")}),
        json::array({person("p-1", "b-1"), person("p-2", "b-2"), person("p-far", "b-far", "450200"),
                     json{{"id", "p-gone"},
                          {"name", "Gone"},
                          {"role", "officer"},
                          {"city", city},
                          {"badge", "b-gone"},
                          {"active", false}}}));
    f.telemetry("bc-low", 50);
    f.telemetry("an-exp", 90);
    f.telemetry("bc-foot", 95,
                {{"footage_pending_since", now_ts(-25h)}, {"footage_pending_mb", 900}});
    for (auto id : {"bc-lock", "bc-maint", "bc-res", "bc-out", "bc-ok"}) f.telemetry(id, 95);

    REQUIRE(f.command({{"type", "device_lock"},
                       {"device_id", "bc-lock"},
                       {"locked", true},
                       {"reason", "audit"}}) == "ok");
    REQUIRE(f.command({{"type", "custody_request"},
                       {"device_id", "bc-maint"},
                       {"action", "checkout"},
                       {"badge", "b-2"}}) == "ok");
    REQUIRE(f.command({{"type", "custody_request"},
                       {"device_id", "bc-maint"},
                       {"action", "checkin"},
                       {"condition", "damaged"},
                       {"badge", "b-2"}}) == "ok");
    REQUIRE(f.command({{"type", "reservation_upsert"},
                       {"reservation",
                        {{"id", "r-1"},
                         {"device_id", "bc-res"},
                         {"person_id", "p-2"},
                         {"start", now_ts(-1h)},
                         {"end", now_ts(2h)},
                         {"status", "approved"}}}}) == "ok");
    REQUIRE(f.command({{"type", "custody_request"},
                       {"device_id", "bc-out"},
                       {"action", "checkout"},
                       {"badge", "b-2"}}) == "ok");

    struct row {
        const char* device;
        const char* badge;
        const char* expected;
    };
    const row rows[] = {
        {"bc-low", "b-1", "rejected:battery_low"},
        {"an-exp", "b-1", "rejected:calibration_expired"},
        {"bc-foot", "b-1", "rejected:footage_pending"},
        {"bc-lock", "b-1", "rejected:locked"},
        {"bc-maint", "b-1", "rejected:in_maintenance"},
        {"bc-res", "b-1", "rejected:reserved_for_other"},
        {"bc-ghost", "b-1", "rejected:unregistered"},
        {"bc-ok", "b-nobody", "rejected:badge_unknown"},
        {"bc-ok", "b-far", "rejected:badge_not_allowed"},
        {"bc-ok", "b-gone", "rejected:badge_not_allowed"},
        {"bc-out", "b-1", "rejected:invalid_transition"},
    };
    const auto ledger_before = f.db_count("SELECT COUNT(*) FROM ledger");
    int n = 0;
    for (const auto& r : rows) {
        INFO(r.device << " with badge " << r.badge);
        const std::string id = "ev-refuse-" + std::to_string(++n);
        CHECK(f.dock_event(id, "slot_remove", r.device, r.badge) == r.expected);
        CHECK(f.db_count(ledger_rows_for(id)) == 0);
    }
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger") == ledger_before);
    // Refused devices are where they were.
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE state = 'checked_out'") == 1);  // bc-out
    // The reserved person may take it.
    CHECK(f.dock_event("ev-res-ok", "slot_remove", "bc-res", "b-2") == "ok");
    // Taking a device without a badge is refused and alerted.
    CHECK(f.dock_event("ev-nobadge", "slot_remove", "bc-ok", std::nullopt) ==
          "rejected:badge_unknown");
    CHECK(eqm::test::wait_until(
        [&] {
            const auto alerts = f.get("/api/v1/alerts").as_json();
            for (const auto& a : alerts["items"])
                if (a["type"] == "unauthorised_removal" && a["device_id"] == "bc-ok") return true;
            return false;
        },
        wait_timeout));
    // The device seen only in a dock event is kept, flagged unregistered.
    auto ghost = f.get("/api/v1/devices/bc-ghost");
    REQUIRE(ghost.status == 200);
    CHECK(ghost.as_json()["registered"] == false);
}

TEST_CASE("a replayed event changes nothing and gets the same answer", "[custody]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-1"), device("bc-2")}),
                     json::array({person("p-1", "b-1")}));
    f.telemetry("bc-1", 95);
    f.telemetry("bc-2", 40);

    REQUIRE(f.dock_event("ev-a", "slot_remove", "bc-1", "b-1") == "ok");
    REQUIRE(f.dock_event("ev-b", "slot_remove", "bc-2", "b-1") == "rejected:battery_low");
    const auto ledger = f.db_count("SELECT COUNT(*) FROM ledger");
    const auto outbox_seq = f.db_count("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'");

    CHECK(f.dock_event("ev-a", "slot_remove", "bc-1", "b-1") == "ok");
    // The state changed since (returned; battery charged), yet the answers stay the same.
    REQUIRE(f.dock_event("ev-c", "slot_insert", "bc-1", std::nullopt) == "ok");
    f.telemetry("bc-2", 99);
    CHECK(f.dock_event("ev-a", "slot_remove", "bc-1", "b-1") == "ok");
    CHECK(f.dock_event("ev-b", "slot_remove", "bc-2", "b-1") == "rejected:battery_low");

    CHECK(f.db_count("SELECT COUNT(*) FROM ledger") == ledger + 1);  // only ev-c
    CHECK(f.db_count(ledger_rows_for("ev-a")) == 1);
    CHECK(f.db_count(
              "SELECT COUNT(*) FROM custody WHERE device_id = 'bc-1' AND state = 'available'") ==
          1);
    CHECK(f.db_count("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") >= outbox_seq + 1);
    CHECK(f.metric("eqm_gateway_replays_total") >= 3);
}
