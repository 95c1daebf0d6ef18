// Back-pressure without waiting: the core's queue refuses what does not fit, telemetry has the
// smaller share of it, and nothing that is state (a broker link going down or up) is ever
// refused. Real Mosquitto, the real gateway, a QoS 0 flood from the test.
#include <catch2/catch.hpp>

#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

bool healthz_ok(city_fixture& f) {
    return http_call(f.http_port(), "GET", "/healthz").status == 200;
}

bool central_link_is(city_fixture& f, bool up) {
    auto r = http_call(f.http_port(), "GET", "/healthz");
    return r.status == 200 && r.as_json().value("central_mqtt", !up) == up;
}

}  // namespace

TEST_CASE(
    "under a telemetry flood at the queue limit every dock check-out is acked and /healthz "
    "answers",
    "[queue]") {
    city_fixture f({{"--queue-max-items", "64", "--min-battery-body-camera", "0"}});
    json devices = json::array();
    for (int i = 0; i < 20; ++i) devices.push_back(device("bc-q" + std::to_string(i)));
    f.register_fleet(devices, json::array({person("p-1", "b-1")}));

    telemetry_flood flood(f.local().uri(), 500);
    REQUIRE(eqm::test::wait_until([&] { return flood.sent() > 20'000; }, wait_timeout));
    // Each dock event is sent once: under the flood it must still be taken and acked.
    for (int i = 0; i < 20; ++i) {
        const auto id = "bc-q" + std::to_string(i);
        CHECK(f.dock_event("ev-q" + std::to_string(i), "slot_remove", id, "b-1") == "ok");
        CHECK(healthz_ok(f));
    }
    flood.stop();
    INFO("flood sent " << flood.sent());
    // The flood was really held at the limit, and only telemetry was refused.
    CHECK(f.metric("eqm_gateway_queue_refused_total", "kind=\"telemetry\"") > 0);
    CHECK(f.metric("eqm_gateway_queue_refused_total", "kind=\"dock_event\"") == 0);
    CHECK(f.metric("eqm_gateway_queue_refused_total", "kind=\"http\"") == 0);
    CHECK(f.metric("eqm_gateway_custody_decisions_total", "result=\"ok\"") == 20);
}

TEST_CASE(
    "a central broker restart during a telemetry flood at the queue limit is never lost: "
    "the link goes down, comes back, and events flow again",
    "[queue]") {
    city_fixture f({{"--queue-max-items", "16", "--min-battery-body-camera", "0"}});
    f.register_fleet(json::array({device("bc-link")}), json::array({person("p-1", "b-1")}));
    telemetry_flood flood(f.local().uri(), 500);
    REQUIRE(eqm::test::wait_until([&] { return flood.sent() > 20'000; }, wait_timeout));

    f.central().stop();
    CHECK(eqm::test::wait_until([&] { return central_link_is(f, false); }, wait_timeout, 50ms));
    f.central().start();
    CHECK(eqm::test::wait_until([&] { return central_link_is(f, true); }, wait_timeout, 50ms));
    REQUIRE(f.server().wait_connected());

    // The outbox knows the link is back: a decision made now reaches the server at once.
    REQUIRE(f.dock_event("ev-link", "slot_remove", "bc-link", "b-1") == "ok");
    CHECK(eqm::test::wait_until(
        [&] {
            for (const auto& e : f.server().events())
                if (const auto* r = std::get_if<eqm::custody_record>(&e.body);
                    r && r->request_id == "ev-link")
                    return true;
            return false;
        },
        wait_timeout));
    flood.stop();
    CHECK(f.metric("eqm_gateway_queue_refused_total", "kind=\"telemetry\"") > 0);
}
