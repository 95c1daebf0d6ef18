// Reads of eqm-server: pages over every list, the read scope of each role (REST and the
// WebSocket feed), and feed connections closed when their login ends.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

/// Sends `n` custody records for `device` (check-out to `holder`, check-in, ...) in batches.
void send_history(fake_gateway& gw, const std::string& device, int n, const std::string& holder) {
    constexpr int batch = 500;
    for (int sent = 0; sent < n;) {
        std::vector<gw_event_body> bodies;
        for (int k = 0; k < batch && sent < n; ++k, ++sent) {
            const bool out = sent % 2 == 0;
            bodies.emplace_back(
                gw.next_custody(device, out ? custody_action::checkout : custody_action::checkin,
                                out ? custody_state::available : custody_state::checked_out,
                                out ? custody_state::checked_out : custody_state::available,
                                out ? std::optional<std::string>(holder) : std::nullopt));
        }
        const auto upto = gw.next_seq() + bodies.size() - 1;
        gw.send(std::move(bodies));
        REQUIRE(gw.wait_ack([&](const srv_ack& a) { return a.upto_seq >= upto; }, 30s));
    }
}

std::set<std::string> ids_of(const json& items) {
    std::set<std::string> out;
    for (const auto& i : items) out.insert(i["id"].get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("every list is a page, and a custody history of 1,200 records is read whole",
          "[server][api][paging]") {
    region_fixture region;
    for (int i = 0; i < 7; ++i)
        region.register_device("pg-" + std::to_string(i), "drone", "450100");
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    send_history(gw, "cam-1", 1200, "off-nn");
    auto admin = region.as("admin");

    auto history = all_items(admin, "/api/v1/devices/cam-1/custody?limit=500");
    REQUIRE(history.size() == 1200);
    for (std::size_t i = 0; i < history.size(); ++i)  // newest first, nothing twice
        CHECK(history[i]["record"]["index"] == 1199 - i);
    auto first = admin.get("/api/v1/devices/cam-1/custody");
    CHECK(first.body["items"].size() == 100);  // the default limit
    CHECK(first.body["next_cursor"].is_string());

    auto page = admin.get("/api/v1/devices?city=450100&limit=3");
    REQUIRE(page.status == 200);
    CHECK(page.body["items"].size() == 3);
    CHECK(page.body["items"][0]["id"] == "cam-1");  // by id
    auto devices = all_items(admin, "/api/v1/devices?city=450100&limit=3");
    CHECK(devices.size() == 8);
    CHECK(ids_of(devices).size() == 8);
    CHECK(all_items(admin, "/api/v1/cities?limit=5").size() == 14);
    auto last = admin.get("/api/v1/cities?limit=14");
    CHECK(last.body["next_cursor"].is_null());

    for (const auto* bad :
         {"limit=0", "limit=5001", "limit=x", "cursor=nonsense", "cursor=6465766963657300"}) {
        for (const auto* list : {"/api/v1/devices", "/api/v1/cities", "/api/v1/alerts",
                                 "/api/v1/devices/cam-1/custody"}) {
            auto r = admin.get(std::string(list) + "?" + bad);
            INFO(list << "?" << bad << " -> " << r.text);
            CHECK(r.status == 400);
            CHECK(r.body["field"] == std::string(bad).substr(0, std::string(bad).find('=')));
        }
    }
    // A cursor of one list is not one of another.
    auto cities = admin.get("/api/v1/cities?limit=1");
    auto wrong =
        admin.get("/api/v1/devices?cursor=" + cities.body["next_cursor"].get<std::string>());
    CHECK(wrong.status == 400);
    CHECK(wrong.body["field"] == "cursor");
}

TEST_CASE("reads are scoped by role and city", "[server][api][scope]") {
    region_fixture region;
    region.register_device("own-1", "body_camera", "450100");
    region.register_device("own-2", "body_camera", "450100");
    region.register_device("other-1", "body_camera", "450200");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    nn.connect();
    lz.connect();
    auto out1 = nn.next_custody("own-1", custody_action::checkout, custody_state::available,
                                custody_state::checked_out, std::string("off-nn"));
    auto in1 = nn.next_custody("own-1", custody_action::checkin, custody_state::checked_out,
                               custody_state::available, std::nullopt);
    auto out1b = nn.next_custody("own-1", custody_action::checkout, custody_state::available,
                                 custody_state::checked_out, std::string("disp"));
    auto out2 = nn.next_custody("own-2", custody_action::checkout, custody_state::available,
                                custody_state::checked_out, std::string("off-nn"));
    nn.send({out1, in1, out1b, out2,
             alert_body{"al-nn", alert_type::low_battery, alert_state::raised,
                        alert_severity::warning, "low", std::string("own-1")}});
    lz.send({alert_body{"al-lz", alert_type::low_battery, alert_state::raised,
                        alert_severity::warning, "low", std::string("other-1")}});
    REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq == 5; }));
    REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq == 1; }));

    {  // a dispatcher reads the region with every holder
        auto disp = region.as("disp");
        auto all = all_items(disp, "/api/v1/devices");
        CHECK(ids_of(all) == std::set<std::string>{"other-1", "own-1", "own-2"});
        CHECK(device(disp, "own-2")["holder"] == "off-nn");
        CHECK(all_items(disp, "/api/v1/devices/own-1/custody").size() == 3);
        CHECK(all_items(disp, "/api/v1/alerts").size() == 2);
    }
    {  // a custodian reads their own city only
        auto cust = region.as("cust-nn");
        CHECK(ids_of(all_items(cust, "/api/v1/devices")) ==
              std::set<std::string>{"own-1", "own-2"});
        CHECK(device(cust, "own-1")["holder"] == "disp");
        for (const auto* t : {"/api/v1/devices?city=450200", "/api/v1/devices/other-1",
                              "/api/v1/devices/other-1/custody", "/api/v1/alerts?city=450200"}) {
            auto r = cust.get(t);
            INFO(t << " -> " << r.text);
            CHECK(r.status == 403);
            CHECK(r.body["type"] == "urn:eqm:problem:forbidden");
            CHECK(r.body["field"] == "city");
        }
        auto alerts = all_items(cust, "/api/v1/alerts");
        REQUIRE(alerts.size() == 1);
        CHECK(alerts[0]["id"] == "al-nn");
        CHECK(all_items(cust, "/api/v1/devices/own-1/custody").size() == 3);
        CHECK(all_items(cust, "/api/v1/cities").size() == 14);
    }
    {  // an officer sees the region's devices, holders only when it is them, no alerts
        auto off = region.as("off-nn");
        auto all = all_items(off, "/api/v1/devices");
        CHECK(ids_of(all) == std::set<std::string>{"other-1", "own-1", "own-2"});
        for (const auto& d : all) {
            INFO(d.dump());
            CHECK((d["holder"].is_null() || d["holder"] == "off-nn"));
        }
        CHECK(device(off, "own-2")["holder"] == "off-nn");
        CHECK(device(off, "own-1")["holder"].is_null());  // held by the dispatcher
        CHECK(device(off, "own-1")["status"] == "checked_out");
        // Only their own holding of own-1: the check-out to them and the check-in that ended it.
        auto mine = all_items(off, "/api/v1/devices/own-1/custody");
        REQUIRE(mine.size() == 2);
        CHECK(mine[0]["record"]["action"] == "checkin");
        CHECK(mine[1]["record"]["holder"] == "off-nn");
        CHECK(all_items(off, "/api/v1/devices/other-1/custody").empty());
        auto alerts = off.get("/api/v1/alerts");
        CHECK(alerts.status == 403);
        CHECK(alerts.body["field"] == "role");
    }
}

TEST_CASE("the WebSocket feed keeps to each reader's scope", "[server][api][ws][scope]") {
    region_fixture region;
    region.register_device("own-1", "body_camera", "450100");
    region.register_device("own-2", "body_camera", "450100");
    region.register_device("other-1", "body_camera", "450200");
    region.as("off-nn");
    region.as("cust-nn");
    const auto target = [&](const std::string& who) {
        return "/api/v1/events?token=" + region.tokens[who];
    };
    ws_listener officer(region.port(), target("off-nn"));
    ws_listener custodian(region.port(), target("cust-nn"));
    // A custodian may not ask for another city's feed: the upgrade is refused.
    CHECK_THROWS(ws_listener(region.port(), target("cust-nn") + "&city=450200"));
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    nn.connect();
    lz.connect();
    lz.send({lz.next_custody("other-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-lz"))});
    nn.send({nn.next_custody("own-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("disp")),
             nn.next_custody("own-2", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("off-nn")),
             alert_body{"al-nn", alert_type::low_battery, alert_state::raised,
                        alert_severity::warning, "low", std::string("own-1")}});
    const auto is_device = [](const std::string& id) {
        return [id](const json& m) {
            return m.value("type", "") == "device" && m["device"]["id"] == id &&
                   m["device"]["status"] == "checked_out";
        };
    };
    REQUIRE(officer.wait_for(is_device("own-1"), quick));
    REQUIRE(officer.wait_for(is_device("own-2"), quick));
    REQUIRE(officer.wait_for(is_device("other-1"), quick));
    REQUIRE(custodian.wait_for(is_device("own-2"), quick));
    REQUIRE(
        custodian.wait_for([](const json& m) { return m.value("type", "") == "alert"; }, quick));
    for (const auto& m : officer.messages()) {
        INFO(m.dump());
        CHECK(m["type"] != "alert");
        if (m["type"] != "device") continue;
        if (m["device"]["id"] == "own-2") {
            CHECK(m["device"]["holder"] == "off-nn");
        } else {
            CHECK(m["device"]["holder"].is_null());
        }
    }
    for (const auto& m : custodian.messages()) {
        INFO(m.dump());
        if (m["type"] == "device") CHECK(m["device"]["city"] == "450100");
        if (m["type"] == "alert") CHECK(m["alert"]["city"] == "450100");
        if (m["device"].is_object() && m["device"]["id"] == "own-1")
            CHECK(m["device"]["holder"] == "disp");
    }
}

TEST_CASE("a feed connection is closed (1008) when its token expires", "[server][api][ws]") {
    region_fixture region({"--token-ttl", "3s"});
    region.as("disp");
    ws_listener feed(region.port(), "/api/v1/events?token=" + region.tokens["disp"]);
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(feed.wait_closed(15s));
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
    auto frame = feed.close_frame();
    REQUIRE(frame);
    CHECK(frame->first == 1008);
    CHECK(frame->second.find("expired") != std::string::npos);
}

TEST_CASE("a feed connection is closed (1008) when its user is deactivated", "[server][api][ws]") {
    region_fixture region;
    region.as("cust-nn");
    region.as("disp");
    ws_listener gone(region.port(), "/api/v1/events?token=" + region.tokens["cust-nn"]);
    ws_listener stays(region.port(), "/api/v1/events?token=" + region.tokens["disp"]);
    const auto sql = "sqlite3 '" + region.db().string() +
                     "' \"PRAGMA busy_timeout = 5000; UPDATE users SET active = 0 WHERE name = "
                     "'cust-nn'\"";
    REQUIRE(std::system(sql.c_str()) == 0);
    REQUIRE(gone.wait_closed(10s));
    auto frame = gone.close_frame();
    REQUIRE(frame);
    CHECK(frame->first == 1008);
    CHECK(frame->second.find("deactivated") != std::string::npos);
    CHECK_FALSE(stays.wait_closed(1500ms));
    CHECK(region.as("disp").get("/api/v1/devices/none").status == 404);
}
