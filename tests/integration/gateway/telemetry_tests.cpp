// Telemetry order and time: the latest reading of a device is the one with the highest seq of
// its current session (bd_seq), and readings stamped far from the gateway's clock are refused.
#include <catch2/catch.hpp>

#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

void publish_reading(city_fixture& f, const std::string& device_id, std::uint64_t seq,
                     double battery, const std::string& ts) {
    json t{{"ts", ts},
           {"seq", seq},
           {"battery_pct", battery},
           {"storage_free_mb", 1000},
           {"temp_c", 25}};
    f.dock().publish("eqm/v1/dev/" + device_id + "/telemetry", t.dump(), 0);
}

void publish_birth(city_fixture& f, const std::string& device_id, std::uint64_t bd_seq) {
    json b{{"ts", now_ts()},         {"online", true}, {"bd_seq", bd_seq},
           {"class", "body_camera"}, {"model", "M-1"}, {"fw", "1.0." + std::to_string(bd_seq)}};
    f.dock().publish("eqm/v1/dev/" + device_id + "/state", b.dump(), 1);
}

json device_json(city_fixture& f, const std::string& id) {
    return f.get("/api/v1/devices/" + id).as_json();
}

bool battery_becomes(city_fixture& f, const std::string& id, double battery) {
    return eqm::test::wait_until(
        [&] {
            const auto d = device_json(f, id);
            return d.contains("battery_pct") && d["battery_pct"] == battery;
        },
        wait_timeout, 20ms);
}

}  // namespace

TEST_CASE(
    "a reading stamped a day ahead is refused and counted, and readiness follows the "
    "correct readings after it",
    "[telemetry]") {
    city_fixture f;  // default thresholds: a body camera needs 80 %
    f.register_fleet(json::array({device("bc-clock")}), json::array({person("p-1", "b-1")}));

    // The device's clock runs a day ahead: before, this pinned its readiness to this reading.
    publish_reading(f, "bc-clock", 1, 10, now_ts(24h));
    REQUIRE(eqm::test::wait_until(
        [&] { return f.metric("eqm_gateway_telemetry_refused_total", "reason=\"ts_ahead\"") == 1; },
        wait_timeout));
    CHECK_FALSE(device_json(f, "bc-clock").contains("battery_pct"));

    // Its clock is fixed: the correct readings count.
    publish_reading(f, "bc-clock", 2, 95, now_ts());
    REQUIRE(battery_becomes(f, "bc-clock", 95));
    CHECK(device_json(f, "bc-clock")["readiness"]["ready"] == true);
    publish_reading(f, "bc-clock", 3, 60, now_ts());
    REQUIRE(battery_becomes(f, "bc-clock", 60));
    CHECK(device_json(f, "bc-clock")["readiness"]["ready"] == false);

    // Two days behind is refused too, and the refusal is logged with its reason.
    publish_reading(f, "bc-clock", 4, 99, now_ts(-48h));
    REQUIRE(eqm::test::wait_until(
        [&] {
            return f.metric("eqm_gateway_telemetry_refused_total", "reason=\"ts_behind\"") == 1;
        },
        wait_timeout));
    CHECK(device_json(f, "bc-clock")["battery_pct"] == 60);
    CHECK(f.log().find("ts_ahead") != std::string::npos);
}

TEST_CASE(
    "the latest reading is the highest seq of the device's current session, whatever its "
    "ts says",
    "[telemetry]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-seq")}), json::array({person("p-1", "b-1")}));
    publish_birth(f, "bc-seq", 1);
    publish_reading(f, "bc-seq", 50, 90, now_ts(-2s));
    REQUIRE(battery_becomes(f, "bc-seq", 90));

    // An older reading of the same session arrives late (QoS 0 may reorder), stamped later.
    publish_reading(f, "bc-seq", 49, 20, now_ts(1s));
    REQUIRE(eqm::test::wait_until(
        [&] { return f.metric("eqm_gateway_telemetry_out_of_order_total") == 1; }, wait_timeout));
    CHECK(device_json(f, "bc-seq")["battery_pct"] == 90);

    // The device restarts: a new session counts seq from the start again.
    publish_birth(f, "bc-seq", 2);
    REQUIRE(eqm::test::wait_until(  // the birth is handled (and reported) before the reading
        [&] {
            for (const auto& e : f.server().events())
                if (const auto* s = std::get_if<eqm::device_state_body>(&e.body);
                    s && s->device_id == "bc-seq" && s->bd_seq == 2)
                    return true;
            return false;
        },
        wait_timeout));
    publish_reading(f, "bc-seq", 1, 85, now_ts());
    REQUIRE(battery_becomes(f, "bc-seq", 85));
    publish_reading(f, "bc-seq", 2, 84, now_ts());
    REQUIRE(battery_becomes(f, "bc-seq", 84));
}
