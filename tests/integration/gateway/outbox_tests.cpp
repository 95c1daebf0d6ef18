// Durability and delivery: SIGKILL in the middle of a burst, and a central broker outage.
#include <catch2/catch.hpp>

#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

/// Battery thresholds at 0: these tests are about delivery, not readiness.
gateway_options delivery_options() {
    return gateway_options{{"--min-battery-body-camera", "0", "--outbox-retransmit", "3s"}};
}

json fleet(int n, const std::string& prefix) {
    json devices = json::array();
    for (int i = 0; i < n; ++i) devices.push_back(device(prefix + std::to_string(i)));
    return devices;
}

std::string checkout_event(const std::string& event_id, const std::string& device_id) {
    return json{{"event_id", event_id},   {"ts", now_ts()}, {"type", "slot_remove"}, {"slot", 1},
                {"device_id", device_id}, {"badge", "b-1"}}
        .dump();
}

/// Every seq the server saw, each seq always with the same content, forming 1..upto.
void check_stream(server_probe& s) {
    CHECK(s.bad_batches() == 0);
    std::map<std::uint64_t, eqm::gw_event> first;
    for (const auto& e : s.events()) {
        auto [it, inserted] = first.emplace(e.seq, e);
        if (!inserted) CHECK(it->second == e);  // a resend is the same event, never a reused seq
    }
    REQUIRE_FALSE(first.empty());
    CHECK(first.begin()->first == 1);
    CHECK(first.rbegin()->first == first.size());  // no gap
}

}  // namespace

TEST_CASE("SIGKILL in the middle of a burst: acked decisions survive and seq continues",
          "[outbox]") {
    // Large enough that the kill lands in the middle of it.
    constexpr int burst = 1500;
    city_fixture f(delivery_options());
    f.register_fleet(fleet(burst, "bc-"), json::array({person("p-1", "b-1")}));

    for (int i = 0; i < burst; ++i)
        f.publish_dock("dock-1",
                       checkout_event("ev-" + std::to_string(i), "bc-" + std::to_string(i)));
    // Kill once some, but not all, decisions have been acknowledged.
    auto acked_ok = [&] {
        std::set<std::string> ok;
        for (const auto& [topic, payload] : f.dock().received()) {
            auto a = eqm::parse_ack(payload);
            if (!a) continue;
            for (const auto& [id, result] : a->results)
                if (result.is_ok()) ok.insert(id);
        }
        std::vector<int> ids;
        for (int i = 0; i < burst; ++i)
            if (ok.contains("ev-" + std::to_string(i))) ids.push_back(i);
        return ids;
    };
    REQUIRE(eqm::test::wait_until([&] { return !f.dock().received().empty(); }, wait_timeout, 1ms));
    f.kill_gateway();
    const auto acked_before_kill = acked_ok();
    INFO("acked before the kill: " << acked_before_kill.size());
    CHECK(acked_before_kill.size() < static_cast<std::size_t>(burst));  // killed mid-burst
    const auto seq_at_kill =
        f.db_count("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'");

    // Every acknowledged decision is in the ledger, even though the process died.
    for (int i : acked_before_kill)
        CHECK(f.db_count("SELECT COUNT(*) FROM ledger WHERE record LIKE '%\"request_id\":\"ev-" +
                         std::to_string(i) + "\"%'") == 1);

    f.start_gateway();
    REQUIRE(f.wait_ready());
    // The dock sends again everything it has no ack for (here: everything, which is allowed).
    for (int i = 0; i < burst; ++i)
        f.publish_dock("dock-1",
                       checkout_event("ev-" + std::to_string(i), "bc-" + std::to_string(i)));
    REQUIRE(eqm::test::wait_until([&] { return acked_ok().size() == burst; }, 20s, 20ms));

    CHECK(f.db_count("SELECT COUNT(*) FROM ledger WHERE record LIKE '%\"action\":\"checkout\"%'") ==
          burst);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE state = 'checked_out'") == burst);
    CHECK(f.log().find("hash chain broken") == std::string::npos);

    // The outbox went on from the next seq: the server sees 1..N exactly, custody once each.
    const auto last = f.db_count("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'");
    CHECK(last > seq_at_kill);
    REQUIRE(eqm::test::wait_until(
        [&] { return f.server().contiguous_upto() == static_cast<std::uint64_t>(last); }, 20s));
    check_stream(f.server());
    std::set<std::uint64_t> indexes;
    for (const auto& [seq, e] : f.server().by_seq())
        if (const auto* r = std::get_if<eqm::custody_record>(&e.body)) indexes.insert(r->index);
    CHECK(indexes.size() == burst);
    CHECK(*indexes.rbegin() == burst - 1);
}

TEST_CASE("central broker down: check-outs still work and every event arrives once, in order",
          "[outbox]") {
    constexpr int count = 20;
    city_fixture f(delivery_options());
    f.register_fleet(fleet(count, "bc-"), json::array({person("p-1", "b-1")}));
    REQUIRE(eqm::test::wait_until([&] { return f.metric("eqm_gateway_outbox_depth") == 0; },
                                  wait_timeout));
    const auto before = f.server().events().size();

    f.central().stop();
    REQUIRE(eqm::test::wait_until(
        [&] {
            return http_call(f.http_port(), "GET", "/healthz").as_json()["central_mqtt"] == false;
        },
        wait_timeout));
    for (int i = 0; i < count; ++i)
        CHECK(f.dock_event("ev-" + std::to_string(i), "slot_remove", "bc-" + std::to_string(i),
                           "b-1") == "ok");
    CHECK(f.metric("eqm_gateway_outbox_depth") >= count);

    f.central().start();
    REQUIRE(eqm::test::wait_until(
        [&] {
            int custody = 0;
            for (const auto& [seq, e] : f.server().by_seq())
                if (std::holds_alternative<eqm::custody_record>(e.body)) ++custody;
            return custody == count;
        },
        30s));
    REQUIRE(eqm::test::wait_until([&] { return f.metric("eqm_gateway_outbox_depth") == 0; },
                                  wait_timeout));

    // After the outage: each event exactly once, in seq order.
    const auto events = f.server().events();
    std::vector<std::uint64_t> after;
    for (std::size_t i = before; i < events.size(); ++i) after.push_back(events[i].seq);
    CHECK(std::is_sorted(after.begin(), after.end()));
    CHECK(std::adjacent_find(after.begin(), after.end()) == after.end());
    check_stream(f.server());
    int i = 0;
    for (const auto& [seq, e] : f.server().by_seq())
        if (const auto* r = std::get_if<eqm::custody_record>(&e.body))
            CHECK(r->request_id == "ev-" + std::to_string(i++));
}

TEST_CASE(
    "over its bound the outbox drops telemetry summaries oldest-first, never custody, and "
    "announces the holes",
    "[outbox]") {
    city_fixture f(gateway_options{{"--min-battery-body-camera", "0", "--outbox-max-bytes", "4096",
                                    "--outbox-retransmit", "3s"}});
    f.register_fleet(fleet(3, "bc-"), json::array({person("p-1", "b-1")}));
    REQUIRE(eqm::test::wait_until([&] { return f.metric("eqm_gateway_outbox_depth") == 0; },
                                  wait_timeout));
    f.central().stop();
    REQUIRE(eqm::test::wait_until(
        [&] {
            return http_call(f.http_port(), "GET", "/healthz").as_json()["central_mqtt"] == false;
        },
        wait_timeout));

    // Telemetry from an earlier minute closes at the next flush: one summary per device.
    auto old_telemetry = [&](int from, int to) {
        for (int i = from; i < to; ++i)
            f.dock().publish("eqm/v1/dev/tm-" + std::to_string(i) + "/telemetry",
                             json{{"ts", now_ts(-5min)},
                                  {"seq", 1},
                                  {"battery_pct", 50},
                                  {"storage_free_mb", 10},
                                  {"temp_c", 20}}
                                 .dump(),
                             0);
    };
    for (int round = 0; round < 3; ++round) {
        REQUIRE(f.dock_event("ev-" + std::to_string(round), "slot_remove",
                             "bc-" + std::to_string(round), "b-1") == "ok");
        old_telemetry(round * 40, round * 40 + 40);
        const double before =
            f.metric("eqm_gateway_messages_processed_total", "kind=\"device_telemetry\"");
        REQUIRE(eqm::test::wait_until(
            [&] {
                return f.metric("eqm_gateway_messages_processed_total",
                                "kind=\"device_telemetry\"") >= before + 40 ||
                       f.metric("eqm_gateway_outbox_dropped_total") > 0;
            },
            wait_timeout));
    }
    REQUIRE(eqm::test::wait_until([&] { return f.metric("eqm_gateway_outbox_dropped_total") > 0; },
                                  wait_timeout));
    CHECK(f.metric("eqm_gateway_outbox_bytes") <= 4096 + 3 * 1024);  // custody is kept regardless

    f.central().start();
    const auto last = [&] {
        return f.db_count("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'");
    };
    REQUIRE(eqm::test::wait_until(
        [&] { return f.server().contiguous_upto() == static_cast<std::uint64_t>(last()); }, 30s));
    CHECK_FALSE(f.server().skipped().empty());
    CHECK(f.server().bad_batches() == 0);
    int custody = 0;
    for (const auto& [seq, e] : f.server().by_seq())
        if (std::holds_alternative<eqm::custody_record>(e.body)) ++custody;
    CHECK(custody == 3);
    // Every skipped seq is a summary the server never saw; every seq is either seen or skipped.
    for (const auto& [from, to] : f.server().skipped())
        for (auto seq = from; seq <= to; ++seq) CHECK_FALSE(f.server().by_seq().contains(seq));
    REQUIRE(eqm::test::wait_until([&] { return f.metric("eqm_gateway_outbox_depth") == 0; },
                                  wait_timeout));
}
