// A gateway speaks for its own city only: its gw_id is bound to the city of its birth, it cannot
// change another city's devices (except a transfer arriving there), resolve another city's
// commands, or clear the server's own alerts. Real Mosquitto, the real eqm-server.
#include <catch2/catch.hpp>
#include <future>

#include "ingest_support.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

gw_events batch_of(const std::string& gw_id, std::vector<gw_event> events) {
    gw_events b;
    b.ts = now_ms();
    b.gw_id = gw_id;
    b.bd_seq = 1;
    b.events = std::move(events);
    return b;
}

gw_event event_of(const std::string& gw_id, std::uint64_t seq, gw_event_body body) {
    return gw_event{seq, gw_id + "-" + std::to_string(seq), now_ms(), std::move(body)};
}

telemetry_summary_body full_battery(const std::string& device) {
    telemetry_summary_body t;
    t.device_id = device;
    t.minute = std::chrono::floor<std::chrono::minutes>(now_ms());
    t.battery_pct_min = 99;
    t.battery_pct_last = 99;
    t.storage_free_mb_last = 1000;
    t.temp_c_max = 30;
    return t;
}

bool has_alert(api_client& c, const std::string& id, const std::string& state) {
    for (const auto& a : items(c.get("/api/v1/alerts?state=all").body))
        if (a["id"] == id) return a["state"] == state;
    return false;
}

}  // namespace

TEST_CASE("a batch whose gw_id is not the gateway of its topic's city is refused, not acked",
          "[server][ingest][trust]") {
    region_fixture region;
    region.register_device("cam-nn", "body_camera", "450100");
    auto admin = region.as("admin");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    nn.connect();
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    lz.connect();
    REQUIRE(test::wait_until([&] { return city_entry(admin, "450200")["online"] == true; }, quick));

    // Liuzhou's credentials, Liuzhou's topic, Nanning's gateway id: a checkout of a Nanning
    // device and a skipped range that would swallow Nanning's next 100 seqs.
    auto rec = nn.next_custody("cam-nn", custody_action::checkout, custody_state::available,
                               custody_state::checked_out, std::string("thief"));
    auto forged = to_json(batch_of("gw-nn", {event_of("gw-nn", 101, rec)}));
    forged["skipped"] = json::array({json::array({1, 100})});
    lz.publish_raw(forged.dump());

    REQUIRE(test::wait_until(
        [&] { return metric(admin, "eqm_ingest_refused_batches_total") == 1.0; }, quick));
    CHECK(device(admin, "cam-nn")["status"] == "available");
    CHECK(city_entry(admin, "450100")["applied_seq"] == 0);
    for (const auto& a : lz.acks()) CHECK(a.upto_seq != 101);
    auto rows = dead_letters(region.db());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].kind == "refused");
    CHECK(rows[0].reason.find("gw-nn is not the gateway of city 450200") != std::string::npos);

    // Nanning's own seq 1 is still new to the server.
    nn.send({full_battery("cam-nn")});
    REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
}

TEST_CASE("a birth that claims another city's gateway id is refused", "[server][ingest][trust]") {
    region_fixture region;
    auto admin = region.as("admin");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    nn.connect();
    REQUIRE(test::wait_until([&] { return city_entry(admin, "450100")["online"] == true; }, quick));
    fake_gateway impostor(region.broker.uri(), "450200", "gw-nn", 5);
    impostor.connect();
    REQUIRE(test::wait_until(
        [&] { return metric(admin, "eqm_ingest_refused_births_total") == 1.0; }, quick));
    CHECK(city_entry(admin, "450200")["online"] == false);
    CHECK(city_entry(admin, "450100")["online"] == true);
}

TEST_CASE("a gateway cannot check out, bring online or charge another city's device",
          "[server][ingest][trust]") {
    region_fixture region;
    region.register_device("cam-nn", "body_camera", "450100");
    region.register_device("cam-lz", "body_camera", "450200");
    auto admin = region.as("admin");
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    lz.connect();

    device_state_body online{"cam-nn", true, 1, true, {}, {}, std::string("9.9")};
    lz.send({lz.next_custody("cam-nn", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("thief")),
             online, full_battery("cam-nn")});
    // The batch is acked (the city moves on), but nothing of Nanning's device changed.
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    auto d = device(admin, "cam-nn");
    CHECK(d["status"] == "available");
    CHECK(d["online"] == false);
    CHECK_FALSE(d.contains("telemetry"));
    CHECK(items(admin.get("/api/v1/devices/cam-nn/custody").body).empty());
    CHECK(metric(admin, "eqm_ingest_refused_events_total") == 3.0);
    std::size_t refused = 0;
    for (const auto& r : dead_letters(region.db())) refused += r.kind == "refused" ? 1 : 0;
    CHECK(refused == 3);

    // Liuzhou's chain went on through the refused record: its next record still verifies.
    lz.send({lz.next_custody("cam-lz", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-lz"))});
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 4; }));
    CHECK(device(admin, "cam-lz")["status"] == "checked_out");
    auto history = items(admin.get("/api/v1/devices/cam-lz/custody").body);
    REQUIRE(history.size() == 1);
    CHECK(history[0]["verified"] == true);
    for (const auto& a : items(admin.get("/api/v1/alerts?state=all").body))
        CHECK(a["type"] != "ledger_broken");
}

TEST_CASE("a transfer arriving in a city moves the device there, another city cannot claim it",
          "[server][ingest][trust]") {
    region_fixture region;
    region.register_device("drone-1", "drone", "450100");
    region.register_device("drone-2", "drone", "450100");
    auto admin = region.as("admin");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    nn.connect();
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    lz.connect();
    fake_gateway gl(region.broker.uri(), "450300", "gw-gl");
    gl.connect();

    // drone-1 leaves Nanning under transfer tr-1 (the server knows its destination from its
    // transfer_order); drone-2 leaves under tr-2, which has no order on record.
    execute_sql(region.db(),
                "INSERT INTO outbox(cmd_id, city, type, payload, created_at) VALUES ('srv-t1', "
                "'450200', 'transfer_order', '{\"cmd_id\":\"srv-t1\",\"device_id\":\"drone-1\","
                "\"from_city\":\"450100\",\"step\":\"receive\",\"to_city\":\"450200\","
                "\"transfer_id\":\"tr-1\",\"ts\":\"2026-11-26T08:00:00.000Z\","
                "\"type\":\"transfer_order\"}', '2026-11-26T08:00:00.000Z')");
    nn.send({nn.next_custody("drone-1", custody_action::transfer_out, custody_state::available,
                             custody_state::in_transit, std::nullopt, std::nullopt, "tr-1"),
             nn.next_custody("drone-2", custody_action::transfer_out, custody_state::available,
                             custody_state::in_transit, std::nullopt, std::nullopt, "tr-2")});
    REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; }));
    REQUIRE(device(admin, "drone-1")["status"] == "in_transit");

    const auto arrival = [](fake_gateway& gw, const std::string& device, const std::string& tr) {
        return gw.next_custody(device, custody_action::transfer_in, custody_state::in_transit,
                               custody_state::available, std::nullopt, std::nullopt, tr);
    };
    // Guilin is not tr-1's destination: refused. Liuzhou is: the drone is Liuzhou's now.
    gl.send({arrival(gl, "drone-1", "tr-1")});
    REQUIRE(gl.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    CHECK(device(admin, "drone-1")["city"] == "450100");
    lz.send({arrival(lz, "drone-1", "tr-1")});
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    auto d1 = device(admin, "drone-1");
    CHECK(d1["city"] == "450200");
    CHECK(d1["status"] == "available");

    // Without an order, the arrival must name the transfer the device is in transit under.
    lz.send({arrival(lz, "drone-2", "tr-9")});
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; }));
    CHECK(device(admin, "drone-2")["city"] == "450100");
    lz.send({arrival(lz, "drone-2", "tr-2")});
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    CHECK(device(admin, "drone-2")["city"] == "450200");
    CHECK(metric(admin, "eqm_ingest_refused_events_total") == 2.0);
}

TEST_CASE("a command result resolves only a command that was sent to the reporting city",
          "[server][ingest][trust]") {
    region_fixture region({"--gateway-timeout-ms", "4000"});
    region.register_device("cam-nn", "body_camera", "450100");
    auto cust = region.as("cust-nn");
    auto admin = region.as("admin");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    nn.connect();
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    lz.connect();
    REQUIRE(test::wait_until([&] { return city_entry(admin, "450200")["online"] == true; }, quick));

    auto answer = std::async(std::launch::async, [&] {
        return cust.post("/api/v1/devices/cam-nn/checkout", json{{"badge", "B-OFF-NN"}});
    });
    auto cmd = nn.wait_cmd(
        [](const srv_cmd& c) { return std::holds_alternative<custody_request_cmd>(c.body); });
    REQUIRE(cmd);
    // Liuzhou answers Nanning's custody request (it learnt the cmd_id somehow).
    lz.send({command_result_body{
        cmd->cmd_id, srv_cmd_type::custody_request, outcome::ok(), {}, {}, {}}});
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    auto reply = answer.get();
    CHECK(reply.status == 503);
    CHECK(metric(admin, "eqm_ingest_refused_events_total") == 1.0);
    CHECK(device(admin, "cam-nn")["status"] == "available");
}

TEST_CASE("a gateway cannot clear the server's own alerts or another city's",
          "[server][ingest][trust]") {
    region_fixture region;
    region.register_device("cam-nn", "body_camera", "450100");
    auto admin = region.as("admin");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    nn.connect();
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    lz.connect();

    nn.send({nn.next_custody("cam-nn", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-nn"))});
    auto tampered = nn.next_custody("cam-nn", custody_action::checkin, custody_state::checked_out,
                                    custody_state::available, std::nullopt);
    tampered.actor = "someone-else";  // edited after sealing
    alert_body own{"low-nn-1",          alert_type::low_battery,
                   alert_state::raised, alert_severity::warning,
                   "battery 9 %",       std::string("cam-nn")};
    nn.send({tampered, own});
    REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    REQUIRE(has_alert(admin, "ledger-450100-1", "raised"));
    REQUIRE(has_alert(admin, "low-nn-1", "raised"));

    // Nanning tries to clear the server's ledger alert; Liuzhou tries to clear Nanning's alert.
    alert_body clear_ledger{"ledger-450100-1",
                            alert_type::ledger_broken,
                            alert_state::cleared,
                            alert_severity::info,
                            "",
                            std::nullopt};
    nn.send({clear_ledger});
    alert_body clear_other{
        "low-nn-1",  alert_type::low_battery, alert_state::cleared, alert_severity::info, "",
        std::nullopt};
    lz.send({clear_other});
    REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq == 4; }));
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));
    CHECK(has_alert(admin, "ledger-450100-1", "raised"));
    CHECK(has_alert(admin, "low-nn-1", "raised"));
    CHECK(metric(admin, "eqm_ingest_refused_events_total") == 2.0);

    // Its own alert the city clears as always.
    nn.send({clear_other});
    REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq == 5; }));
    CHECK(has_alert(admin, "low-nn-1", "cleared"));
}
