// Transfers over real HTTP against the real eqm-server: creation and its refusals (each naming
// its field and changing nothing), who reads which transfers, approval (orders to both city
// gateways), cancellation, the hand-over and arrival reported by the gateways, a count whose
// units the source gateway picks, and an overdue transfer's alert. Real Mosquitto; the city
// gateways are played by fake_gateway.
#include <catch2/catch.hpp>

#include "ingest_support.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

std::string in_hours(int h) {
    return format_timestamp(now_ms() + std::chrono::hours{h});
}

json named(std::initializer_list<std::string> ids) {
    json items = json::array();
    for (const auto& id : ids) items.push_back(json{{"device_id", id}});
    return items;
}

json transfer_body(json items, const std::string& from = "450100", const std::string& to = "450200",
                   const std::string& due = in_hours(48)) {
    return json{{"from_city", from},
                {"to_city", to},
                {"items", std::move(items)},
                {"due", due},
                {"reason", "drones for the Baise inspection"}};
}

/// The transfer orders a gateway received for `transfer_id`.
std::vector<transfer_order_cmd> orders_of(const fake_gateway& gw, const std::string& transfer_id) {
    std::vector<transfer_order_cmd> out;
    for (const auto& c : gw.commands())
        if (const auto* o = std::get_if<transfer_order_cmd>(&c.body);
            o && o->transfer_id == transfer_id)
            out.push_back(*o);
    return out;
}

/// A region with two online city gateways (played in the test) and devices in Nanning.
struct transfer_region {
    transfer_region() {
        for (const auto* id : {"cam-1", "cam-2"})
            region.register_device(id, "body_camera", "450100");
        region.register_device("drone-1", "drone", "450100");
        region.register_device("cam-lz", "body_camera", "450200");
        nn.set_responder(accept_everything);
        lz.set_responder(accept_everything);
        nn.connect();
        lz.connect();
        auto admin = region.as("admin");
        REQUIRE(test::wait_until(
            [&] {
                return city_entry(admin, "450100")["online"] == true &&
                       city_entry(admin, "450200")["online"] == true;
            },
            quick));
    }
    region_fixture region;
    fake_gateway nn{region.broker.uri(), "450100", "gw-nn"};
    fake_gateway lz{region.broker.uri(), "450200", "gw-lz"};
};

}  // namespace

TEST_CASE("POST /transfers refuses bad input naming the field and creates nothing",
          "[server][transfers]") {
    transfer_region r;
    auto disp = r.region.as("disp");
    struct bad {
        json body;
        unsigned status;
        std::string field;
    };
    const std::vector<bad> cases{
        {transfer_body(named({"cam-1"}), "999999"), 400, "from_city"},
        {transfer_body(named({"cam-1"}), "450100", "450100"), 400, "to_city"},
        {transfer_body(json::array({json{{"class", "tank"}, {"count", 1}}})), 400,
         "items[0].class"},
        {transfer_body(json::array({json{{"class", "drone"}, {"count", 0}}})), 400,
         "items[0].count"},
        {transfer_body(named({"cam-9"})), 400, "items[0].device_id"},
        {transfer_body(named({"cam-1", "cam-lz"})), 400, "items[1].device_id"},
        {transfer_body(named({"cam-1"}), "450100", "450200", "2020-01-01T00:00:00Z"), 400, "due"},
        {transfer_body(json::array()), 400, "items"},
        {transfer_body(json::array({json{{"class", "body_camera"}, {"count", 3}}})), 409,
         "items[0].count"},
        {transfer_body(json::array({json{{"class", "drone"}, {"count", 1}, {"analyte", "cod"}}})),
         400, "items[0].analyte"},
    };
    for (const auto& c : cases) {
        INFO(c.body.dump());
        auto res = disp.post("/api/v1/transfers", c.body);
        CHECK(res.status == c.status);
        CHECK(res.content_type == "application/problem+json");
        CHECK(res.body.value("field", "") == c.field);
    }
    auto extra = transfer_body(named({"cam-1"}));
    extra["priority"] = "high";
    CHECK(disp.post("/api/v1/transfers", extra).status == 400);
    // Officers and custodians do not move equipment.
    CHECK(r.region.as("off-nn").post("/api/v1/transfers", transfer_body(named({"cam-1"}))).status ==
          403);
    CHECK(
        r.region.as("cust-nn").post("/api/v1/transfers", transfer_body(named({"cam-1"}))).status ==
        403);
    CHECK(all_items(disp, "/api/v1/transfers").empty());
    for (const auto& c : r.nn.commands())
        CHECK(!std::holds_alternative<transfer_order_cmd>(c.body));
}

TEST_CASE(
    "a transfer is created, read within scope, approved with orders to both cities, and "
    "cancelled before its hand-over",
    "[server][transfers]") {
    transfer_region r;
    auto disp = r.region.as("disp");
    (void)r.region.as("cust-lz");  // logs in: the feed needs its token
    ws_listener lz_feed(r.region.port(), "/api/v1/events?token=" + r.region.tokens["cust-lz"]);
    auto created = disp.post("/api/v1/transfers", transfer_body(named({"cam-1"})));
    REQUIRE(created.status == 201);
    const std::string id = created.body["id"];
    CHECK(created.body["status"] == "requested");
    CHECK(created.body["units"][0]["device_id"] == "cam-1");
    CHECK(lz_feed.wait_for(
        [&](const json& m) {
            return m.value("type", "") == "transfer" && m["transfer"]["id"] == id;
        },
        quick));

    // The device is promised: a second transfer of it is a conflict.
    auto twice =
        disp.post("/api/v1/transfers", transfer_body(named({"cam-1"}), "450100", "450300"));
    CHECK(twice.status == 409);
    CHECK(twice.body["field"] == "items[0].device_id");

    // Both cities' custodians see it; an officer does not; a filter by status works.
    CHECK(r.region.as("cust-lz").get("/api/v1/transfers/" + id).status == 200);
    auto cust_nn = r.region.as("cust-nn");
    CHECK(all_items(cust_nn, "/api/v1/transfers").size() == 1);
    CHECK(r.region.as("off-nn").get("/api/v1/transfers").status == 403);
    CHECK(all_items(disp, "/api/v1/transfers?status=approved").empty());
    CHECK(disp.get("/api/v1/transfers?status=lost").status == 400);
    CHECK(disp.get("/api/v1/transfers/tr-none").status == 404);
    // A custodian of a third city neither lists nor reads it.
    auto other =
        disp.post("/api/v1/transfers", transfer_body(named({"drone-1"}), "450100", "450300"));
    REQUIRE(other.status == 201);
    CHECK(r.region.as("cust-lz")
              .get("/api/v1/transfers/" + other.body["id"].get<std::string>())
              .status == 403);
    auto cust_lz = r.region.as("cust-lz");
    CHECK(all_items(cust_lz, "/api/v1/transfers").size() == 1);
    CHECK(r.region.as("cust-lz").get("/api/v1/transfers?city=450100").status == 403);

    CHECK(r.region.as("cust-nn")
              .post("/api/v1/transfers/" + id + "/approve", json::object())
              .status == 403);
    auto approved = disp.post("/api/v1/transfers/" + id + "/approve", json::object());
    REQUIRE(approved.status == 200);
    CHECK(approved.body["status"] == "approved");
    CHECK(approved.body["approved_by"] == "disp");
    CHECK(disp.post("/api/v1/transfers/" + id + "/approve", json::object()).status == 409);
    REQUIRE(test::wait_until(
        [&] { return !orders_of(r.nn, id).empty() && !orders_of(r.lz, id).empty(); }, quick));
    const auto hand_over = orders_of(r.nn, id).front();
    CHECK(hand_over.step == transfer_step::hand_over);
    CHECK(hand_over.device_id == "cam-1");
    const auto receive = orders_of(r.lz, id).front();
    CHECK(receive.step == transfer_step::receive);
    REQUIRE(receive.device.has_value());
    CHECK(receive.device->city == "450200");

    auto cancelled = disp.post("/api/v1/transfers/" + id + "/cancel", json::object());
    REQUIRE(cancelled.status == 200);
    CHECK(cancelled.body["status"] == "cancelled");
    CHECK(cancelled.body["units"][0]["state"] == "cancelled");
    CHECK(disp.post("/api/v1/transfers/" + id + "/cancel", json::object()).status == 409);
    REQUIRE(test::wait_until(
        [&] {
            return orders_of(r.nn, id).back().step == transfer_step::cancel &&
                   orders_of(r.lz, id).back().step == transfer_step::cancel;
        },
        quick));
    // The device is free again.
    CHECK(disp.post("/api/v1/transfers", transfer_body(named({"cam-1"}))).status == 201);
}

TEST_CASE("a transfer's hand-over and arrival move the device to the destination city",
          "[server][transfers]") {
    transfer_region r;
    REQUIRE(add_user(r.region.db(), "courier", "dispatcher", "", "B-COURIER", "courier-pw") == 0);
    auto disp = r.region.as("disp");
    auto created = disp.post("/api/v1/transfers", transfer_body(named({"cam-1"})));
    REQUIRE(created.status == 201);
    const std::string id = created.body["id"];
    REQUIRE(disp.post("/api/v1/transfers/" + id + "/approve", json::object()).status == 200);

    // Nanning's dock hands the camera to the courier.
    r.nn.send(
        {r.nn.next_custody("cam-1", custody_action::transfer_out, custody_state::available,
                           custody_state::in_transit, std::string("courier"), std::nullopt, id)});
    REQUIRE(
        test::wait_until([&] { return device(disp, "cam-1")["status"] == "in_transit"; }, quick));
    CHECK(device(disp, "cam-1")["holder"] == "courier");
    auto moving = disp.get("/api/v1/transfers/" + id);
    CHECK(moving.body["status"] == "in_transit");
    CHECK(moving.body["units"][0]["courier"] == "courier");
    CHECK(disp.post("/api/v1/transfers/" + id + "/cancel", json::object()).status == 409);

    // Liuzhou's dock takes it in: the device is Liuzhou's now, and both registries follow.
    r.lz.clear_received();
    r.nn.clear_received();
    r.lz.send({r.lz.next_custody("cam-1", custody_action::transfer_in, custody_state::in_transit,
                                 custody_state::available, std::nullopt, std::nullopt, id)});
    REQUIRE(test::wait_until([&] { return device(disp, "cam-1")["city"] == "450200"; }, quick));
    CHECK(device(disp, "cam-1")["status"] == "available");
    auto done = disp.get("/api/v1/transfers/" + id);
    CHECK(done.body["status"] == "completed");
    CHECK(done.body["units"][0]["state"] == "arrived");
    for (auto* gw : {&r.nn, &r.lz}) {
        INFO(gw->city());
        CHECK(gw->wait_cmd(
            [](const srv_cmd& c) {
                const auto* u = std::get_if<registry_upsert_cmd>(&c.body);
                return u && !u->devices.empty() && u->devices[0].id == "cam-1" &&
                       u->devices[0].city == "450200";
            },
            quick));
    }
    // Liuzhou's custodian now reads the device; Nanning's does not.
    CHECK(r.region.as("cust-lz").get("/api/v1/devices/cam-1").status == 200);
    CHECK(r.region.as("cust-nn").get("/api/v1/devices/cam-1").status == 403);
}

TEST_CASE("for a count the source gateway picks the units and the destination is told of each",
          "[server][transfers]") {
    transfer_region r;
    r.nn.set_responder([](fake_gateway& g, const srv_cmd& cmd) -> std::vector<gw_event_body> {
        const auto* o = std::get_if<transfer_order_cmd>(&cmd.body);
        if (!o || o->device_id) return accept_everything(g, cmd);
        command_result_body res;
        res.cmd_id = cmd.cmd_id;
        res.type = cmd.type();
        res.result = outcome::ok();
        res.devices = std::vector<std::string>{"cam-2"};
        return {res};
    });
    auto disp = r.region.as("disp");
    auto created =
        disp.post("/api/v1/transfers",
                  transfer_body(json::array({json{{"class", "body_camera"}, {"count", 1}}})));
    REQUIRE(created.status == 201);
    const std::string id = created.body["id"];
    CHECK(created.body["units"].empty());
    REQUIRE(disp.post("/api/v1/transfers/" + id + "/approve", json::object()).status == 200);
    REQUIRE(test::wait_until(
        [&] { return disp.get("/api/v1/transfers/" + id).body["units"].size() == 1; }, quick));
    CHECK(disp.get("/api/v1/transfers/" + id).body["units"][0]["device_id"] == "cam-2");
    CHECK(r.lz.wait_cmd(
        [&](const srv_cmd& c) {
            const auto* o = std::get_if<transfer_order_cmd>(&c.body);
            return o && o->transfer_id == id && o->step == transfer_step::receive &&
                   o->device_id == "cam-2";
        },
        quick));
}

TEST_CASE("a transfer past its due time becomes overdue and raises an alert at the destination",
          "[server][transfers]") {
    transfer_region r;
    auto disp = r.region.as("disp");
    auto created = disp.post("/api/v1/transfers",
                             transfer_body(named({"cam-1"}), "450100", "450200",
                                           format_timestamp(now_ms() + std::chrono::seconds{2})));
    REQUIRE(created.status == 201);
    const std::string id = created.body["id"];
    REQUIRE(disp.post("/api/v1/transfers/" + id + "/approve", json::object()).status == 200);
    REQUIRE(test::wait_until(
        [&] { return disp.get("/api/v1/transfers/" + id).body["status"] == "overdue"; }, 20s));
    bool alerted = false;
    auto cust_lz = r.region.as("cust-lz");
    for (const auto& a : all_items(cust_lz, "/api/v1/alerts"))
        alerted = alerted || (a["type"] == "transfer_overdue" && a["id"] == "transfer-" + id);
    CHECK(alerted);
}
