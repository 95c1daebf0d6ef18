// Registry sync, transfers, server-requested resends, ledger tampering, telemetry retention and
// the gateway's bd_seq across SIGKILL restarts.
#include <catch2/catch.hpp>
#include <fstream>

#include "eqm/store/database.hpp"
#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

gateway_options lenient_options(std::vector<std::string> more = {}) {
    gateway_options o{{"--min-battery-body-camera", "0"}};
    for (auto& a : more) o.extra_args.push_back(std::move(a));
    return o;
}

json device_json(city_fixture& f, const std::string& id) {
    return f.get("/api/v1/devices/" + id).as_json();
}

json custody_records(city_fixture& f, const std::string& id) {
    return f.get("/api/v1/devices/" + id + "/custody").as_json()["items"];
}

/// Runs `sql` on the gateway's database while the gateway is stopped.
void db_exec(city_fixture& f, const std::string& sql) {
    eqm::store::database_options o;
    o.create = false;
    auto db = eqm::store::database::open(f.db_path(), o);
    REQUIRE(db);
    auto r = db->execute(sql);
    INFO(sql);
    REQUIRE(r);
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TEST_CASE("registry_upsert with full_sync removes what is no longer listed, custody stays",
          "[commands]") {
    city_fixture f(lenient_options());
    f.register_fleet(json::array({device("bc-keep"), device("bc-gone"), device("bc-out")}),
                     json::array({person("p-1", "b-1"), person("p-2", "b-2")}));
    REQUIRE(f.dock_event("ev-1", "slot_remove", "bc-out", "b-1") == "ok");

    // The server's whole registry of the city now lists only bc-keep and p-1.
    const auto r = f.command({{"type", "registry_upsert"},
                              {"full_sync", true},
                              {"devices", json::array({device("bc-keep")})},
                              {"people", json::array({person("p-1", "b-1"), kiosk_custodian()})}});
    CHECK(r == "ok");

    CHECK(device_json(f, "bc-keep")["registered"] == true);
    CHECK(device_json(f, "bc-gone")["registered"] == false);
    // A device out with someone when it leaves the registry stays checked out to that person:
    // custody is physical, and the gateway is its only writer.
    const auto out = device_json(f, "bc-out");
    CHECK(out["registered"] == false);
    CHECK(out["status"] == "checked_out");
    CHECK(out["holder"] == "p-1");
    // It can no longer be checked out, nor can the removed one; its return is still taken.
    CHECK(f.dock_event("ev-2", "slot_remove", "bc-gone", "b-1") == "rejected:unregistered");
    CHECK(f.dock_event("ev-3", "slot_insert", "bc-out", std::nullopt) == "ok");
    CHECK(device_json(f, "bc-out")["status"] == "available");
    // People not listed are gone: p-2's badge is unknown now.
    CHECK(f.dock_event("ev-4", "slot_remove", "bc-keep", "b-2") == "rejected:badge_unknown");
    CHECK(f.dock_event("ev-5", "slot_remove", "bc-keep", "b-1") == "ok");
}

TEST_CASE(
    "transfer_order: the courier's badge hands the device over, a dock of the destination "
    "receives it, a cancel withdraws the order",
    "[commands][transfers]") {
    city_fixture f(lenient_options());
    f.register_fleet(json::array({device("bc-1"), device("bc-2"), device("bc-3")}),
                     json::array({person("p-1", "b-1"), person("courier", "b-courier")}));
    const auto order = [&](const std::string& id, const std::string& device_id,
                           const std::string& from, const std::string& to,
                           const std::string& step) {
        return f.command({{"type", "transfer_order"},
                          {"transfer_id", id},
                          {"device_id", device_id},
                          {"from_city", from},
                          {"to_city", to},
                          {"step", step}});
    };

    // The order alone moves nothing: the device waits for the courier.
    CHECK(order("tr-out", "bc-1", city, "450200", "hand_over") == "ok");
    CHECK(device_json(f, "bc-1")["status"] == "available");
    CHECK(custody_records(f, "bc-1").empty());
    // An unknown badge cannot take it; the courier's can.
    CHECK(f.dock_event("ev-1", "slot_remove", "bc-1", "b-nobody") == "rejected:badge_unknown");
    CHECK(f.dock_event("ev-2", "slot_remove", "bc-1", "b-courier") == "ok");
    auto out = device_json(f, "bc-1");
    CHECK(out["status"] == "in_transit");
    CHECK(out["holder"] == "courier");
    auto records = custody_records(f, "bc-1");
    REQUIRE(records.size() == 1);
    CHECK(records[0]["action"] == "transfer_out");
    CHECK(records[0]["transfer_id"] == "tr-out");
    CHECK(records[0]["holder"] == "courier");
    // In transit, nobody here can take it, and docking it here again changes no custody.
    CHECK(f.dock_event("ev-3", "slot_insert", "bc-1", std::nullopt) == "ok");
    CHECK(f.dock_event("ev-4", "slot_remove", "bc-1", "b-1") == "rejected:invalid_transition");

    // A cancelled order leaves the device to ordinary use.
    CHECK(order("tr-cancel", "bc-2", city, "450200", "hand_over") == "ok");
    CHECK(f.command({{"type", "transfer_order"},
                     {"transfer_id", "tr-cancel"},
                     {"from_city", city},
                     {"to_city", "450200"},
                     {"step", "cancel"}}) == "ok");
    CHECK(f.dock_event("ev-5", "slot_remove", "bc-2", "b-1") == "ok");
    CHECK(device_json(f, "bc-2")["status"] == "checked_out");

    // A device coming from Liuzhou, unknown here: expected, then docked, it is this city's.
    CHECK(f.command({{"type", "transfer_order"},
                     {"transfer_id", "tr-in"},
                     {"device_id", "bc-arriving"},
                     {"from_city", "450200"},
                     {"to_city", city},
                     {"step", "receive"},
                     {"device", device("bc-arriving")}}) == "ok");
    CHECK(f.dock_event("ev-6", "slot_insert", "bc-arriving", std::nullopt) == "ok");
    const auto arrived = device_json(f, "bc-arriving");
    CHECK(arrived["status"] == "available");
    CHECK(arrived["registered"] == true);
    records = custody_records(f, "bc-arriving");
    REQUIRE(records.size() == 1);
    CHECK(records[0]["action"] == "transfer_in");
    CHECK(records[0]["transfer_id"] == "tr-in");
    CHECK(f.dock_event("ev-7", "slot_remove", "bc-arriving", "b-1") == "ok");

    // A count: the gateway picks the available unit, and says which.
    CHECK(f.command({{"cmd_id", "cmd-count"},
                     {"type", "transfer_order"},
                     {"transfer_id", "tr-count"},
                     {"from_city", city},
                     {"to_city", "450200"},
                     {"step", "hand_over"},
                     {"class", "body_camera"},
                     {"count", 1}}) == "ok");
    std::optional<std::vector<std::string>> picked;
    for (const auto& e : f.server().events())
        if (const auto* c = std::get_if<eqm::command_result_body>(&e.body);
            c && c->cmd_id == "cmd-count")
            picked = c->devices;
    CHECK(picked == std::vector<std::string>{"bc-3"});
    CHECK(f.command({{"type", "transfer_order"},
                     {"transfer_id", "tr-count2"},
                     {"from_city", city},
                     {"to_city", "450200"},
                     {"step", "hand_over"},
                     {"class", "body_camera"},
                     {"count", 1}}) == "rejected:conflict");

    // The wrong city's step is refused, and the transfer records reach the server.
    CHECK(order("tr-x", "bc-1", "450300", "450200", "hand_over").starts_with("rejected:"));
    REQUIRE(eqm::test::wait_until(
        [&] {
            int transfers = 0;
            for (const auto& [seq, e] : f.server().by_seq())
                if (const auto* rec = std::get_if<eqm::custody_record>(&e.body))
                    transfers += rec->transfer_id.has_value();
            return transfers == 2;
        },
        wait_timeout));
}

TEST_CASE("srv/ack with resend_from makes the gateway replay from that seq, in order", "[outbox]") {
    // A long retransmit timer, so every resend seen here is the one the server asked for.
    city_fixture f(lenient_options({"--outbox-retransmit", "60s"}));
    f.register_fleet(json::array({device("bc-0"), device("bc-1"), device("bc-2"), device("bc-3"),
                                  device("bc-4")}),
                     json::array({person("p-1", "b-1")}));
    REQUIRE(eqm::test::wait_until([&] { return f.metric("eqm_gateway_outbox_depth") == 0; },
                                  wait_timeout));
    f.server().acking = false;
    const auto acked = f.server().contiguous_upto();
    for (int i = 0; i < 5; ++i)
        REQUIRE(f.dock_event("ev-" + std::to_string(i), "slot_remove", "bc-" + std::to_string(i),
                             "b-1") == "ok");
    const auto last = static_cast<std::uint64_t>(
        f.db_count("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"));
    REQUIRE(last >= acked + 5);
    REQUIRE(
        eqm::test::wait_until([&] { return f.server().contiguous_upto() == last; }, wait_timeout));
    const auto first_pass = f.server().by_seq();
    const auto seen_before = f.server().events().size();

    // "I applied up to acked+1 and lost the rest from acked+3 on."
    const std::uint64_t upto = acked + 1, from = acked + 3;
    f.server().publish("eqm/v1/city/" + std::string(city) + "/srv/ack",
                       json{{"ts", now_ts()}, {"upto_seq", upto}, {"resend_from", from}}.dump());
    REQUIRE(eqm::test::wait_until(
        [&] { return f.server().events().size() >= seen_before + (last - from + 1); },
        wait_timeout));
    std::this_thread::sleep_for(300ms);  // nothing more than asked for should follow

    const auto events = f.server().events();
    std::vector<std::uint64_t> again;
    for (auto i = seen_before; i < events.size(); ++i) {
        again.push_back(events[i].seq);
        CHECK(events[i] == first_pass.at(events[i].seq));  // the same event, never a new seq
    }
    std::vector<std::uint64_t> expected;
    for (auto s = from; s <= last; ++s) expected.push_back(s);
    CHECK(again == expected);
    CHECK(f.metric("eqm_gateway_outbox_depth") == static_cast<double>(last - upto));
}

TEST_CASE("a ledger row edited while the gateway was stopped is reported at start-up", "[ledger]") {
    city_fixture f(lenient_options());
    f.register_fleet(json::array({device("bc-1"), device("bc-2")}),
                     json::array({person("p-1", "b-1"), person("p-2", "b-2")}));
    REQUIRE(f.dock_event("ev-1", "slot_remove", "bc-1", "b-1") == "ok");
    REQUIRE(f.dock_event("ev-2", "slot_remove", "bc-2", "b-1") == "ok");
    REQUIRE(f.dock_event("ev-3", "slot_insert", "bc-1", std::nullopt) == "ok");
    f.stop_gateway();

    // Someone rewrites who took bc-2 (ledger index 1).
    db_exec(
        f,
        "UPDATE ledger SET record = replace(record, '\"holder\":\"p-1\"', '\"holder\":\"p-2\"') "
        "WHERE idx = 1");
    REQUIRE(
        f.db_count(
            "SELECT COUNT(*) FROM ledger WHERE idx = 1 AND record LIKE '%\"holder\":\"p-2\"%'") ==
        1);

    // The gateway still starts (the city must keep working) and raises a critical alert that
    // names the first broken record.
    f.start_gateway();
    REQUIRE(f.wait_ready());
    const auto alerts = f.get("/api/v1/alerts").as_json()["items"];
    json broken;
    for (const auto& a : alerts)
        if (a["type"] == "ledger_broken") broken = a;
    REQUIRE(broken.is_object());
    CHECK(broken["severity"] == "critical");
    const auto detail = broken["detail"].get<std::string>();
    INFO(detail);
    CHECK(detail.find("index 1") != std::string::npos);
    CHECK(detail.find("bc-2") != std::string::npos);
    CHECK(f.log().find("hash chain broken") != std::string::npos);
    // The server hears about it too.
    REQUIRE(eqm::test::wait_until(
        [&] {
            for (const auto& [seq, e] : f.server().by_seq())
                if (const auto* a = std::get_if<eqm::alert_body>(&e.body);
                    a && a->type == eqm::alert_type::ledger_broken)
                    return true;
            return false;
        },
        wait_timeout));
    CHECK(f.dock_event("ev-4", "slot_remove", "bc-1", "b-1") == "ok");

    // A second start does not raise it again.
    f.stop_gateway();
    f.start_gateway();
    REQUIRE(f.wait_ready());
    CHECK(f.db_count("SELECT COUNT(*) FROM alerts WHERE type = 'ledger_broken'") == 1);
}

TEST_CASE("minute aggregates older than --telemetry-retention-days are pruned", "[telemetry]") {
    city_fixture f(lenient_options({"--telemetry-retention-days", "1"}));
    f.stop_gateway();
    const auto now = now_ms();
    const auto minute = 60'000;
    const auto old_minute = (now - 2 * 86'400'000) / minute * minute;
    const auto recent_minute = (now - 3'600'000) / minute * minute;
    for (auto [id, at] : {std::pair{"tm-old", old_minute}, std::pair{"tm-recent", recent_minute}})
        db_exec(f,
                "INSERT INTO telemetry_minute(device_id, minute_ms, count, battery_pct_min, "
                "battery_pct_last, storage_free_mb_last, temp_c_max) VALUES('" +
                    std::string(id) + "', " + std::to_string(at) + ", 3, 50, 51, 100, 30)");

    f.start_gateway();
    REQUIRE(f.wait_ready());
    REQUIRE(eqm::test::wait_until(
        [&] {
            return f.db_count("SELECT COUNT(*) FROM telemetry_minute WHERE device_id = 'tm-old'") ==
                   0;
        },
        wait_timeout));
    CHECK(f.db_count("SELECT COUNT(*) FROM telemetry_minute WHERE device_id = 'tm-recent'") == 1);
}

TEST_CASE("the gateway's bd_seq is durable before CONNECT and strictly increases across SIGKILL",
          "[liveness]") {
    city_fixture f(lenient_options());
    const std::string state_topic = "eqm/v1/city/" + std::string(city) + "/gw/state";
    mqtt_probe watcher(f.central().uri(), "bd-seq-watcher", {{state_topic, 1}});
    watcher.start();
    const auto bd_file = f.db_path().string() + "-bd_seq";

    // (online, bd_seq) of every gw/state message, in arrival order.
    auto states = [&] {
        std::vector<std::pair<bool, std::uint64_t>> out;
        for (const auto& [topic, payload] : watcher.received()) {
            auto j = json::parse(payload, nullptr, false);
            if (j.is_object())
                out.emplace_back(j["online"].get<bool>(), j["bd_seq"].get<std::uint64_t>());
        }
        return out;
    };
    auto births = [&] {
        std::vector<std::uint64_t> out;
        for (auto [online, seq] : states())
            if (online) out.push_back(seq);
        return out;
    };
    auto file_value = [&] {
        std::ifstream in(bd_file);
        std::uint64_t v = 0;
        in >> v;
        return v;
    };

    REQUIRE(eqm::test::wait_until([&] { return births().size() == 1; }, wait_timeout, 1ms));
    for (int round = 0; round < 3; ++round) {
        const auto current = births().back();
        // The value a birth announces was on disk before the CONNECT that carried its will.
        CHECK(file_value() >= current);
        // Killed right after its birth, before anything else could be written.
        f.kill_gateway();
        REQUIRE(eqm::test::wait_until(
            [&] {
                const auto s = states();
                return !s.empty() && !s.back().first && s.back().second == current;
            },
            wait_timeout, 1ms));
        f.start_gateway();
        REQUIRE(eqm::test::wait_until(
            [&] { return births().size() == static_cast<std::size_t>(round) + 2; }, wait_timeout,
            1ms));
    }
    const auto b = births();
    INFO("births: " << json(b).dump());
    CHECK(std::adjacent_find(b.begin(), b.end(), std::greater_equal<>()) == b.end());
}

TEST_CASE("the latest telemetry of each device is back after a restart, and still decides",
          "[telemetry]") {
    // Default thresholds: a body camera below its minimum battery is not ready for check-out.
    city_fixture f;
    f.register_fleet(json::array({device("bc-low"), device("bc-full")}),
                     json::array({person("p-1", "b-1")}));
    f.telemetry("bc-low", 7, {{"temp_c", 41.5}, {"gps", {{"lat", 22.8}, {"lon", 108.3}}}});
    f.telemetry("bc-full", 96);
    // The cache is written about once a second; wait until both rows are stored.
    REQUIRE(eqm::test::wait_until(
        [&] { return f.db_count("SELECT COUNT(*) FROM telemetry_latest") == 2; }, wait_timeout));
    f.stop_gateway();
    f.start_gateway();
    REQUIRE(f.wait_ready());

    const auto low = device_json(f, "bc-low");
    INFO(low.dump());
    CHECK(low["battery_pct"] == 7);
    CHECK(low["readiness"]["ready"] == false);
    CHECK(device_json(f, "bc-full")["battery_pct"] == 96);
    // Decided from the values loaded at start, with no new telemetry.
    CHECK(f.dock_event("ev-low", "slot_remove", "bc-low", "b-1") == "rejected:battery_low");
    CHECK(f.dock_event("ev-full", "slot_remove", "bc-full", "b-1") == "ok");
}

TEST_CASE("a custody_request seen after its expires_at is refused as expired and changes nothing",
          "[commands]") {
    city_fixture f(lenient_options());
    f.register_fleet(json::array({device("bc-1")}), json::array({person("p-1", "b-1")}));
    const auto records_before = f.db_count("SELECT COUNT(*) FROM ledger");

    // The server gave up waiting a second ago (its client was told 503); the command arrives
    // only now.
    CHECK(f.command({{"type", "custody_request"},
                     {"device_id", "bc-1"},
                     {"action", "checkout"},
                     {"badge", "b-1"},
                     {"actor", "cust-1"},
                     {"expires_at", now_ts(-1s)}}) == "rejected:expired");
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger") == records_before);
    CHECK(device_json(f, "bc-1")["status"] == "available");
    CHECK(f.log().find("expired") != std::string::npos);

    // In time, the same request is decided.
    CHECK(f.command({{"type", "custody_request"},
                     {"device_id", "bc-1"},
                     {"action", "checkout"},
                     {"badge", "b-1"},
                     {"actor", "cust-1"},
                     {"expires_at", now_ts(30s)}}) == "ok");
    CHECK(device_json(f, "bc-1")["status"] == "checked_out");
}

namespace {

/// Devices bc-<from>..bc-<to - 1> (five digits).
json device_range(int from, int to) {
    json list = json::array();
    char id[16];
    for (int i = from; i < to; ++i) {
        std::snprintf(id, sizeof id, "bc-%05d", i);
        list.push_back(device(id));
    }
    return list;
}

json sync_part(const std::string& sync_id, int part, int parts, const json& devices,
               const json& people, const std::string& ts) {
    return json{{"cmd_id", sync_id + "-" + std::to_string(part)},
                {"ts", ts},
                {"type", "registry_upsert"},
                {"full_sync", true},
                {"sync_id", sync_id},
                {"part", part},
                {"parts", parts},
                {"devices", devices},
                {"people", people}};
}

std::int64_t registered(city_fixture& f) {
    return f.db_count("SELECT COUNT(*) FROM devices WHERE registered = 1");
}

}  // namespace

TEST_CASE("a full sync in parts removes what no part listed only once every part is there",
          "[commands]") {
    city_fixture f(lenient_options());
    // Before the sync: a device and a person the region no longer has, the device checked out.
    f.register_fleet(json::array({device("bc-gone")}),
                     json::array({person("p-old", "b-old"), person("p-1", "b-1")}));
    REQUIRE(f.dock_event("ev-out", "slot_remove", "bc-gone", "b-old") == "ok");
    const json people =
        json::array({person("p-1", "b-1"), person("p-2", "b-2"), kiosk_custodian()});

    // Sync s-1 of 3,000 devices in three parts; its last part is late.
    const auto t1 = now_ts(-2s);
    CHECK(f.command(sync_part("s-1", 1, 3, device_range(0, 1000), people, t1)) == "ok");
    CHECK(f.command(sync_part("s-1", 2, 3, device_range(1000, 2000), json::array(), t1)) == "ok");
    INFO(f.command_detail("s-1-2").value_or("-"));
    // Nothing is removed before the sync is whole.
    CHECK(registered(f) == 2001);
    CHECK(device_json(f, "bc-gone")["registered"] == true);
    // A part sent again (same cmd_id) is answered again and changes nothing.
    CHECK(f.command(sync_part("s-1", 2, 3, device_range(1000, 2000), json::array(), t1)) == "ok");
    CHECK(registered(f) == 2001);

    // A newer sync supersedes the incomplete one: s-1's late part no longer completes anything.
    const auto t2 = now_ts();
    CHECK(f.command(sync_part("s-2", 1, 3, device_range(0, 1000), people, t2)) == "ok");
    CHECK(f.command(sync_part("s-1", 3, 3, device_range(2000, 3000), json::array(), t1)) == "ok");
    CHECK(f.command_detail("s-1-3").value_or("").find("superseded") != std::string::npos);
    CHECK(registered(f) == 2001);
    CHECK(device_json(f, "bc-gone")["registered"] == true);

    // s-2's parts arrive out of order; it lists 2,999 devices (bc-01500 left the city).
    CHECK(f.command(sync_part("s-2", 3, 3, device_range(2000, 3000), json::array(), t2)) == "ok");
    CHECK(device_json(f, "bc-gone")["registered"] == true);
    json part2 = device_range(1000, 1500);
    for (const auto& d : device_range(1501, 2000)) part2.push_back(d);
    CHECK(f.command(sync_part("s-2", 2, 3, part2, json::array(), t2)) == "ok");
    CHECK(f.command_detail("s-2-2").value_or("").find("complete") != std::string::npos);
    CHECK(registered(f) == 2999);
    CHECK(device_json(f, "bc-01500")["registered"] == false);
    CHECK(device_json(f, "bc-02999")["registered"] == true);
    // The removed device is still out with its holder (custody is physical)...
    const auto gone = device_json(f, "bc-gone");
    CHECK(gone["registered"] == false);
    CHECK(gone["status"] == "checked_out");
    // ...and people no part listed are gone.
    CHECK(f.dock_event("ev-2", "slot_remove", "bc-00001", "b-old") == "rejected:badge_unknown");
    CHECK(f.dock_event("ev-3", "slot_remove", "bc-00001", "b-2") == "ok");
}
