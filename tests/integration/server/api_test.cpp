// The REST API and the WebSocket feed of eqm-server, through real HTTP.
#include <catch2/catch.hpp>
#include <cstdio>
#include <set>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

/// The device list as text, to prove a refused request changed nothing.
std::string registry_snapshot(api_client& c) {
    return c.get("/api/v1/devices").text;
}

}  // namespace

TEST_CASE("login gives a token, wrong passwords are refused and then throttled",
          "[server][api][auth]") {
    region_fixture region;
    api_client anon(region.port());
    auto ok =
        anon.post("/api/v1/auth/login", json{{"name", "cust-nn"}, {"password", "cust-nn-pw"}});
    REQUIRE(ok.status == 200);
    CHECK(ok.body["role"] == "custodian");
    CHECK(ok.body["city"] == "450100");
    CHECK(ok.body["token"].get<std::string>().size() == 64);

    CHECK(anon.get("/api/v1/devices").status == 401);
    api_client bad_token(region.port(), "0123456789abcdef");
    CHECK(bad_token.get("/api/v1/devices").status == 401);

    for (int i = 0; i < 5; ++i) {
        auto r = anon.post("/api/v1/auth/login", json{{"name", "admin"}, {"password", "wrong"}});
        CHECK(r.status == 401);
        CHECK(r.content_type == "application/problem+json");
    }
    auto throttled =
        anon.post("/api/v1/auth/login", json{{"name", "admin"}, {"password", "admin-pw"}});
    CHECK(throttled.status == 429);
    // Another name from the same peer is not affected.
    CHECK(anon.post("/api/v1/auth/login", json{{"name", "disp"}, {"password", "disp-pw"}}).status ==
          200);
}

TEST_CASE("bad JSON and bad fields get a 400 naming the field and change nothing",
          "[server][api]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto admin = region.as("admin");
    const auto before = registry_snapshot(admin);

    struct bad_case {
        std::string body;
        std::string field;
    };
    auto c = GENERATE(
        bad_case{"{not json", "body"}, bad_case{"[1,2]", "body"},
        bad_case{R"({"id":"cam-2","class":"toaster","model":"M","city":"450100"})", "class"},
        bad_case{R"({"id":"cam 2","class":"drone","model":"M","city":"450100"})", "id"},
        bad_case{R"({"id":"cam-2","class":"drone","model":"M","city":"999999"})", "city"},
        bad_case{R"({"id":"cam-2","class":"drone","model":"M","city":"450100","colour":"red"})",
                 "colour"},
        bad_case{R"({"id":"cam-2","class":"drone","city":"450100"})", "model"},
        bad_case{
            R"({"id":"cam-2","class":"analyzer","model":"M","city":"450100","calibration_due":"soon"})",
            "calibration_due"});
    auto r = admin.call("POST", "/api/v1/devices", c.body);
    INFO(c.body << " -> " << r.text);
    CHECK(r.status == 400);
    CHECK(r.content_type == "application/problem+json");
    CHECK(r.body["field"] == c.field);
    CHECK(r.body["type"].get<std::string>().rfind("urn:eqm:problem:", 0) == 0);
    CHECK(registry_snapshot(admin) == before);

    auto q = admin.get("/api/v1/devices?class=toaster");
    CHECK(q.status == 400);
    CHECK(q.body["field"] == "class");
    auto dup =
        admin.post("/api/v1/devices",
                   json{{"id", "cam-1"}, {"class", "drone"}, {"model", "M"}, {"city", "450100"}});
    CHECK(dup.status == 409);
    CHECK(registry_snapshot(admin) == before);
    auto checkout_bad =
        admin.post("/api/v1/devices/cam-1/checkout", json{{"badge", "B-1"}, {"when", 1}});
    CHECK(checkout_bad.status == 400);
    CHECK(checkout_bad.body["field"] == "when");
    CHECK(admin.get("/api/v1/devices/nope").status == 404);
}

TEST_CASE("every write checks role and city (auth matrix)", "[server][api][auth]") {
    region_fixture region;
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    nn.set_responder(accept_everything);
    lz.set_responder(accept_everything);
    nn.connect();
    lz.connect();
    region.register_device("own-1", "body_camera", "450100");
    region.register_device("other-1", "body_camera", "450200");
    {
        // An alert in each city to acknowledge.
        nn.send({alert_body{"al-nn", alert_type::low_battery, alert_state::raised,
                            alert_severity::warning, "low", std::string("own-1")}});
        lz.send({alert_body{"al-lz", alert_type::low_battery, alert_state::raised,
                            alert_severity::warning, "low", std::string("other-1")}});
        REQUIRE(nn.wait_ack([](const srv_ack& a) { return a.upto_seq >= 1; }));
        REQUIRE(lz.wait_ack([](const srv_ack& a) { return a.upto_seq >= 1; }));
    }
    auto admin = region.as("admin");
    REQUIRE(test::wait_until(
        [&] {
            auto c = admin.get("/api/v1/cities");
            int online = 0;
            for (const auto& x : c.body["items"]) online += x["online"].get<bool>() ? 1 : 0;
            return online == 2;
        },
        quick));

    // user -> (city scope of the user is 450100 where it has one)
    const std::vector<std::string> users{"off-nn", "cust-nn", "disp", "admin"};
    struct write_case {
        std::string name;
        std::string method;
        std::function<std::string(const std::string& city)> target;
        std::function<std::string(const std::string& city, int n)> body;
        std::set<std::string> allowed_own;    // users allowed on their own city (450100)
        std::set<std::string> allowed_other;  // users allowed on 450200
    };
    auto dev = [](const std::string& city) { return city == "450100" ? "own-1" : "other-1"; };
    std::vector<write_case> cases{
        {"create device",
         "POST",
         [](const std::string&) { return std::string("/api/v1/devices"); },
         [](const std::string& city, int n) {
             return json{{"id", "new-" + city + "-" + std::to_string(n)},
                         {"class", "drone"},
                         {"model", "M"},
                         {"city", city}}
                 .dump();
         },
         {"admin"},
         {"admin"}},
        {"edit device (PUT)",
         "PUT",
         [&](const std::string& city) { return "/api/v1/devices/" + std::string(dev(city)); },
         [&](const std::string& city, int) {
             return json{
                 {"id", dev(city)}, {"class", "body_camera"}, {"model", "M-2"}, {"city", city}}
                 .dump();
         },
         {"admin"},
         {"admin"}},
        {"edit device (PATCH)",
         "PATCH",
         [&](const std::string& city) { return "/api/v1/devices/" + std::string(dev(city)); },
         [](const std::string&, int) {
             return json{{"model", "M-3"}}.dump();
         },
         {"admin"},
         {"admin"}},
        {"import",
         "POST",
         [](const std::string&) { return std::string("/api/v1/devices/import"); },
         [](const std::string& city, int n) {
             return "id,class,model,city\nimp-" + city + "-" + std::to_string(n) + ",drone,M," +
                    city + "\n";
         },
         {"admin"},
         {"admin"}},
        {"checkout",
         "POST",
         [&](const std::string& city) {
             return "/api/v1/devices/" + std::string(dev(city)) + "/checkout";
         },
         [](const std::string&, int) {
             return json{{"badge", "B-CUST-NN"}}.dump();
         },
         {"cust-nn", "admin"},
         {"admin"}},
        {"checkin",
         "POST",
         [&](const std::string& city) {
             return "/api/v1/devices/" + std::string(dev(city)) + "/checkin";
         },
         [](const std::string&, int) { return json::object().dump(); },
         {"cust-nn", "admin"},
         {"admin"}},
        {"ack alert",
         "POST",
         [](const std::string& city) {
             return std::string("/api/v1/alerts/") + (city == "450100" ? "al-nn" : "al-lz") +
                    "/ack";
         },
         [](const std::string&, int) { return std::string(); },
         {"cust-nn", "disp", "admin"},
         {"disp", "admin"}},
    };
    int n = 0;
    for (const auto& wc : cases) {
        for (const std::string city : {"450100", "450200"}) {
            for (const auto& u : users) {
                ++n;
                auto c = region.as(u);
                const auto before = registry_snapshot(admin);
                auto r = c.call(wc.method, wc.target(city), wc.body(city, n),
                                wc.name == "import" ? "text/csv" : "");
                const bool allowed =
                    (city == "450100" ? wc.allowed_own : wc.allowed_other).contains(u);
                INFO(wc.name << " by " << u << " in " << city << " -> " << r.status << " "
                             << r.text);
                if (allowed) {
                    CHECK(r.status >= 200);
                    CHECK(r.status < 300);
                } else {
                    CHECK(r.status == 403);
                    CHECK(r.body["type"] == "urn:eqm:problem:forbidden");
                    CHECK(registry_snapshot(admin) == before);
                }
            }
        }
    }
}

TEST_CASE("check-out and check-in go through the owning gateway", "[server][api][custody]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("cam-2", "body_camera", "450100");
    region.register_device("cam-lz", "body_camera", "450200");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder([](fake_gateway& g, const srv_cmd& cmd) -> std::vector<gw_event_body> {
        const auto* c = std::get_if<custody_request_cmd>(&cmd.body);
        if (c && c->device_id == "cam-2") {
            return {command_result_body{cmd.cmd_id,
                                        cmd.type(),
                                        outcome::rejected(errc::battery_low),
                                        std::string("battery 12 % is below 80 %"),
                                        {},
                                        {}}};
        }
        return accept_everything(g, cmd);
    });
    gw.connect();
    auto cust = region.as("cust-nn");
    REQUIRE(test::wait_until(
        [&] {
            return device(cust, "cam-1")["city"] == "450100" &&
                   cust.get("/api/v1/cities").body["items"][0]["online"] == true;
        },
        quick));

    auto out = cust.post("/api/v1/devices/cam-1/checkout",
                         json{{"badge", "B-OFF-NN"}, {"due", "2030-01-01T18:00:00.000Z"}});
    INFO(out.text);
    REQUIRE(out.status == 200);
    CHECK(out.body["device"]["status"] == "checked_out");
    CHECK(out.body["device"]["holder"] == "off-nn");
    auto sent =
        gw.wait_cmd([](const srv_cmd& c) { return c.type() == srv_cmd_type::custody_request; });
    REQUIRE(sent);
    const auto& req = std::get<custody_request_cmd>(sent->body);
    CHECK(req.badge == std::optional<std::string>("B-OFF-NN"));
    CHECK(req.actor == std::optional<std::string>("cust-nn"));

    auto back = cust.post("/api/v1/devices/cam-1/checkin", json{{"condition", "good"}});
    REQUIRE(back.status == 200);
    CHECK(device(cust, "cam-1")["status"] == "available");

    auto refused = cust.post("/api/v1/devices/cam-2/checkout", json{{"badge", "B-OFF-NN"}});
    CHECK(refused.status == 409);
    CHECK(refused.body["type"] == "urn:eqm:problem:battery_low");
    CHECK(device(cust, "cam-2")["status"] == "available");

    // 450200 has no gateway online: a clear 503 at once.
    auto admin = region.as("admin");
    auto offline = admin.post("/api/v1/devices/cam-lz/checkout", json{{"badge", "B-CUST-LZ"}});
    CHECK(offline.status == 503);
    CHECK(offline.body["type"] == "urn:eqm:problem:unavailable");
    CHECK(offline.body["detail"].get<std::string>().find("450200") != std::string::npos);
}

TEST_CASE("a gateway that does not answer gives 503 after about 3 s", "[server][api][custody]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();  // no responder: it never answers
    auto cust = region.as("cust-nn");
    REQUIRE(test::wait_until(
        [&] { return cust.get("/api/v1/cities").body["items"][0]["online"] == true; }, quick));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = cust.post("/api/v1/devices/cam-1/checkout", json{{"badge", "B-OFF-NN"}});
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.status == 503);
    CHECK(took >= 2900ms);
    CHECK(took < 4500ms);
    CHECK(device(cust, "cam-1")["status"] == "available");
}

TEST_CASE("CSV import is all or nothing and lists every bad row", "[server][api][import]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto admin = region.as("admin");
    const auto before = registry_snapshot(admin);
    const std::string bad =
        "id,class,model,city,calibration_due\n"
        "an-1,analyzer,WQ-3,450100,2027-01-01\n"
        "an-2,toaster,WQ-3,450100,\n"
        "cam-1,body_camera,X,450100,\n"
        "an-3,analyzer,WQ-3,123456,\n"
        "an-1,analyzer,WQ-3,450100,\n"
        "an-4,analyzer,WQ-3,450300,not-a-date\n";
    auto r = admin.call("POST", "/api/v1/devices/import", bad, "text/csv");
    INFO(r.text);
    REQUIRE(r.status == 400);
    REQUIRE(r.body["errors"].size() == 5);
    std::vector<std::pair<int, std::string>> got;
    for (const auto& e : r.body["errors"])
        got.emplace_back(e["line"].get<int>(), e["field"].get<std::string>());
    CHECK(got == std::vector<std::pair<int, std::string>>{
                     {3, "class"}, {4, "id"}, {5, "city"}, {6, "id"}, {7, "calibration_due"}});
    CHECK(registry_snapshot(admin) == before);

    std::string good = "id,class,model,city,serial\n";
    for (int i = 0; i < 300; ++i)
        good +=
            "imp-" + std::to_string(i) + ",body_camera,DSJ-A9,450100,S" + std::to_string(i) + "\n";
    auto ok = admin.call("POST", "/api/v1/devices/import", good, "text/csv");
    INFO(ok.text);
    REQUIRE(ok.status == 200);
    CHECK(ok.body["imported"] == 300);
    CHECK(all_items(admin, "/api/v1/devices?city=450100").size() == 301);
    CHECK(admin.get("/api/v1/devices/imp-7").body["serial"] == "S7");
}

TEST_CASE("every served route is in the OpenAPI document", "[server][api][openapi]") {
    region_fixture region;
    api_client anon(region.port());
    auto doc = anon.get("/api/v1/openapi.json");
    REQUIRE(doc.status == 200);
    REQUIRE(doc.body["openapi"] == "3.1.0");
    FILE* p = ::popen((server_bin() + " routes").c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    REQUIRE(::pclose(p) == 0);
    std::istringstream in(out);
    int routes = 0;
    for (std::string m, path; in >> m >> path;) {
        ++routes;
        std::string lower;
        for (char ch : m) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        INFO(m << " " << path);
        REQUIRE(doc.body["paths"].contains(path));
        CHECK(doc.body["paths"][path].contains(lower));
    }
    CHECK(routes >= 17);
    CHECK(anon.get("/healthz").status == 200);
    auto metrics = anon.get("/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.text.find("eqm_ingest_events_applied_total") != std::string::npos);
}

TEST_CASE("the WebSocket feed streams device changes, filtered by city", "[server][api][ws]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("cam-lz", "body_camera", "450200");
    auto admin = region.as("admin");
    api_client anon(region.port());
    CHECK(anon.get("/api/v1/events").status >= 400);  // not an upgrade, no token

    ws_listener nn(region.port(), "/api/v1/events?city=450100&token=" + region.tokens["admin"]);
    ws_listener all(region.port(), "/api/v1/events?token=" + region.tokens["admin"]);
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    fake_gateway lz(region.broker.uri(), "450200", "gw-lz");
    gw.connect();
    lz.connect();
    lz.send({lz.next_custody("cam-lz", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-lz"))});
    const auto t0 = std::chrono::steady_clock::now();
    gw.send({gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("cust-nn"))});
    auto is_cam1_out = [](const json& m) {
        return m.value("type", "") == "device" && m["device"]["id"] == "cam-1" &&
               m["device"]["status"] == "checked_out";
    };
    REQUIRE(nn.wait_for(is_cam1_out, 1s));
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    REQUIRE(all.wait_for(
        [](const json& m) {
            return m.value("type", "") == "device" && m["device"]["id"] == "cam-lz";
        },
        quick));
    for (const auto& m : nn.messages()) {
        if (m.value("type", "") == "device") CHECK(m["device"]["city"] == "450100");
        if (m.value("type", "") == "gateway") CHECK(m["city"]["code"] == "450100");
    }
    CHECK(nn.wait_for([](const json& m) { return m.value("type", "") == "gateway"; }, quick));
}

TEST_CASE("restarting the server loses nothing", "[server][api][restart]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    auto batch =
        gw.send({gw.next_custody("cam-1", custody_action::checkout, custody_state::available,
                                 custody_state::checked_out, std::string("cust-nn")),
                 alert_body{"al-1", alert_type::low_battery, alert_state::raised,
                            alert_severity::warning, "low", std::string("cam-1")}});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; }));
    auto admin = region.as("admin");
    const auto device_before = device(admin, "cam-1");
    const auto alerts_before = admin.get("/api/v1/alerts").text;
    const auto custody_before = admin.get("/api/v1/devices/cam-1/custody").text;

    region.server->stop();
    region.server->start();

    api_client again(region.port(), region.tokens["admin"]);  // the token survives too
    auto d = device(again, "cam-1");
    CHECK(d["status"] == device_before["status"]);
    CHECK(d["holder"] == device_before["holder"]);
    CHECK(again.get("/api/v1/alerts").text == alerts_before);
    CHECK(again.get("/api/v1/devices/cam-1/custody").text == custody_before);
    // The applied seq and the chain head survived: a replay is still a duplicate, and the next
    // record still fits the chain.
    gw.clear_received();
    gw.publish(batch);
    auto replay_ack = gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 2; });
    INFO(test::read_file(region.server->log()));
    REQUIRE(replay_ack);
    gw.send({gw.next_custody("cam-1", custody_action::checkin, custody_state::checked_out,
                             custody_state::available, std::nullopt)});
    REQUIRE(gw.wait_ack([](const srv_ack& a) { return a.upto_seq == 3; }));
    auto history = again.get("/api/v1/devices/cam-1/custody");
    REQUIRE(history.body["items"].size() == 2);
    CHECK(history.body["items"][0]["verified"] == true);
    for (const auto& a : again.get("/api/v1/alerts").body["items"])
        CHECK(a["type"] != "ledger_broken");
}

namespace {

/// The entry of `id` in a GET /devices answer, or null json.
json listed(const api_reply& list, const std::string& id) {
    for (const auto& d : list.body["items"])
        if (d.value("id", "") == id) return d;
    return json();
}

}  // namespace

TEST_CASE("the device list is never served stale after a write, whatever wrote",
          "[server][api][cache]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("cam-2", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder(accept_everything);
    gw.connect();
    auto cust = region.as("cust-nn");
    auto admin = region.as("admin");
    REQUIRE(test::wait_until(
        [&] { return cust.get("/api/v1/cities").body["items"][0]["online"] == true; }, quick));
    const std::string path = "/api/v1/devices?city=450100";

    // Two reads in a row are the same answer (the second may come from the cache).
    auto first = cust.get(path);
    REQUIRE(first.status == 200);
    CHECK(listed(first, "cam-1")["status"] == "available");
    CHECK(cust.get(path).text == first.text);

    // A check-out through the server: the very next list shows it, no waiting.
    REQUIRE(cust.post("/api/v1/devices/cam-1/checkout", json{{"badge", "B-OFF-NN"}}).status == 200);
    auto after_out = cust.get(path);
    CHECK(listed(after_out, "cam-1")["status"] == "checked_out");
    CHECK(listed(after_out, "cam-1")["holder"] == "off-nn");
    CHECK(listed(cust.get("/api/v1/devices"), "cam-1")["status"] == "checked_out");

    REQUIRE(cust.post("/api/v1/devices/cam-1/checkin", json{{"condition", "good"}}).status == 200);
    CHECK(listed(cust.get(path), "cam-1")["status"] == "available");

    // A registry edit by an admin.
    auto patched = admin.call("PATCH", "/api/v1/devices/cam-2", json{{"model", "DSJ-Z1"}}.dump());
    REQUIRE(patched.status == 200);
    CHECK(listed(cust.get(path), "cam-2")["model"] == "DSJ-Z1");

    // Telemetry the gateway pushes on its own: visible as soon as the batch is acked.
    telemetry_summary_body t;
    t.device_id = "cam-2";
    t.minute = std::chrono::floor<std::chrono::minutes>(now_ms());
    t.count = 3;
    t.battery_pct_min = 40;
    t.battery_pct_last = 41.5;
    t.storage_free_mb_last = 1000;
    t.temp_c_max = 30;
    const auto upto = gw.next_seq();
    gw.send({t});
    REQUIRE(gw.wait_ack([&](const srv_ack& a) { return a.upto_seq >= upto; }));
    auto with_telemetry = listed(cust.get(path), "cam-2");
    REQUIRE(with_telemetry.contains("telemetry"));
    CHECK(with_telemetry["telemetry"]["battery_pct_last"] == 41.5);

    // A device added by an import shows in the next list.
    auto imported =
        admin.call("POST", "/api/v1/devices/import",
                   "id,class,model,city\ncam-3,body_camera,DSJ-A9,450100\n", "text/csv");
    REQUIRE(imported.status == 200);
    CHECK(listed(cust.get(path), "cam-3")["status"] == "available");
}
