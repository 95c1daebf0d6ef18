// Reservations over real HTTP: requests and their refusals, the race for the last unit, the
// conflict answer, decisions, the rules table, the feed, the push to the gateway, the custody
// records that move a booking on, and the calendar feed read back by python3-icalendar.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <future>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

/// An instant `hours` from now, on a whole hour (tests book ahead of the server's clock).
std::string at(int hours) {
    const auto t = std::chrono::floor<std::chrono::hours>(now_ms()) + std::chrono::hours{hours};
    return format_timestamp(clock_ms{t});
}

json class_booking(const std::string& cls, const std::string& city, int from_h, int to_h) {
    return json{{"class", cls},
                {"city", city},
                {"start", at(from_h)},
                {"end", at(to_h)},
                {"purpose", "现场执法检查"}};
}

json device_booking(const std::string& id, const std::string& city, const std::string& start,
                    const std::string& end) {
    return json{{"device_id", id},         {"city", city},
                {"start", start},          {"end", end},
                {"purpose", "inspection"}, {"case_no", "NN-2026-001"}};
}

std::string everything(api_client& c) {
    return c.get("/api/v1/reservations?limit=5000").text;
}

}  // namespace

TEST_CASE("an officer books a class or a device, sees their own, and a custodian approves",
          "[server][reservations]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("uav-1", "drone", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder(accept_everything);
    gw.connect();
    auto officer = region.as("off-nn");
    ws_listener feed(region.port(), "/api/v1/events?token=" + officer.token());

    auto cam = officer.post("/api/v1/reservations", class_booking("body_camera", "450100", 24, 26));
    INFO(cam.text);
    REQUIRE(cam.status == 201);
    CHECK(cam.body["status"] == "approved");
    CHECK(cam.body["person_id"] == "off-nn");
    CHECK(cam.body["class"] == "body_camera");
    const auto cam_id = cam.body["id"].get<std::string>();

    auto uav = officer.post("/api/v1/reservations", class_booking("drone", "450100", 24, 26));
    REQUIRE(uav.status == 201);
    CHECK(uav.body["status"] == "requested");  // drones need approval by default
    const auto uav_id = uav.body["id"].get<std::string>();

    // The approved booking reaches the city's gateway; the feed tells its officer.
    auto pushed = gw.wait_cmd([&](const srv_cmd& c) {
        const auto* u = std::get_if<reservation_upsert_cmd>(&c.body);
        return u && u->reservation.id == cam_id;
    });
    REQUIRE(pushed);
    CHECK(std::get<reservation_upsert_cmd>(pushed->body).reservation.cls ==
          device_class::body_camera);
    CHECK(feed.wait_for(
        [&](const json& m) {
            return m["type"] == "reservation" && m["reservation"]["id"] == uav_id;
        },
        quick));

    // An officer cannot approve; the city's custodian can; another city's custodian cannot.
    CHECK(officer.post("/api/v1/reservations/" + uav_id + "/approve", json::object()).status ==
          403);
    auto lz = region.as("cust-lz");
    CHECK(lz.post("/api/v1/reservations/" + uav_id + "/approve", json::object()).status == 403);
    auto cust = region.as("cust-nn");
    auto ok = cust.post("/api/v1/reservations/" + uav_id + "/approve", json::object());
    INFO(ok.text);
    REQUIRE(ok.status == 200);
    CHECK(ok.body["status"] == "approved");
    CHECK(ok.body["decided_by"] == "cust-nn");

    // Lists in the reader's scope.
    CHECK(all_items(officer, "/api/v1/reservations").size() == 2);
    CHECK(all_items(cust, "/api/v1/reservations?status=approved").size() == 2);
    CHECK(all_items(lz, "/api/v1/reservations").empty());
    CHECK(lz.get("/api/v1/reservations?city=450100").status == 403);
    CHECK(lz.get("/api/v1/reservations/" + cam_id).status == 403);
    CHECK(all_items(cust, "/api/v1/reservations?limit=1").size() == 2);
    CHECK(officer.get("/api/v1/reservations/" + cam_id).body["id"] == cam_id);

    // Decline needs a reason; cancel by its officer; cancelled bookings go from the gateway.
    auto third = officer.post("/api/v1/reservations", class_booking("drone", "450100", 30, 31));
    REQUIRE(third.status == 201);
    const auto third_id = third.body["id"].get<std::string>();
    auto no_reason = cust.post("/api/v1/reservations/" + third_id + "/decline", json::object());
    CHECK(no_reason.status == 400);
    CHECK(no_reason.body["field"] == "reason");
    auto declined =
        cust.post("/api/v1/reservations/" + third_id + "/decline", json{{"reason", "无人机送检"}});
    CHECK(declined.body["status"] == "declined");
    auto cancelled = officer.post("/api/v1/reservations/" + cam_id + "/cancel", json::object());
    CHECK(cancelled.body["status"] == "cancelled");
    CHECK(gw.wait_cmd([&](const srv_cmd& c) {
        const auto* x = std::get_if<reservation_cancel_cmd>(&c.body);
        return x && x->reservation_id == cam_id;
    }));
    CHECK(officer.post("/api/v1/reservations/" + cam_id + "/cancel", json::object()).status == 409);
}

TEST_CASE("a refused reservation names its field and rule and changes nothing",
          "[server][reservations]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    region.register_device("dock-1", "dock", "450100");
    auto officer = region.as("off-nn");
    auto admin = region.as("admin");
    const auto before = everything(admin);
    struct bad_case {
        json body;
        unsigned status;
        std::string field;
        std::string rule;
    };
    const std::vector<bad_case> cases{
        bad_case{class_booking("body_camera", "450200", 24, 26), 400, "city", "officer_city"},
        bad_case{class_booking("body_camera", "999999", 24, 26), 400, "city", "city_unknown"},
        bad_case{class_booking("toaster", "450100", 24, 26), 400, "class", "body"},
        bad_case{class_booking("dock", "450100", 24, 26), 400, "class", "class_not_bookable"},
        bad_case{class_booking("body_camera", "450100", 26, 24), 400, "end", "window_order"},
        bad_case{class_booking("body_camera", "450100", -5, -3), 400, "start", "past"},
        bad_case{class_booking("body_camera", "450100", 24, 24 + 15 * 24), 400, "end",
                 "max_length"},
        bad_case{class_booking("analyzer", "450100", 24, 26), 400, "analyte", "analyte"},
        bad_case{device_booking("cam-404", "450100", at(24), at(26)), 400, "device_id",
                 "device_unknown"},
        bad_case{json{{"city", "450100"}, {"start", at(24)}, {"end", at(26)}, {"purpose", "x"}},
                 400, "device_id", "target"},
        bad_case{json{{"class", "drone"},
                      {"city", "450100"},
                      {"start", at(24)},
                      {"end", at(26)},
                      {"purpose", "x"},
                      {"colour", "red"}},
                 400, "colour", "body"}};
    // One region for every case (a region takes seconds to start).
    for (const auto& c : cases) {
        auto r = officer.post("/api/v1/reservations", c.body);
        INFO(c.body.dump() << " -> " << r.text);
        CHECK(r.status == c.status);
        CHECK(r.content_type == "application/problem+json");
        CHECK(r.body["field"] == c.field);
        CHECK(r.body["rule"] == c.rule);
        CHECK(everything(admin) == before);
    }
}

TEST_CASE(
    "two officers racing for the last unit: exactly one gets it, the other 409 with "
    "alternatives",
    "[server][reservations]") {
    region_fixture region;
    REQUIRE(add_user(region.db(), "off-nn2", "officer", "450100", "B-OFF-NN2", "off-nn2-pw") == 0);
    region.register_device("uav-1", "drone", "450100");
    auto a = region.as("off-nn");
    api_client b(region.port(), login(region.port(), "off-nn2", "off-nn2-pw"));
    const auto body = class_booking("drone", "450100", 48, 50);
    auto fa = std::async(std::launch::async, [&] { return a.post("/api/v1/reservations", body); });
    auto fb = std::async(std::launch::async, [&] { return b.post("/api/v1/reservations", body); });
    const auto ra = fa.get();
    const auto rb = fb.get();
    INFO(ra.text << "\n" << rb.text);
    REQUIRE(((ra.status == 201 && rb.status == 409) || (ra.status == 409 && rb.status == 201)));
    const auto& won = ra.status == 201 ? ra : rb;
    const auto& lost = ra.status == 201 ? rb : ra;
    CHECK(lost.body["type"] == "urn:eqm:problem:conflict");
    CHECK(lost.body["rule"] == "class_capacity");
    CHECK(lost.body["field"] == "class");
    REQUIRE(lost.body["conflicts"].size() == 1);
    CHECK(lost.body["conflicts"][0]["id"] == won.body["id"]);
    REQUIRE(lost.body["alternatives"].size() == 3);
    // The nearest free window after: the winner's end plus the 30-minute buffer.
    const auto after = clock_ms{std::chrono::floor<std::chrono::hours>(now_ms()) +
                                std::chrono::hours{50} + std::chrono::minutes{30}};
    bool has_after = false;
    for (const auto& w : lost.body["alternatives"])
        has_after |= w["start"] == format_timestamp(after);
    CHECK(has_after);
    auto admin = region.as("admin");
    CHECK(all_items(admin, "/api/v1/reservations").size() == 1);

    // The free units over time show the promise, buffer included.
    auto av = admin.get("/api/v1/reservations/availability?city=450100&class=drone&from=" + at(47) +
                        "&to=" + at(52));
    INFO(av.text);
    REQUIRE(av.status == 200);
    CHECK(av.body["units"] == 1);
    REQUIRE(av.body["steps"].size() == 3);
    CHECK(av.body["steps"][0]["free"] == 1);
    CHECK(av.body["steps"][1]["start"] == at(48));
    CHECK(av.body["steps"][1]["free"] == 0);
    CHECK(av.body["steps"][2]["start"] == format_timestamp(after));
    CHECK(av.body["steps"][2]["free"] == 1);
}

TEST_CASE("a named device clashes within its buffer and the 409 offers the nearest windows",
          "[server][reservations]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto officer = region.as("off-nn");
    auto first =
        officer.post("/api/v1/reservations", device_booking("cam-1", "450100", at(24), at(26)));
    REQUIRE(first.status == 201);
    // Starts 10 minutes after the first ends: inside its 30-minute buffer.
    const auto t26 =
        clock_ms{std::chrono::floor<std::chrono::hours>(now_ms()) + std::chrono::hours{26}};
    auto clash = officer.post(
        "/api/v1/reservations",
        device_booking("cam-1", "450100", format_timestamp(t26 + std::chrono::minutes{10}),
                       format_timestamp(t26 + std::chrono::minutes{70})));
    INFO(clash.text);
    REQUIRE(clash.status == 409);
    CHECK(clash.body["rule"] == "device_conflict");
    CHECK(clash.body["field"] == "device_id");
    CHECK(clash.body["conflicts"][0]["id"] == first.body["id"]);
    REQUIRE(clash.body["alternatives"].size() == 3);
    CHECK(clash.body["alternatives"][0]["device_id"] == "cam-1");
    CHECK(clash.body["alternatives"][0]["start"] ==
          format_timestamp(t26 + std::chrono::minutes{30}));
    // Exactly after the buffer is fine.
    auto next = officer.post(
        "/api/v1/reservations",
        device_booking("cam-1", "450100", format_timestamp(t26 + std::chrono::minutes{30}),
                       format_timestamp(t26 + std::chrono::minutes{90})));
    CHECK(next.status == 201);
}

TEST_CASE("the rules table: anyone reads it, an admin replaces it, the rules apply at once",
          "[server][reservations]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto officer = region.as("off-nn");
    auto admin = region.as("admin");
    auto rules = officer.get("/api/v1/reservation-rules");
    REQUIRE(rules.status == 200);
    bool drone_needs_approval = false;
    for (const auto& r : rules.body["items"])
        if (r["class"] == "drone") drone_needs_approval = r["approval_required"] == true;
    CHECK(drone_needs_approval);
    const json table{{"items", json::array({json{{"class", "body_camera"},
                                                 {"max_length_minutes", 120},
                                                 {"max_open_bookings", 1}}})}};
    auto put = officer.call("PUT", "/api/v1/reservation-rules", table.dump(), "application/json");
    CHECK(put.status == 403);
    auto bad = admin.call(
        "PUT", "/api/v1/reservation-rules",
        json{{"items", json::array({json{{"class", "body_camera"}, {"buffer_minutes", -1}}})}}
            .dump(),
        "application/json");
    CHECK(bad.status == 400);
    CHECK(bad.body["field"] == "items[0].buffer_minutes");
    auto ok = admin.call("PUT", "/api/v1/reservation-rules", table.dump(), "application/json");
    INFO(ok.text);
    REQUIRE(ok.status == 200);
    auto long_one =
        officer.post("/api/v1/reservations", class_booking("body_camera", "450100", 24, 27));
    CHECK(long_one.body["rule"] == "max_length");
    CHECK(officer.post("/api/v1/reservations", class_booking("body_camera", "450100", 24, 26))
              .status == 201);
    auto second =
        officer.post("/api/v1/reservations", class_booking("body_camera", "450100", 30, 31));
    CHECK(second.status == 409);
    CHECK(second.body["rule"] == "max_open");
}

TEST_CASE("the booker's check-out makes the booking active and the check-in completes it",
          "[server][reservations][custody]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder(accept_everything);
    gw.connect();
    auto officer = region.as("off-nn");
    auto cust = region.as("cust-nn");
    REQUIRE(test::wait_until(
        [&] { return cust.get("/api/v1/cities").body["items"][0]["online"] == true; }, quick));
    const auto start = format_timestamp(now_ms());
    auto b = officer.post("/api/v1/reservations", device_booking("cam-1", "450100", start, at(3)));
    INFO(b.text);
    REQUIRE(b.status == 201);
    const auto id = b.body["id"].get<std::string>();
    REQUIRE(cust.post("/api/v1/devices/cam-1/checkout", json{{"badge", "B-OFF-NN"}}).status == 200);
    CHECK(test::wait_until(
        [&] { return officer.get("/api/v1/reservations/" + id).body["status"] == "active"; },
        quick));
    CHECK(officer.get("/api/v1/reservations/" + id).body["unit_id"] == "cam-1");
    REQUIRE(cust.post("/api/v1/devices/cam-1/checkin", json::object()).status == 200);
    CHECK(test::wait_until(
        [&] { return officer.get("/api/v1/reservations/" + id).body["status"] == "completed"; },
        quick));
}

TEST_CASE("a person's calendar feed parses with python3-icalendar and its link can be revoked",
          "[server][reservations][ical]") {
    region_fixture region;
    region.register_device("cam-1", "body_camera", "450100");
    auto officer = region.as("off-nn");
    auto b = officer.post("/api/v1/reservations", class_booking("body_camera", "450100", 24, 26));
    REQUIRE(b.status == 201);
    auto link = officer.post("/api/v1/me/calendar-link", json::object());
    INFO(link.text);
    REQUIRE(link.status == 201);
    const auto path = link.body["path"].get<std::string>();
    CHECK(link.body["url"].get<std::string>().ends_with(path));
    api_client anon(region.port());
    auto feed = anon.get(path);
    REQUIRE(feed.status == 200);
    CHECK(feed.content_type.rfind("text/calendar", 0) == 0);
    const auto file = region.dir.path() / "feed.ics";
    std::ofstream(file, std::ios::binary) << feed.text;
    const std::string script =
        "import sys, icalendar\n"
        "cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())\n"
        "ev = [c for c in cal.walk('VEVENT')]\n"
        "print(len(ev), ev[0]['UID'], ev[0].decoded('DTSTART').isoformat())\n";
    const auto py = region.dir.path() / "read.py";
    std::ofstream(py) << script;
    FILE* p = ::popen(
        (std::string(EQM_PYTHON3) + " " + py.string() + " " + file.string() + " 2>&1").c_str(),
        "r");
    REQUIRE(p);
    char buf[512] = {};
    std::string out;
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    INFO(out);
    REQUIRE(::pclose(p) == 0);
    CHECK(out.rfind("1 " + b.body["id"].get<std::string>() + "@eqm 20", 0) == 0);
    CHECK(officer.call("DELETE", "/api/v1/me/calendar-link").status == 204);
    CHECK(anon.get(path).status == 404);
}
