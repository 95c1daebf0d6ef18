// One bad batch never stalls a city: an unreadable batch whose seqs can be read is quarantined
// (kept whole, once) and acked; members of a newer minor version are ignored; dead letters are
// counted on one row per repeat and pruned by age and count. Real Mosquitto, real eqm-server.
#include <catch2/catch.hpp>

#include "eqm/domain/canonical_json.hpp"
#include "ingest_support.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

telemetry_summary_body summary(const std::string& device, double battery = 80) {
    telemetry_summary_body t;
    t.device_id = device;
    t.minute = std::chrono::floor<std::chrono::minutes>(now_ms());
    t.battery_pct_min = battery;
    t.battery_pct_last = battery;
    t.storage_free_mb_last = 1000;
    t.temp_c_max = 30;
    return t;
}

json batch_json(fake_gateway& gw, std::vector<gw_event> events) {
    gw_events b;
    b.ts = now_ms();
    b.gw_id = gw.gw_id();
    b.bd_seq = gw.bd_seq();
    b.events = std::move(events);
    return to_json(b);
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

/// A custody record as a newer gateway seals it: with a member this version does not know.
json newer_record(fake_gateway& gw, const std::string& device) {
    auto rec = gw.next_custody(device, custody_action::checkout, custody_state::available,
                               custody_state::checked_out, std::string("cust-nn"));
    json j = to_json(rec);
    j.erase("hash");
    j["witness"] = "cust-2";
    j["hash"] = sha256_hex(rec.prev_hash + canonical_json(j).value());
    return j;
}

}  // namespace

TEST_CASE("an unreadable batch with readable seqs is quarantined once and acked, the city moves on",
          "[server][ingest][quarantine]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto admin = region.as("admin");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    gw.send({summary("cam-1")});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));

    auto bad = batch_json(gw, {gw.make_event(summary("cam-1")), gw.make_event(summary("cam-1"))});
    bad["events"][1]["body"]["battery_pct_min"] = "low";
    const auto bad_text = bad.dump();
    gw.publish_raw(bad_text);
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    auto rows = dead_letters(region.db());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].kind == "quarantined");
    CHECK(rows[0].gw_id == "gw-nn");
    CHECK(rows[0].from_seq == 2);
    CHECK(rows[0].to_seq == 3);
    CHECK(rows[0].payload == bad_text);  // kept whole
    CHECK(rows[0].reason.find("events[1].body.battery_pct_min") != std::string::npos);
    CHECK(metric(admin, "eqm_ingest_quarantined_total") == 1.0);

    // The same batch again (its ack was lost): acked again, still one row.
    gw.clear_received();
    gw.publish_raw(bad_text);
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    rows = dead_letters(region.db());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].occurrences == 2);

    // The city goes on.
    gw.send({summary("cam-1", 42)});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 4; }));
    CHECK(device(admin, "cam-1")["telemetry"]["battery_pct_last"] == 42);
    CHECK(metric(admin, "eqm_ingest_events_applied_total") == 2.0);

    // An unreadable batch after a gap is not acked past the gap: the gateway resends first.
    gw.set_next_seq(10);
    auto later = batch_json(gw, {gw.make_event(summary("cam-1"))});
    later["events"][0]["body"]["count"] = 0;
    gw.publish_raw(later.dump());
    auto ask = gw.wait_ack([](const srv_ack& a) { return a.resend_from.has_value(); });
    REQUIRE(ask);
    CHECK(ask->upto_seq == 4);
    CHECK(*ask->resend_from == 5);
    CHECK(dead_letters(region.db()).size() == 1);
}

TEST_CASE(
    "members a newer minor version adds are ignored, a custody record keeps them and verifies",
    "[server][ingest][quarantine][lenient]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("cam-2", "body_camera", "450200");
    auto admin = region.as("admin");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_version("0.9.4");  // the server is 0.x too
    gw.connect();

    for (int round = 0; round < 2; ++round) {
        auto j = batch_json(gw, {gw.make_event(summary("cam-1", 70 + round))});
        j["compression"] = "none";
        j["events"][0]["priority"] = 1;
        j["events"][0]["body"]["humidity_pct"] = 55;
        gw.publish_raw(j.dump());
    }
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; }));
    CHECK(device(admin, "cam-1")["telemetry"]["battery_pct_last"] == 71);

    auto j = batch_json(gw, {gw.make_event(summary("cam-1"))});
    j["events"][0]["kind"] = "custody";
    j["events"][0]["body"] = newer_record(gw, "cam-1");
    gw.publish_raw(j.dump());
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    CHECK(device(admin, "cam-1")["status"] == "checked_out");
    auto history = items(admin.get("/api/v1/devices/cam-1/custody").body);
    REQUIRE(history.size() == 1);
    CHECK(history[0]["verified"] == true);
    CHECK(history[0]["record"]["witness"] == "cust-2");
    for (const auto& a : items(admin.get("/api/v1/alerts?state=all").body))
        CHECK(a["type"] != "ledger_broken");
    CHECK(metric(admin, "eqm_ingest_lenient_batches_total") == 3.0);
    CHECK(dead_letters(region.db()).empty());
    // Logged once per gateway and member, not once per batch.
    const auto log = test::read_file(region.server->log());
    CHECK(count_of(log, "field=events[].body.humidity_pct") == 1);
    CHECK(count_of(log, "field=compression") == 1);

    // A gateway of another major version gets no such leniency: its batch is quarantined.
    fake_gateway next_major(region.broker.uri(), "450200", "gw-lz");
    next_major.set_version("1.0.0");
    next_major.connect();
    auto k = batch_json(next_major, {next_major.make_event(summary("cam-2"))});
    k["compression"] = "none";
    next_major.publish_raw(k.dump());
    REQUIRE(next_major.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    CHECK_FALSE(device(admin, "cam-2").contains("telemetry"));
    auto rows = dead_letters(region.db());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].kind == "quarantined");
}

TEST_CASE("dead letters count repeats on one row and are pruned by age and by count",
          "[server][ingest][quarantine]") {
    region_fixture region({"--dead-letter-max-rows", "3"});
    auto admin = region.as("admin");
    mqtt::session_options o;
    o.server_uri = region.broker.uri();
    o.client_id = "test-junk";
    o.log = [](std::string_view) {};
    auto s = mqtt::session::create(std::move(o));
    REQUIRE(s.has_value());
    (*s)->start();
    REQUIRE((*s)->wait_connected(quick));
    const std::vector<std::string> cities{"450100", "450200", "450300", "450400", "450500"};
    for (const auto& c : cities)
        REQUIRE((*s)->publish("eqm/v1/city/" + c + "/gw/events", "not json", 1, false));
    for (int i = 0; i < 2; ++i)
        REQUIRE((*s)->publish("eqm/v1/city/450500/gw/events", "not json", 1, false));
    REQUIRE(
        test::wait_until([&] { return metric(admin, "eqm_dead_letters_total") == 7.0; }, quick));
    auto rows = dead_letters(region.db());
    REQUIRE(rows.size() == 5);
    CHECK(rows.back().occurrences == 3);
    CHECK(rows.back().kind == "malformed");

    // Pruned when the server starts (and every 10 minutes): the cap keeps the newest three.
    region.server->stop();
    region.server->start();
    REQUIRE(test::wait_until([&] { return dead_letters(region.db()).size() == 3; }, quick));
    rows = dead_letters(region.db());
    CHECK(rows.back().topic == "eqm/v1/city/450500/gw/events");
    auto admin2 = api_client(region.port(), login(region.port(), "admin", "admin-pw"));
    CHECK(metric(admin2, "eqm_dead_letters_pruned_total") == 2.0);

    // Past the retention they all go.
    region.server->stop();
    std::this_thread::sleep_for(1500ms);
    server_process short_retention(region.broker.uri(), region.db(), region.dir.path() / "s2.log",
                                   {"--dead-letter-retention", "1s"});
    CHECK(test::wait_until([&] { return dead_letters(region.db()).empty(); }, quick));
}
