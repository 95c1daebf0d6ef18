// The fleet model without any I/O: determinism, working days, class behaviour, fleet files.
#include "eqm/sim/model.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

using namespace eqm;
using namespace eqm::sim;
using namespace std::chrono_literals;

namespace {

// 07:00 in Guangxi (+08) on a Monday: the morning check-outs are ahead.
const clock_ms morning{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1} + 23h};

fleet_config small_fleet() {
    fleet_config c;
    c.defaults =
        fleet_size{.body_cameras = 8, .drones = 2, .analyzers = 4, .docks = 1, .officers = 8};
    return c;
}

/// Every event of `minutes` simulated minutes, as "sender type ts ..." lines.
std::vector<std::string> event_lines(std::uint64_t seed, int minutes,
                                     const fleet_config& f = small_fleet()) {
    fleet_model m({"450100", "450300"}, f, seed, morning);
    std::vector<std::string> out;
    for (int i = 0; i < minutes; ++i)
        for (const auto& msg : m.step())
            if (msg.kind != message_kind::telemetry)
                out.push_back(msg.sender_id + " " + msg.body.dump());
    return out;
}

std::vector<message> run(fleet_model& m, int minutes) {
    std::vector<message> all;
    for (int i = 0; i < minutes; ++i)
        for (auto& msg : m.step()) all.push_back(std::move(msg));
    return all;
}

}  // namespace

TEST_CASE("the same seed gives the same event sequence, another seed a different one") {
    const auto a = event_lines(42, 24 * 60);
    const auto b = event_lines(42, 24 * 60);
    const auto c = event_lines(43, 24 * 60);
    REQUIRE(a.size() > 20);
    CHECK(a == b);
    CHECK(a != c);
}

TEST_CASE("rng streams are reproducible and independent by name") {
    rng x(stream_seed(1, "450100-bc-001")), y(stream_seed(1, "450100-bc-001")),
        z(stream_seed(1, "450100-bc-002"));
    std::vector<std::uint64_t> xs, ys, zs;
    for (int i = 0; i < 8; ++i) {
        xs.push_back(x.next());
        ys.push_back(y.next());
        zs.push_back(z.next());
    }
    CHECK(xs == ys);
    CHECK(xs != zs);
    rng u(7);
    for (int i = 0; i < 1000; ++i) {
        const double v = u.uniform();
        REQUIRE(v >= 0.0);
        REQUIRE(v < 1.0);
    }
}

TEST_CASE("a working day: morning check-outs with badges, evening check-ins, devices in between") {
    fleet_model m({"450100"}, small_fleet(), 5, morning);
    const auto all = run(m, 24 * 60);
    std::set<std::string> removed, inserted;
    std::set<std::string> badges;
    for (const auto& o : m.officers()) badges.insert(o.badge);
    int removals_with_badge = 0;
    for (const auto& msg : all) {
        if (msg.kind != message_kind::dock_event) continue;
        const auto& b = msg.body;
        REQUIRE(b["slot"].is_number_integer());
        if (b["type"] == "slot_remove") {
            removed.insert(b["device_id"].get<std::string>());
            if (b.contains("badge")) {
                CHECK(badges.contains(b["badge"].get<std::string>()));
                ++removals_with_badge;
            }
            // Check-outs happen in the morning (07:30..10:00 local = 23:30..02:00 UTC).
            const auto hour = std::stoi(b["ts"].get<std::string>().substr(11, 2));
            CHECK((hour >= 23 || hour < 2));
        } else {
            CHECK(b["type"] == "slot_insert");
            inserted.insert(b["device_id"].get<std::string>());
        }
    }
    CHECK(removals_with_badge >= 5);
    CHECK(removed.size() >= 5);
    CHECK(inserted.size() >= removed.size() - 2);  // the odd device is lost
    CHECK(m.stats().checkouts == m.stats().dock_events - m.stats().returns);
}

TEST_CASE("body cameras fill storage in the field and offload footage when docked") {
    fleet_model m({"450100"}, small_fleet(), 11, morning);
    const auto all = run(m, 24 * 60);
    bool recorded = false, offloaded = false, pending_seen = false;
    for (const auto& msg : all) {
        if (msg.kind == message_kind::device_event && msg.body["type"] == "recording_stopped") {
            recorded = true;
            CHECK(msg.body["footage_mb"].get<double>() > 0);
        }
        if (msg.kind == message_kind::device_event && msg.body["type"] == "footage_offloaded") {
            offloaded = true;
            CHECK(recorded);
        }
        if (msg.kind == message_kind::telemetry && msg.body.contains("footage_pending_mb") &&
            msg.body["footage_pending_mb"].get<double>() > 0) {
            pending_seen = true;
            CHECK(msg.body["footage_pending_since"].is_string());
            CHECK(msg.body["storage_free_mb"].get<double>() < 64000);
        }
    }
    CHECK(recorded);
    CHECK(pending_seen);
    CHECK(offloaded);
}

TEST_CASE("each class reports its own fields, within the contract's ranges") {
    fleet_model m({"450100"}, small_fleet(), 3, morning);
    const auto all = run(m, 12 * 60);
    std::set<std::string> seen;
    for (const auto& msg : all) {
        if (msg.kind != message_kind::telemetry) continue;
        const auto& t = msg.body;
        REQUIRE(t["battery_pct"].get<double>() >= 0);
        REQUIRE(t["battery_pct"].get<double>() <= 100);
        REQUIRE(t["storage_free_mb"].get<double>() >= 0);
        if (t.contains("registration_id")) {
            seen.insert("drone");
            CHECK(t["battery_cycles"].is_number_unsigned());
            CHECK(t["flight_hours"].get<double>() >= 0);
            CHECK(t["health_codes"].is_array());
        }
        if (t.contains("readings")) {
            seen.insert("analyzer");
            CHECK(t["calibration_due"].get<std::string>().size() == 10);
            CHECK(!t["readings"].empty());
        }
        if (t.contains("recording")) seen.insert("body_camera");
        if (t.contains("slots_total")) {
            seen.insert("dock");
            CHECK(t["slots_occupied"].get<int>() <= t["slots_total"].get<int>());
        }
    }
    CHECK(seen == std::set<std::string>{"body_camera", "drone", "analyzer", "dock"});
}

TEST_CASE("drones fly, analyzers near expiry get calibrated, batteries run low") {
    fleet_config f;
    f.defaults =
        fleet_size{.body_cameras = 30, .drones = 6, .analyzers = 24, .docks = 3, .officers = 30};
    fleet_model m({"450100", "450200"}, f, 9, morning);
    const auto all = run(m, 3 * 24 * 60);
    std::set<std::string> types;
    for (const auto& msg : all)
        if (msg.kind == message_kind::device_event)
            types.insert(msg.body["type"].get<std::string>());
    CHECK(types.contains("flight_started"));
    CHECK(types.contains("flight_ended"));
    CHECK(types.contains("calibrated"));
    CHECK(types.contains("low_battery"));
    CHECK(types.contains("fault"));
    CHECK(m.stats().late_returns > 0);
}

TEST_CASE("a refused check-out puts the device back in its slot") {
    fleet_model m({"450100"}, small_fleet(), 5, morning);
    std::optional<message> removal;
    for (int i = 0; i < 6 * 60 && !removal; ++i)
        for (auto& msg : m.step())
            if (msg.kind == message_kind::dock_event && msg.body["type"] == "slot_remove" &&
                msg.body.contains("badge"))
                removal = msg;
    REQUIRE(removal);
    const auto device = removal->body["device_id"].get<std::string>();
    m.checkout_refused(removal->sender_id, device);
    CHECK(m.stats().refused == 1);
    // It never left, so there is no check-in of it later that day.
    for (const auto& msg : run(m, 18 * 60))
        if (msg.kind == message_kind::dock_event && msg.body["device_id"] == device)
            CHECK(msg.body["type"] != "slot_insert");
}

TEST_CASE("a locked device is not taken out of its dock until it is unlocked") {
    // The devices a dry run of the same seed checks out on day one.
    std::set<std::string> out_on_day_one;
    {
        fleet_model m({"450100"}, small_fleet(), 5, morning);
        for (const auto& msg : run(m, 12 * 60))
            if (msg.kind == message_kind::dock_event && msg.body["type"] == "slot_remove")
                out_on_day_one.insert(msg.body["device_id"].get<std::string>());
    }
    REQUIRE_FALSE(out_on_day_one.empty());
    const std::string locked = *out_on_day_one.begin();

    fleet_model m({"450100"}, small_fleet(), 5, morning);
    m.apply_command(locked, device_cmd_type::lock);
    m.apply_command("450100-bc-999", device_cmd_type::lock);  // unknown ids change nothing
    std::set<std::string> taken;
    for (const auto& msg : run(m, 12 * 60))
        if (msg.kind == message_kind::dock_event && msg.body["type"] == "slot_remove")
            taken.insert(msg.body["device_id"].get<std::string>());
    CHECK_FALSE(taken.contains(locked));
    CHECK(taken.size() == out_on_day_one.size() - 1);
    CHECK(m.stats().locked_left_in_dock == 1);

    // Unlocked, it goes out again on the following days.
    m.apply_command(locked, device_cmd_type::unlock);
    bool out_again = false;
    for (const auto& msg : run(m, 3 * 24 * 60))
        out_again =
            out_again || (msg.kind == message_kind::dock_event &&
                          msg.body["type"] == "slot_remove" && msg.body["device_id"] == locked);
    CHECK(out_again);
}

TEST_CASE("locate makes the device report its position in the next minute") {
    fleet_model m({"450100"}, small_fleet(), 5, morning);
    const std::string id = "450100-an-002";
    const auto telemetry_of = [&](const std::vector<message>& msgs) {
        return std::find_if(msgs.begin(), msgs.end(), [&](const message& x) {
            return x.kind == message_kind::telemetry && x.sender_id == id;
        });
    };
    // Telemetry comes every 5 minutes: wait for one, so the next minute has none of its own.
    for (int i = 0; i < telemetry_every_steps; ++i) {
        const auto msgs = m.step();
        if (telemetry_of(msgs) != msgs.end()) break;
    }
    m.apply_command("450100-bc-999", device_cmd_type::locate);  // unknown ids change nothing
    m.apply_command(id, device_cmd_type::locate);
    const auto msgs = m.step();
    const auto it = telemetry_of(msgs);
    REQUIRE(it != msgs.end());
    CHECK(it->body["gps"].contains("lat"));
    CHECK(it->body["gps"].contains("lon"));
    CHECK(m.stats().located == 1);
    // Only once: the minute after is quiet again.
    const auto after = m.step();
    CHECK(telemetry_of(after) == after.end());
}

TEST_CASE("fleet files: defaults, per-city overrides and rejected input") {
    auto ok = parse_fleet_config(nlohmann::json::parse(
        R"({"defaults":{"body_cameras":10,"docks":2},"cities":{"450100":{"drones":1}}})"));
    REQUIRE(ok);
    CHECK(ok->for_city("450200") ==
          fleet_size{.body_cameras = 10, .drones = 6, .analyzers = 12, .docks = 2});
    CHECK(ok->for_city("450100").drones == 1);
    CHECK(ok->for_city("450100").body_cameras == 10);

    auto [text, field] = GENERATE(table<std::string, std::string>({
        {R"({"defaults":{"cameras":3}})", "defaults.cameras"},
        {R"({"defaults":{"drones":-1}})", "defaults.drones"},
        {R"({"defaults":{"drones":1.5}})", "defaults.drones"},
        {R"({"cities":{"999999":{}}})", "cities.999999"},
        {R"({"cities":{"450100":{"docks":0}}})", "cities.450100.docks"},
        {R"({"region":{}})", "region"},
    }));
    auto bad = parse_fleet_config(nlohmann::json::parse(text));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().field == field);
}

TEST_CASE("the default fleet of all 14 cities") {
    std::vector<std::string> codes;
    for (const auto& c : eqm::region_cities) codes.emplace_back(c.code);
    REQUIRE(codes.size() == 14);
    fleet_model m(codes, fleet_config{}, 1, morning);
    CHECK(m.devices().size() == 14u * (60 + 6 + 12 + 4));
    CHECK(m.officers().size() == 14u * 60);
    std::set<std::string> ids;
    for (const auto& d : m.devices()) ids.insert(d.id);
    CHECK(ids.size() == m.devices().size());
}
