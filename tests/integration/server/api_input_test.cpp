// What eqm-server takes in over REST: logins (bounded), CSV files (UTF-8 or GBK), custody
// requests read the one way the gateway reads them, and the people a gateway is sent.
#include <catch2/catch.hpp>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

TEST_CASE("a login name is bounded and one address trying many names is throttled",
          "[server][api][auth]") {
    region_fixture region;
    api_client anon(region.port());
    auto long_name =
        anon.post("/api/v1/auth/login", json{{"name", std::string(129, 'a')}, {"password", "x"}});
    CHECK(long_name.status == 400);
    CHECK(long_name.body["field"] == "name");
    for (int i = 0; i < 50; ++i) {
        auto r = anon.post("/api/v1/auth/login",
                           json{{"name", "guess-" + std::to_string(i)}, {"password", "x"}});
        REQUIRE(r.status == 401);
    }
    // The address has used up its attempts, whatever the name.
    auto blocked =
        anon.post("/api/v1/auth/login", json{{"name", "admin"}, {"password", "admin-pw"}});
    CHECK(blocked.status == 429);
    CHECK(blocked.body["type"] == "urn:eqm:problem:too_many_requests");
}

TEST_CASE("a CSV import refuses bytes that are not UTF-8 and decodes GBK when told",
          "[server][api][import]") {
    region_fixture region;
    auto admin = region.as("admin");
    // "执法记录仪" (body camera) as a Chinese spreadsheet exports it: GBK.
    const std::string gbk = "\xd6\xb4\xb7\xa8\xbc\xc7\xc2\xbc\xd2\xc7";
    const std::string utf8 = "\xe6\x89\xa7\xe6\xb3\x95\xe8\xae\xb0\xe5\xbd\x95\xe4\xbb\xaa";
    const std::string file = "id,class,model,city\r\ngbk-1,body_camera," + gbk + ",450100\r\n";

    auto refused = admin.call("POST", "/api/v1/devices/import", file, "text/csv");
    INFO(refused.text);
    REQUIRE(refused.status == 400);
    REQUIRE(refused.body["errors"].size() == 1);
    CHECK(refused.body["errors"][0]["line"] == 2);
    CHECK(refused.body["errors"][0]["column"] == 3);
    CHECK(refused.body["errors"][0]["field"] == "model");
    auto list = admin.get("/api/v1/devices");
    CHECK(list.status == 200);
    CHECK(list.body["items"].empty());

    auto ok = admin.call("POST", "/api/v1/devices/import", file, "text/csv; charset=gbk");
    INFO(ok.text);
    REQUIRE(ok.status == 200);
    CHECK(device(admin, "gbk-1")["model"] == utf8);
    CHECK(admin.get("/api/v1/devices").status == 200);

    auto bom = admin.call("POST", "/api/v1/devices/import",
                          "\xEF\xBB\xBFid,class,model,city\nbom-1,drone," + utf8 + ",450100\n",
                          "text/csv");
    CHECK(bom.status == 200);
    CHECK(device(admin, "bom-1")["model"] == utf8);
    auto latin = admin.call("POST", "/api/v1/devices/import", file, "text/csv; charset=latin1");
    CHECK(latin.status == 415);
    CHECK(latin.body["field"] == "Content-Type");
}

TEST_CASE("a custody request is read as the gateway reads it, refusals through one table",
          "[server][api][custody]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("cam-gone", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder([](fake_gateway& g, const srv_cmd& cmd) -> std::vector<gw_event_body> {
        const auto* c = std::get_if<custody_request_cmd>(&cmd.body);
        if (c && c->device_id == "cam-gone")
            return {command_result_body{cmd.cmd_id,
                                        cmd.type(),
                                        outcome::rejected(errc::not_found),
                                        std::string("no device cam-gone in this city"),
                                        {},
                                        {}}};
        return accept_everything(g, cmd);
    });
    gw.connect();
    auto cust = region.as("cust-nn");
    REQUIRE(test::wait_until(
        [&] { return cust.get("/api/v1/cities").body["items"][0]["online"] == true; }, quick));

    auto empty = cust.call("POST", "/api/v1/devices/cam-1/checkout", "", "application/json");
    CHECK(empty.status == 400);
    CHECK(empty.body["field"] == "badge");
    auto array = cust.call("POST", "/api/v1/devices/cam-1/checkout", "[1]", "application/json");
    CHECK(array.status == 400);
    CHECK(array.body["field"] == "body");
    auto plain = cust.call("POST", "/api/v1/devices/cam-1/checkout", R"({"badge":"B-OFF-NN"})",
                           "text/plain");
    CHECK(plain.status == 415);
    CHECK(device(cust, "cam-1")["status"] == "available");

    REQUIRE(cust.post("/api/v1/devices/cam-1/checkout", json{{"badge", "B-OFF-NN"}}).status == 200);
    std::string note;
    for (int i = 0; i < 200; ++i) note += "\xe8\xae\xb0";  // 200 characters, 600 bytes
    auto back = cust.post("/api/v1/devices/cam-1/checkin", json{{"note", note}});
    INFO(back.text);
    CHECK(back.status == 200);
    auto too_long =
        cust.post("/api/v1/devices/cam-1/checkin", json{{"note", std::string(513, 'x')}});
    CHECK(too_long.status == 400);
    CHECK(too_long.body["field"] == "note");

    auto gone = cust.post("/api/v1/devices/cam-gone/checkout", json{{"badge", "B-OFF-NN"}});
    INFO(gone.text);
    CHECK(gone.status == 404);
    CHECK(gone.body["type"] == "urn:eqm:problem:not_found");
    CHECK(gone.body["reason"] == "not_found");
}

TEST_CASE("a gateway gets the password hashes of those who may log in to its kiosk only",
          "[server][api][people]") {
    region_fixture region;
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder(accept_everything);
    gw.connect();
    auto sync = gw.wait_cmd([](const srv_cmd& c) {
        const auto* r = std::get_if<registry_upsert_cmd>(&c.body);
        return r && r->full_sync.value_or(false);
    });
    REQUIRE(sync);
    std::map<std::string, person_record> people;
    for (const auto& p : std::get<registry_upsert_cmd>(sync->body).people) people[p.id] = p;
    REQUIRE(people.contains("cust-nn"));
    REQUIRE(people.contains("admin"));
    REQUIRE(people.contains("disp"));
    REQUIRE(people.contains("off-nn"));
    CHECK_FALSE(people.contains("cust-lz"));
    for (const auto* who : {"cust-nn", "admin", "disp"}) {
        INFO(who);
        REQUIRE(people[who].password_hash);
        CHECK(people[who].password_hash->starts_with("$argon2id$"));
    }
    CHECK_FALSE(people["off-nn"].password_hash);
}
