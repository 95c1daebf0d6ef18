// Ingest from the central broker: exactly-once in effect, seq gaps, bd_seq, dead letters,
// the server's copy of the hash chain, and the command outbox.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "ingest_support.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

bool acked_upto(const srv_ack& a, std::uint64_t seq) {
    return a.upto_seq == seq;
}

/// Waits until the city shows the wanted online flag in GET /cities.
bool city_online_is(api_client& c, const std::string& city, bool online) {
    return test::wait_until(
        [&] {
            auto r = c.get("/api/v1/cities");
            for (const auto& x : r.body["items"])
                if (x["code"] == city) return x["online"].get<bool>() == online;
            return false;
        },
        quick);
}

std::string metric_line(api_client& c, const std::string& name) {
    auto r = c.get("/metrics");
    std::istringstream in(r.text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0) return line;
    return "";
}

}  // namespace

TEST_CASE("a gateway batch is applied once: replays and duplicate events change nothing",
          "[server][ingest]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    auto admin = region.as("admin");
    REQUIRE(city_online_is(admin, "450100", true));

    auto rec = gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                               custody_state::checked_out, std::string("cust-nn"));
    auto batch = gw.send({rec});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return acked_upto(a, 1); }));
    auto d = device(admin, "cam-1");
    CHECK(d["status"] == "checked_out");
    CHECK(d["holder"] == "cust-nn");

    // The same batch again, and the same event again in a new batch with a later one.
    gw.publish(batch);
    auto rec2 = gw.next_custody("cam-1", custody_action::checkin, custody_state::checked_out,
                                custody_state::available, std::nullopt);
    auto e2 = gw.make_event(rec2);
    gw.publish({batch[0], e2});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return acked_upto(a, 2); }));
    gw.clear_received();
    gw.publish({batch[0], e2});  // the replay is acked again and changes nothing
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return acked_upto(a, 2); }));

    auto history = admin.get("/api/v1/devices/cam-1/custody");
    REQUIRE(history.status == 200);
    CHECK(history.body["items"].size() == 2);  // one checkout, one checkin: nothing doubled
    CHECK(device(admin, "cam-1")["status"] == "available");
    CHECK(metric_line(admin, "eqm_ingest_events_applied_total") ==
          "eqm_ingest_events_applied_total 2");
}

TEST_CASE("a seq gap makes the server ask for a resend, and the resend heals it",
          "[server][ingest]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("cam-2", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    auto admin = region.as("admin");

    auto e1 =
        gw.make_event(gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                                      custody_state::checked_out, std::string("cust-nn")));
    auto e2 =
        gw.make_event(gw.next_custody("cam-2", custody_action::checkout, custody_state::available,
                                      custody_state::checked_out, std::string("cust-nn")));
    auto e3 =
        gw.make_event(gw.next_custody("cam-1", custody_action::checkin, custody_state::checked_out,
                                      custody_state::available, std::nullopt));
    gw.publish({e1});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    gw.publish({e3});  // e2 was lost on the way
    auto ask = gw.wait_ack([](const srv_ack& a) { return a.resend_from.has_value(); });
    REQUIRE(ask);
    CHECK(*ask->resend_from == 2);
    CHECK(ask->upto_seq == 1);
    CHECK(device(admin, "cam-1")["status"] == "checked_out");  // e3 not applied out of order

    gw.publish({e2, e3});  // the resend
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    CHECK(device(admin, "cam-1")["status"] == "available");
    CHECK(device(admin, "cam-2")["status"] == "checked_out");
    CHECK(admin.get("/api/v1/devices/cam-1/custody").body["items"].size() == 2);
}

TEST_CASE("seq ranges the gateway skipped by policy count as delivered, not as a gap",
          "[server][ingest]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    gw.send({gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-nn"))});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    gw.set_next_seq(10);  // seqs 2..9 were telemetry summaries dropped by the outbox bound
    auto e =
        gw.make_event(gw.next_custody("cam-1", custody_action::checkin, custody_state::checked_out,
                                      custody_state::available, std::nullopt));
    gw.publish({e}, {{2, 9}});
    auto ack = gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 10; });
    REQUIRE(ack);
    CHECK_FALSE(ack->resend_from.has_value());
    for (const auto& a : gw.acks()) CHECK_FALSE(a.resend_from.has_value());
}

TEST_CASE("a stale Last Will does not take a live gateway offline but a matching one does",
          "[server][ingest]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto admin = region.as("admin");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn", 7);
    gw.connect();
    REQUIRE(city_online_is(admin, "450100", true));
    gw.send({gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-nn"))});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));

    gw.publish_will(6);  // the will of the session before the current one
    std::this_thread::sleep_for(300ms);
    REQUIRE(city_online_is(admin, "450100", true));

    gw.publish_will(7);
    REQUIRE(city_online_is(admin, "450100", false));
    // The city shows offline with its last known state.
    auto cities = admin.get("/api/v1/cities");
    REQUIRE(cities.body["items"].size() == 14);
    for (const auto& c : cities.body["items"]) {
        if (c["code"] != "450100") continue;
        CHECK(c["last_seen"].is_string());
        CHECK(c["bd_seq"] == 7);
    }
    CHECK(device(admin, "cam-1")["status"] == "checked_out");
    CHECK(device(admin, "cam-1")["holder"] == "cust-nn");
}

TEST_CASE("a malformed envelope is dead-lettered and counted, and the server keeps going",
          "[server][ingest]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    auto admin = region.as("admin");
    gw.publish_raw("this is not json");
    gw.publish_raw(R"({"ts":"2026-01-01T00:00:00.000Z","gw_id":"gw-nn","bd_seq":1,"events":[]})");
    // No readable seq: nothing can be acked (a readable range would be quarantined instead).
    gw.publish_raw(
        R"({"ts":"2026-01-01T00:00:00.000Z","gw_id":"gw-nn","bd_seq":1,"events":[{"seq":"1"}]})");
    REQUIRE(test::wait_until(
        [&] { return metric_line(admin, "eqm_dead_letters_total") == "eqm_dead_letters_total 3"; },
        quick));
    CHECK(admin.get("/healthz").status == 200);
    // A good batch after the bad ones is still applied.
    gw.send({gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-nn"))});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    CHECK(device(admin, "cam-1")["status"] == "checked_out");
}

TEST_CASE("a broken custody hash chain raises an alert naming the record", "[server][ingest]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    auto admin = region.as("admin");
    gw.send({gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-nn"))});
    auto tampered = gw.next_custody("cam-1", custody_action::checkin, custody_state::checked_out,
                                    custody_state::available, std::nullopt);
    tampered.actor = "someone-else";  // edited after sealing: its hash no longer fits
    gw.send({tampered});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; }));
    auto alerts = admin.get("/api/v1/alerts?city=450100");
    REQUIRE(alerts.status == 200);
    bool found = false;
    for (const auto& a : alerts.body["items"]) {
        if (a["type"] != "ledger_broken") continue;
        found = true;
        CHECK(a["severity"] == "critical");
        CHECK(a["device_id"] == "cam-1");
        CHECK(a["detail"].get<std::string>().find("custody record 1") != std::string::npos);
    }
    CHECK(found);
    auto history = admin.get("/api/v1/devices/cam-1/custody");
    REQUIRE(history.body["items"].size() == 2);
    CHECK(history.body["items"][0]["verified"] == false);
    CHECK(history.body["items"][1]["verified"] == true);
}

TEST_CASE("commands stay in the outbox until their result and are resent after the next birth",
          "[server][ingest]") {
    region_fixture region;
    auto admin = region.as("admin");
    {
        fake_gateway gw(region.broker.uri(), "450100", "gw-nn", 1);
        gw.connect();
        // A gateway that comes online gets a full registry sync with the people allowed there.
        auto sync = gw.wait_cmd([](const srv_cmd& c) {
            const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
            return r && r->full_sync.value_or(false);
        });
        REQUIRE(sync);
        const auto& people = std::get<registry_upsert_cmd>(sync->body).people;
        std::set<std::string> badges;
        for (const auto& p : people)
            if (p.badge) badges.insert(*p.badge);
        CHECK(badges == std::set<std::string>{"B-CUST-NN", "B-OFF-NN"});
        gw.disconnect();
        gw.publish_will(1);
    }
    REQUIRE(city_online_is(admin, "450100", false));
    // Registered while the gateway is away: the upsert waits in the outbox.
    region.register_device("cam-9", "body_camera", "450100");

    fake_gateway gw2(region.broker.uri(), "450100", "gw-nn", 2);
    gw2.connect();
    auto upsert = gw2.wait_cmd([](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        return r && !r->full_sync.value_or(false) && r->devices.size() == 1 &&
               r->devices[0].id == "cam-9";
    });
    REQUIRE(upsert);
    auto full = gw2.wait_cmd([](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        return r && r->full_sync.value_or(false) && r->devices.size() == 1;
    });
    REQUIRE(full);

    // Answer only the upsert; after the next birth, only the unanswered full sync comes again.
    command_result_body done{
        upsert->cmd_id, srv_cmd_type::registry_upsert, outcome::ok(), {}, {}, {}};
    gw2.set_next_seq(1);
    gw2.send({done});
    REQUIRE(gw2.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    gw2.disconnect();
    fake_gateway gw3(region.broker.uri(), "450100", "gw-nn", 3);
    gw3.connect();
    REQUIRE(gw3.wait_cmd([](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        return r && r->full_sync.value_or(false);
    }));
    std::this_thread::sleep_for(300ms);
    for (const auto& c : gw3.commands()) CHECK(c.cmd_id != upsert->cmd_id);
}

TEST_CASE("a person added with `eqm-server user add` while the server runs reaches the gateways",
          "[server][ingest]") {
    region_fixture region;
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    REQUIRE(gw.wait_cmd([](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        return r && r->full_sync.value_or(false);
    }));
    // The CLI writes the database directly, in another process, while the server runs.
    REQUIRE(add_user(region.db(), "off-new", "officer", "450100", "B-OFF-NEW", "off-new-pw") == 0);
    auto sync = gw.wait_cmd([](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        if (!r || !r->full_sync.value_or(false)) return false;
        for (const auto& p : r->people)
            if (p.badge == "B-OFF-NEW") return true;
        return false;
    });
    REQUIRE(sync);
}
