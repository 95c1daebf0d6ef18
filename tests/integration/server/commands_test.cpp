// Commands to gateways: a custody request carries its deadline and never outlives a restart, a
// command waiting for its result is published again while its gateway is online, and a large
// full registry sync comes in parts. Real Mosquitto, the real eqm-server.
#include <catch2/catch.hpp>
#include <future>
#include <set>

#include "ingest_support.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

bool is_full_sync(const srv_cmd& c) {
    const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
    return r && r->full_sync.value_or(false);
}

/// POST without failing the test when the connection breaks (the server may be killed).
std::future<result<client::http_reply>> post_in_background(std::uint16_t port,
                                                           const std::string& token,
                                                           const std::string& target,
                                                           const json& body) {
    return std::async(std::launch::async, [=] {
        client::rest_connection conn(client::server_url{"127.0.0.1", std::to_string(port)});
        client::header_fields h{{"Authorization", "Bearer " + token},
                                {"Content-Type", "application/json"}};
        return conn.call("POST", target, body.dump(), h);
    });
}

}  // namespace

TEST_CASE("a check-out the server gave up on in a crash is never delivered after its restart",
          "[server][commands]") {
    region_fixture region({"--gateway-timeout-ms", "20000"});
    region.register_device("cam-1", "body_camera", "450100");
    auto admin = region.as("admin");
    const auto token = region.as("cust-nn").token();
    std::string cmd_id;
    {
        fake_gateway gw(region.broker.uri(), "450100", "gw-nn", 1);
        gw.connect();
        REQUIRE(gw.wait_cmd(is_full_sync));
        const auto sent = now_ms();
        auto reply = post_in_background(region.port(), token, "/api/v1/devices/cam-1/checkout",
                                        json{{"badge", "B-OFF-NN"}});
        auto cmd = gw.wait_cmd(
            [](const srv_cmd& c) { return std::holds_alternative<custody_request_cmd>(c.body); });
        REQUIRE(cmd);
        cmd_id = cmd->cmd_id;
        // The gateway is told when the requester stops waiting.
        const auto& req = std::get<custody_request_cmd>(cmd->body);
        REQUIRE(req.expires_at.has_value());
        CHECK(*req.expires_at >= sent + 19s);
        CHECK(*req.expires_at <= now_ms() + 20s);
        gw.disconnect();
        region.server->kill();
        reply.wait();
    }
    region.server->start();
    fake_gateway gw2(region.broker.uri(), "450100", "gw-nn", 2);
    gw2.connect();
    REQUIRE(gw2.wait_cmd(is_full_sync));
    std::this_thread::sleep_for(500ms);
    for (const auto& c : gw2.commands()) CHECK(c.cmd_id != cmd_id);
    bool abandoned = false;
    for (const auto& r : outbox_rows(region.db()))
        if (r.cmd_id == cmd_id) abandoned = r.state == "abandoned" && r.result == "server_restart";
    CHECK(abandoned);
    auto admin2 = api_client(region.port(), login(region.port(), "admin", "admin-pw"));
    CHECK(metric(admin2, "eqm_custody_requests_abandoned_total") == 1.0);
    CHECK(device(admin2, "cam-1")["status"] == "available");
}

TEST_CASE("a check-out waited for when the server stops is taken out of the outbox",
          "[server][commands]") {
    region_fixture region({"--gateway-timeout-ms", "20000"});
    region.register_device("cam-1", "body_camera", "450100");
    const auto token = region.as("cust-nn").token();
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn", 1);
    gw.connect();
    REQUIRE(gw.wait_cmd(is_full_sync));
    auto reply = post_in_background(region.port(), token, "/api/v1/devices/cam-1/checkout",
                                    json{{"badge", "B-OFF-NN"}});
    auto cmd = gw.wait_cmd(
        [](const srv_cmd& c) { return std::holds_alternative<custody_request_cmd>(c.body); });
    REQUIRE(cmd);
    region.server->stop();
    reply.wait();
    bool abandoned = false;
    for (const auto& r : outbox_rows(region.db()))
        if (r.cmd_id == cmd->cmd_id) abandoned = r.state == "abandoned";
    CHECK(abandoned);
}

TEST_CASE("a command waiting for its result is published again while its gateway is online",
          "[server][commands]") {
    region_fixture region({"--command-resend-interval", "1s"});
    auto admin = region.as("admin");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    auto full = gw.wait_cmd(is_full_sync);
    REQUIRE(full);
    region.register_device("cam-9", "body_camera", "450100");
    const auto upsert_of_cam9 = [](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        return r && !r->full_sync && r->devices.size() == 1 && r->devices[0].id == "cam-9";
    };
    auto upsert = gw.wait_cmd(upsert_of_cam9);
    REQUIRE(upsert);
    const auto times_received = [&](const std::string& id) {
        std::size_t n = 0;
        for (const auto& c : gw.commands()) n += c.cmd_id == id ? 1 : 0;
        return n;
    };
    REQUIRE(test::wait_until([&] { return times_received(upsert->cmd_id) >= 3; }, 15s));
    CHECK(times_received(full->cmd_id) >= 2);

    // Answered: no more resends.
    gw.send({command_result_body{
                 upsert->cmd_id, srv_cmd_type::registry_upsert, outcome::ok(), {}, {}, {}},
             command_result_body{
                 full->cmd_id, srv_cmd_type::registry_upsert, outcome::ok(), {}, {}, {}}});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; }));
    std::this_thread::sleep_for(500ms);
    gw.clear_received();
    std::this_thread::sleep_for(2500ms);
    CHECK(times_received(upsert->cmd_id) == 0);
    CHECK(times_received(full->cmd_id) == 0);
    CHECK(metric(admin, "eqm_commands_resent_total").value_or(0) >= 3);
}

TEST_CASE("a full registry sync of thousands of devices comes in parts, each under the limit",
          "[server][commands]") {
    constexpr int devices = 5000;
    region_fixture region;
    auto admin = region.as("admin");
    std::string csv = "id,class,model,city,serial\n";
    for (int i = 0; i < devices; ++i)
        csv += "cam-" + std::to_string(100000 + i) +
               ",body_camera,DSJ-A9 body camera 4K,450100,SN-2026-0000-" + std::to_string(i) + "\n";
    auto imported = admin.call("POST", "/api/v1/devices/import", csv, "text/csv");
    INFO(imported.text);
    REQUIRE(imported.status / 100 == 2);

    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    std::optional<std::string> sync_id;
    std::uint64_t parts = 0;
    const auto parts_of = [&](const std::string& id) {
        std::vector<srv_cmd> out;
        for (const auto& c : gw.commands()) {
            const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
            if (r && r->sync_id == id) out.push_back(c);
        }
        return out;
    };
    REQUIRE(test::wait_until(
        [&] {
            for (const auto& c : gw.commands()) {
                const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
                if (!r || !r->sync_id) continue;
                sync_id = r->sync_id;
                parts = r->parts.value_or(0);
            }
            return sync_id && parts > 0 && parts_of(*sync_id).size() >= parts;
        },
        20s));
    CHECK(parts >= 2);
    std::set<std::uint64_t> numbers;
    std::set<std::string> ids;
    std::set<std::string> badges;
    for (const auto& c : parts_of(*sync_id)) {
        CHECK(to_json_text(c).size() < 256 * 1024);
        const auto& r = std::get<registry_upsert_cmd>(c.body);
        CHECK(r.full_sync == true);
        CHECK(r.parts == parts);
        numbers.insert(r.part.value_or(0));
        for (const auto& d : r.devices) ids.insert(d.id);
        for (const auto& p : r.people) badges.insert(p.badge.value_or(""));
    }
    CHECK(numbers.size() == parts);
    CHECK(*numbers.begin() == 1);
    CHECK(*numbers.rbegin() == parts);
    CHECK(ids.size() == static_cast<std::size_t>(devices));
    CHECK(badges == std::set<std::string>{"B-CUST-NN", "B-OFF-NN"});

    // A newer full sync (a person added by another process) supersedes the pending parts.
    REQUIRE(add_user(region.db(), "off-new", "officer", "450100", "B-OFF-NEW", "off-new-pw") == 0);
    REQUIRE(test::wait_until(
        [&] {
            for (const auto& c : gw.commands()) {
                const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
                if (r && r->sync_id && r->sync_id != sync_id) return true;
            }
            return false;
        },
        20s));
    std::size_t superseded = 0;
    for (const auto& r : outbox_rows(region.db()))
        for (const auto& c : parts_of(*sync_id))
            if (r.cmd_id == c.cmd_id && r.state == "abandoned" && r.result == "superseded")
                ++superseded;
    CHECK(superseded == parts);
}
