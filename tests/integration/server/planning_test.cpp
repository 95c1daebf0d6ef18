// The planning side over real HTTP: quotas (JSON and CSV), the quota-gap report, the allocation
// plan made from the live registry, and the utilization report on a hand-checked history.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

api_reply put_quotas(api_client& c, const json& items) {
    return c.call("PUT", "/api/v1/quotas", json{{"items", items}}.dump(), "application/json");
}

/// The item of a report for (city, class[, analyte]), or null.
json item_of(const json& items, const std::string& city, const std::string& cls,
             const std::optional<std::string>& analyte = std::nullopt) {
    for (const auto& x : items) {
        if (x["city"] != city || x["class"] != cls) continue;
        if (analyte ? x.value("analyte", "") == *analyte : !x.contains("analyte")) return x;
    }
    return nullptr;
}

clock_ms at(const std::string& rfc3339) {
    auto t = parse_rfc3339(rfc3339);
    REQUIRE(t);
    return *t;
}

/// A custody record of `gw` at a chosen time.
custody_record record(fake_gateway& gw, const std::string& device, custody_action action,
                      custody_state from, custody_state to, const std::string& ts,
                      std::optional<std::string> due = std::nullopt) {
    custody_record r;
    r.device_id = device;
    r.action = action;
    r.from_state = from;
    r.to_state = to;
    if (to == custody_state::checked_out) r.holder = "off-nn";
    r.actor = "dock";
    r.source = custody_source::dock;
    r.ts = at(ts);
    if (due) r.due = at(*due);
    return gw.seal_custody(std::move(r));
}

/// `eqm ARGS` with its config under `home`, `input` on stdin: exit status and output.
std::pair<int, std::string> run_eqm(const fs::path& home, const std::string& server,
                                    const std::string& args, const std::string& input = "") {
    const auto in_file = home / "stdin.txt";
    { std::ofstream(in_file) << input; }
    const std::string cmd = "XDG_CONFIG_HOME='" + home.string() + "' EQM_SERVER='" + server +
                            "' '" + EQM_CLI_BIN + "' " + args + " < '" + in_file.string() + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[1024];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = ::pclose(p);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

}  // namespace

TEST_CASE("quotas are replaced by an admin, read back, imported from CSV with row errors",
          "[server][planning][quotas]") {
    region_fixture region;
    auto admin = region.as("admin");
    auto disp = region.as("disp");
    const json table = json::array({
        json{{"city", "450100"}, {"class", "drone"}, {"min_ready", 2}},
        json{{"city", "450300"}, {"class", "drone"}, {"min_ready", 3}},
        json{{"city", "450100"}, {"class", "analyzer"}, {"analyte", "cod"}, {"min_ready", 1}},
    });
    CHECK(put_quotas(disp, table).status == 403);
    auto ok = put_quotas(admin, table);
    INFO(ok.text);
    REQUIRE(ok.status == 200);

    auto bad = put_quotas(
        admin,
        json::array({table[0], json{{"city", "450300"}, {"class", "drone"}, {"min_ready", -1}}}));
    CHECK(bad.status == 400);
    CHECK(bad.body["field"] == "items[1].min_ready");
    CHECK(put_quotas(admin,
                     json::array({json{{"city", "999999"}, {"class", "drone"}, {"min_ready", 1}}}))
              .body["field"] == "items[0].city");
    CHECK(put_quotas(admin, json::array({table[0], table[0]})).body["field"] == "items[1]");
    CHECK(put_quotas(
              admin,
              json::array({json{
                  {"city", "450100"}, {"class", "drone"}, {"analyte", "cod"}, {"min_ready", 1}}}))
              .body["field"] == "items[0].analyte");

    // The refusals changed nothing.
    auto read = disp.get("/api/v1/quotas");
    REQUIRE(read.status == 200);
    REQUIRE(read.body["items"].size() == 3);
    CHECK(read.body["next_cursor"].is_null());
    CHECK(item_of(read.body["items"], "450300", "drone")["min_ready"] == 3);
    CHECK(item_of(read.body["items"], "450100", "analyzer", "cod")["min_ready"] == 1);
    auto first = disp.get("/api/v1/quotas?limit=2");
    CHECK(first.body["items"].size() == 2);
    auto rest =
        disp.get("/api/v1/quotas?limit=2&cursor=" + first.body["next_cursor"].get<std::string>());
    CHECK(rest.body["items"].size() == 1);

    const std::string bad_csv =
        "city,class,analyte,min_ready\n450100,drone,,2\n450200,drone,,x\n450300,helicopter,,1\n";
    auto refused = admin.call("POST", "/api/v1/quotas/import", bad_csv, "text/csv");
    INFO(refused.text);
    REQUIRE(refused.status == 400);
    REQUIRE(refused.body["errors"].size() == 2);
    CHECK(refused.body["errors"][0]["line"] == 3);
    CHECK(refused.body["errors"][0]["column"] == 4);
    CHECK(refused.body["errors"][0]["field"] == "min_ready");
    CHECK(refused.body["errors"][1]["line"] == 4);
    CHECK(refused.body["errors"][1]["column"] == 2);
    CHECK(refused.body["errors"][1]["field"] == "class");
    CHECK(disp.get("/api/v1/quotas").body["items"].size() == 3);

    auto imported = admin.call("POST", "/api/v1/quotas/import",
                               "city,class,min_ready\r\n450200,body_camera,5\r\n", "text/csv");
    INFO(imported.text);
    REQUIRE(imported.status == 200);
    CHECK(imported.body["imported"] == 1);
    auto now = disp.get("/api/v1/quotas");
    REQUIRE(now.body["items"].size() == 1);
    CHECK(now.body["items"][0] ==
          json{{"city", "450200"}, {"class", "body_camera"}, {"min_ready", 5}});
}

TEST_CASE("the quota gap counts ready, in-use and missing units per city and class",
          "[server][planning][quotas]") {
    region_fixture region;
    for (const auto* id : {"dr-1", "dr-2", "dr-3"}) region.register_device(id, "drone", "450100");
    region.register_device("dr-9", "drone", "450300");
    auto admin = region.as("admin");
    REQUIRE(put_quotas(admin, json::array({
                                  json{{"city", "450100"}, {"class", "drone"}, {"min_ready", 4}},
                                  json{{"city", "450300"}, {"class", "drone"}, {"min_ready", 1}},
                              }))
                .status == 200);
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    gw.send({gw.next_custody("dr-1", custody_action::checkout, custody_state::available,
                             custody_state::checked_out, std::string("off-nn"))});
    REQUIRE(
        test::wait_until([&] { return device(admin, "dr-1")["status"] == "checked_out"; }, quick));

    auto gap = region.as("disp").get("/api/v1/reports/quota-gap");
    INFO(gap.text);
    REQUIRE(gap.status == 200);
    auto nn = item_of(gap.body["items"], "450100", "drone");
    CHECK(nn == json{{"city", "450100"},
                     {"class", "drone"},
                     {"quota", 4},
                     {"stock", 3},
                     {"ready", 2},
                     {"in_use", 1},
                     {"in_transit", 0},
                     {"gap", 2}});
    CHECK(item_of(gap.body["items"], "450300", "drone")["gap"] == 0);

    auto csv = admin.get("/api/v1/reports/quota-gap?format=csv&city=450100");
    REQUIRE(csv.status == 200);
    CHECK(csv.content_type.starts_with("text/csv"));
    CHECK(csv.text ==
          "city,class,analyte,quota,stock,ready,in_use,in_transit,gap\r\n"
          "450100,drone,,4,3,2,1,0,2\r\n");
    CHECK(admin.get("/api/v1/reports/quota-gap?format=xml").body["field"] == "format");
    CHECK(region.as("off-nn").get("/api/v1/reports/quota-gap").status == 403);
    CHECK(region.as("cust-nn").get("/api/v1/reports/quota-gap?city=450300").status == 403);

    // The same from the command line, and quotas derived from norms x headcount.
    test::temp_dir home("eqm-cli-home");
    const auto url = region.server->url();
    REQUIRE(run_eqm(home.path(), url, "login --name disp", "disp-pw\n").first == 0);
    auto report = run_eqm(home.path(), url, "report quota-gap --city 450100 --format csv");
    CHECK(report.first == 0);
    CHECK(report.second == csv.text);
    auto util = run_eqm(home.path(), url, "report utilization --granularity total --format csv");
    CHECK(util.first == 0);
    CHECK(util.second.starts_with("city,class,devices,idle_30d,"));
    {
        std::ofstream(home.path() / "norms.csv")
            << "class,analyte,per_head,minimum\ndrone,,0.05,1\n";
    }
    { std::ofstream(home.path() / "heads.csv") << "city,headcount\n450100,120\n450300,10\n"; }
    auto derived =
        run_eqm(home.path(), url,
                "quotas derive --format csv --norms '" + (home.path() / "norms.csv").string() +
                    "' --headcount '" + (home.path() / "heads.csv").string() + "'");
    CHECK(derived.first == 0);
    CHECK(derived.second ==
          "city,class,analyte,min_ready\r\n450100,drone,,6\r\n450300,drone,,1\r\n");
}

TEST_CASE("an allocation plan is made from the live registry and quotas, and kept",
          "[server][planning][plan]") {
    region_fixture region;
    for (const auto* id : {"dr-1", "dr-2", "dr-3", "dr-4"})
        region.register_device(id, "drone", "450100");
    auto admin = region.as("admin");
    REQUIRE(put_quotas(admin, json::array({
                                  json{{"city", "450100"}, {"class", "drone"}, {"min_ready", 1}},
                                  json{{"city", "450300"}, {"class", "drone"}, {"min_ready", 2}},
                              }))
                .status == 200);
    auto disp = region.as("disp");
    auto made =
        disp.post("/api/v1/allocation/plan", json{{"forecast", {{"450500", {{"drone", 1}}}}}});
    INFO(made.text);
    REQUIRE(made.status == 201);
    const auto id = made.body["id"].get<std::string>();
    REQUIRE(made.body["moves"].size() == 1);
    const auto& to_lz = made.body["moves"][0];
    CHECK(to_lz["to"] == "450300");
    CHECK(to_lz["from"] == "450100");
    CHECK(to_lz["count"] == 2);
    CHECK(to_lz["serves"] == json{{"quota", 2}});
    // A forecast 167 minutes away is not worth its penalty of 10.
    REQUIRE(made.body["unmet"].size() == 1);
    CHECK(made.body["unmet"][0]["city"] == "450500");
    CHECK(made.body["unmet"][0]["reason_code"] == "not_worth");
    CHECK(made.body["input"]["stock"]["450100"]["drone"] == 4);
    CHECK(made.body["input"]["demand"]["450300"]["drone"]["quota"] == 2);
    CHECK(made.body["requested_by"].is_string());
    CHECK(made.body["status"] == "proposed");

    auto kept = disp.get("/api/v1/allocation/plans/" + id);
    REQUIRE(kept.status == 200);
    CHECK(kept.body["moves"] == made.body["moves"]);
    CHECK(kept.body["total_cost"] == made.body["total_cost"]);
    CHECK(disp.get("/api/v1/allocation/plans/plan-none").status == 404);
    CHECK(region.as("off-nn").post("/api/v1/allocation/plan", json::object()).status == 403);

    auto square = disp.post("/api/v1/allocation/plan",
                            json{{"travel_minutes", json::array({json::array({0, 1})})}});
    CHECK(square.status == 400);
    CHECK(square.body["field"].get<std::string>().starts_with("travel_minutes"));
    auto unknown = disp.post("/api/v1/allocation/plan", json{{"budget", 1}});
    CHECK(unknown.status == 400);
    CHECK(unknown.body["field"] == "budget");
    auto forecast =
        disp.post("/api/v1/allocation/plan", json{{"forecast", {{"450100", {{"helicopter", 1}}}}}});
    CHECK(forecast.status == 400);
    CHECK(forecast.body["field"] == "forecast.450100.helicopter");
    auto negative =
        disp.post("/api/v1/allocation/plan", json{{"forecast", {{"450100", {{"drone", -1}}}}}});
    CHECK(negative.body["field"] == "forecast.450100.drone");
}

TEST_CASE("utilization figures on a hand-checked custody history",
          "[server][planning][utilization]") {
    region_fixture region;
    region.register_device("cam-u1", "body_camera", "450100");
    region.register_device("dr-u3", "drone", "450300");
    auto admin = region.as("admin");
    fake_gateway nn(region.broker.uri(), "450100", "gw-nn");
    fake_gateway lz(region.broker.uri(), "450300", "gw-lz");
    nn.connect();
    lz.connect();
    using cs = custody_state;
    using ca = custody_action;
    // cam-u1: out since the day before (due at noon of day 1, back at 18:00: overdue), out again
    // 08:00-10:00 on day 2, in maintenance from noon of day 2.
    nn.send({
        record(nn, "cam-u1", ca::checkout, cs::available, cs::checked_out,
               "2026-01-04T09:00:00+08:00", "2026-01-05T12:00:00+08:00"),
        record(nn, "cam-u1", ca::checkin, cs::checked_out, cs::available,
               "2026-01-05T18:00:00+08:00"),
        record(nn, "cam-u1", ca::checkout, cs::available, cs::checked_out,
               "2026-01-06T08:00:00+08:00", "2026-01-06T20:00:00+08:00"),
        record(nn, "cam-u1", ca::checkin, cs::checked_out, cs::available,
               "2026-01-06T10:00:00+08:00"),
        record(nn, "cam-u1", ca::maintenance_in, cs::available, cs::maintenance,
               "2026-01-06T12:00:00+08:00"),
    });
    // dr-u3: used once two months before, idle since.
    lz.send({
        record(lz, "dr-u3", ca::checkout, cs::available, cs::checked_out,
               "2025-11-01T09:00:00+08:00"),
        record(lz, "dr-u3", ca::checkin, cs::checked_out, cs::available,
               "2025-11-02T09:00:00+08:00"),
    });
    REQUIRE(test::wait_until([&] { return device(admin, "cam-u1")["status"] == "maintenance"; },
                             quick));
    REQUIRE(test::wait_until(
        [&] { return admin.get("/api/v1/devices/dr-u3/custody").body["items"].size() == 2; },
        quick));

    auto r = region.as("disp").get(
        "/api/v1/reports/utilization?from=2026-01-05&to=2026-01-06&granularity=day");
    INFO(r.text);
    REQUIRE(r.status == 200);
    auto cam = item_of(r.body["items"], "450100", "body_camera");
    REQUIRE(cam.is_object());
    CHECK(cam["custody_hours"] == 20.0);
    CHECK(cam["available_hours"] == 36.0);
    CHECK(cam["utilization"] == 0.5556);
    CHECK(cam["overdue_returns"] == 1);
    CHECK(cam["devices"] == 1);
    CHECK(cam["idle_30d"] == 0);
    REQUIRE(cam["days"].size() == 2);
    CHECK(cam["days"][0] == json{{"date", "2026-01-05"},
                                 {"custody_hours", 18.0},
                                 {"available_hours", 24.0},
                                 {"utilization", 0.75},
                                 {"overdue_returns", 1},
                                 {"stock_outs", 0}});
    CHECK(cam["days"][1]["custody_hours"] == 2.0);
    CHECK(cam["days"][1]["available_hours"] == 12.0);
    auto drone = item_of(r.body["items"], "450300", "drone");
    CHECK(drone["custody_hours"] == 0.0);
    CHECK(drone["available_hours"] == 48.0);
    CHECK(drone["idle_30d"] == 1);

    auto csv = admin.get(
        "/api/v1/reports/utilization?from=2026-01-05&to=2026-01-06&granularity=total&city=450100");
    REQUIRE(csv.status == 200);
    CHECK(csv.content_type.starts_with("application/json"));  // JSON unless asked
    auto as_csv = admin.call("GET",
                             "/api/v1/reports/utilization?from=2026-01-05&to=2026-01-06"
                             "&granularity=total&city=450100&format=csv");
    CHECK(as_csv.text ==
          "city,class,devices,idle_30d,custody_hours,available_hours,utilization,"
          "overdue_returns,stock_outs\r\n450100,body_camera,1,0,20.0,36.0,0.5556,1,0\r\n");
    CHECK(admin.get("/api/v1/reports/utilization?from=2026-02-30").body["field"] == "from");
    CHECK(admin.get("/api/v1/reports/utilization?from=2026-01-07&to=2026-01-06").body["field"] ==
          "from");
    CHECK(admin.get("/api/v1/reports/utilization?granularity=hour").body["field"] == "granularity");
}

TEST_CASE("an approved plan creates exactly its transfers, once, and a stale plan is refused",
          "[server][planning][plan]") {
    region_fixture region;
    for (const auto* id : {"dr-1", "dr-2", "dr-3", "dr-4"})
        region.register_device(id, "drone", "450100");
    auto admin = region.as("admin");
    REQUIRE(put_quotas(admin, json::array({
                                  json{{"city", "450100"}, {"class", "drone"}, {"min_ready", 1}},
                                  json{{"city", "450300"}, {"class", "drone"}, {"min_ready", 2}},
                              }))
                .status == 200);
    auto disp = region.as("disp");
    auto plan = disp.post("/api/v1/allocation/plan", json::object());
    REQUIRE(plan.status == 201);
    REQUIRE(plan.body["moves"].size() == 1);
    auto stale = disp.post("/api/v1/allocation/plan", json::object());
    REQUIRE(stale.status == 201);
    const auto id = plan.body["id"].get<std::string>();

    auto bad =
        disp.post("/api/v1/allocation/plans/" + id + "/approve", json{{"moves", json::array({5})}});
    CHECK(bad.status == 400);
    CHECK(bad.body["field"] == "moves[0]");
    CHECK(region.as("off-nn")
              .post("/api/v1/allocation/plans/" + id + "/approve", json::object())
              .status == 403);

    auto ok =
        disp.post("/api/v1/allocation/plans/" + id + "/approve", json{{"moves", json::array({0})}});
    INFO(ok.text);
    REQUIRE(ok.status == 200);
    REQUIRE(ok.body["transfers"].size() == 1);
    const auto& t = ok.body["transfers"][0];
    CHECK(t["from_city"] == "450100");
    CHECK(t["to_city"] == "450300");
    CHECK(t["items"] == json::array({json{{"class", "drone"}, {"count", 2}}}));
    CHECK(t["status"] == "approved");
    auto kept = disp.get("/api/v1/allocation/plans/" + id);
    CHECK(kept.body["status"] == "approved");
    CHECK(kept.body["approved_by"] == "disp");
    CHECK(kept.body["approved_moves"] == json::array({0}));
    CHECK(kept.body["transfers"] == json::array({t["id"]}));
    auto again = disp.post("/api/v1/allocation/plans/" + id + "/approve", json::object());
    CHECK(again.status == 409);
    auto listed = disp.get("/api/v1/transfers");
    REQUIRE(listed.status == 200);
    CHECK(listed.body["items"].size() == 1);

    // Three drones go out: the other plan's two units are no longer there.
    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.connect();
    for (const auto* d : {"dr-1", "dr-2", "dr-3"})
        gw.send({gw.next_custody(d, custody_action::checkout, custody_state::available,
                                 custody_state::checked_out, std::string("off-nn"))});
    REQUIRE(
        test::wait_until([&] { return device(admin, "dr-3")["status"] == "checked_out"; }, quick));
    auto refused =
        disp.post("/api/v1/allocation/plans/" + stale.body["id"].get<std::string>() + "/approve",
                  json::object());
    INFO(refused.text);
    CHECK(refused.status == 409);
    CHECK(disp.get("/api/v1/transfers").body["items"].size() == 1);
    CHECK(disp.get("/api/v1/allocation/plans/" + stale.body["id"].get<std::string>())
              .body["status"] == "proposed");
}

TEST_CASE(
    "approved class bookings are a city's reserved demand, and a plan never moves the "
    "units they need",
    "[server][planning][plan]") {
    region_fixture region;
    for (const auto* id : {"dr-1", "dr-2", "dr-3", "dr-4"})
        region.register_device(id, "drone", "450100");
    auto admin = region.as("admin");
    REQUIRE(put_quotas(admin, json::array({
                                  json{{"city", "450100"}, {"class", "drone"}, {"min_ready", 1}},
                                  json{{"city", "450300"}, {"class", "drone"}, {"min_ready", 2}},
                              }))
                .status == 200);
    // Two drones booked for the same window tomorrow, approved by the city's custodian.
    const auto start = std::chrono::floor<std::chrono::hours>(now_ms()) + std::chrono::hours{24};
    const json booking{{"class", "drone"},
                       {"city", "450100"},
                       {"start", format_timestamp(clock_ms{start})},
                       {"end", format_timestamp(clock_ms{start + std::chrono::hours{2}})},
                       {"purpose", "无人机巡查"}};
    auto officer = region.as("off-nn");
    auto cust = region.as("cust-nn");
    for (int i = 0; i < 2; ++i) {
        auto b = officer.post("/api/v1/reservations", booking);
        INFO(b.text);
        REQUIRE(b.status == 201);
        auto ok = cust.post("/api/v1/reservations/" + b.body["id"].get<std::string>() + "/approve",
                            json::object());
        REQUIRE(ok.status == 200);
    }

    auto made = region.as("disp").post("/api/v1/allocation/plan", json::object());
    INFO(made.text);
    REQUIRE(made.status == 201);
    CHECK(made.body["input"]["demand"]["450100"]["drone"]["reserved"] == 2);
    // 4 drones, 2 booked, a quota of 1: one drone may leave Nanning, the other gap stays unmet.
    REQUIRE(made.body["moves"].size() == 1);
    CHECK(made.body["moves"][0]["from"] == "450100");
    CHECK(made.body["moves"][0]["to"] == "450300");
    CHECK(made.body["moves"][0]["count"] == 1);
    REQUIRE(made.body["unmet"].size() == 1);
    CHECK(made.body["unmet"][0]["city"] == "450300");
    CHECK(made.body["unmet"][0]["kind"] == "quota");
    CHECK(made.body["unmet"][0]["count"] == 1);
}

TEST_CASE("a class booking refused for lack of units is a stock-out of its city's day",
          "[server][planning][utilization]") {
    region_fixture region;
    region.register_device("dr-s1", "drone", "450300");
    auto disp = region.as("disp");
    // Liuzhou has one drone: the first booking takes it, the second in the same window is refused.
    const auto start = std::chrono::floor<std::chrono::hours>(now_ms()) + std::chrono::hours{24};
    const json booking{{"class", "drone"},
                       {"city", "450300"},
                       {"start", format_timestamp(clock_ms{start})},
                       {"end", format_timestamp(clock_ms{start + std::chrono::hours{2}})},
                       {"purpose", "巡查"}};
    REQUIRE(disp.post("/api/v1/reservations", booking).status == 201);
    auto refused = disp.post("/api/v1/reservations", booking);
    INFO(refused.text);
    REQUIRE(refused.status == 409);

    // Today in Asia/Shanghai, the day the refusal happened.
    const auto local = std::chrono::floor<std::chrono::days>(now_ms() + std::chrono::hours{8});
    const auto today = format_timestamp(clock_ms{local}).substr(0, 10);
    auto r = disp.get("/api/v1/reports/utilization?from=" + today + "&to=" + today +
                      "&city=450300&granularity=day");
    INFO(r.text);
    REQUIRE(r.status == 200);
    const auto item = item_of(r.body["items"], "450300", "drone");
    REQUIRE(item.is_object());
    CHECK(item["stock_outs"] == 1);
    CHECK(item["days"][0]["stock_outs"] == 1);
    auto csv = disp.get("/api/v1/reports/utilization?from=" + today + "&to=" + today +
                        "&city=450300&format=csv");
    REQUIRE(csv.status == 200);
    CHECK(csv.text.find("overdue_returns,stock_outs") != std::string::npos);
}
