// The device SDK against a real Mosquitto: an event not acked when the device process is
// SIGKILLed is resent after the restart, and once acked it is never sent again; bd_seq grows
// with every connect; garbage commands and acks do not bring the device down.
#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include "eqm/test/support.hpp"
#include "test_gateway.hpp"

using namespace std::chrono_literals;
using eqm::test::child_process;
using eqm::test::wait_until;

namespace {

child_process start_device(const eqm::test::mosquitto_broker& broker,
                           const eqm::test::temp_dir& dir, const std::string& id, int events,
                           const std::string& log_name) {
    eqm::test::process_options po;
    po.argv = {EQM_SIM_DEVICE_HELPER,  broker.uri(), (dir / "state").string(), id,
               std::to_string(events), "200"};
    po.stdout_path = dir / log_name;
    return child_process(std::move(po));
}

}  // namespace

TEST_CASE("an unacked event survives SIGKILL, is resent after restart, and stops once acked") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir("sim-resend");
    eqm::test::test_gateway gateway(broker.uri());
    const std::string id = "450100-bc-007";

    // Run 1: the event goes out, but the gateway is not acking yet; then the device dies.
    std::string event_id;
    {
        auto dev = start_device(broker, dir, id, 1, "run1.log");
        REQUIRE(wait_until([&] { return !gateway.receipts().empty(); }, 10s));
        event_id = gateway.receipts().begin()->first;
        dev.signal(SIGKILL);
        dev.wait_for_exit(5s);
    }
    CHECK(event_id.starts_with(id + "-"));

    // Run 2: the restarted device resends it from its outbox; the gateway now applies and acks.
    gateway.acking = true;
    {
        auto dev = start_device(broker, dir, id, 0, "run2.log");
        REQUIRE(wait_until([&] { return gateway.applied().contains(event_id); }, 10s));
        // The device recorded the ack durably before we kill it.
        REQUIRE(eqm::test::wait_for_log_line(dir / "run2.log", "acked " + event_id + " ok", 10s));
        dev.signal(SIGKILL);
        dev.wait_for_exit(5s);
    }
    const int receipts_before = gateway.receipts().at(event_id);
    CHECK(receipts_before >= 2);

    // Run 3: nothing is pending any more, so nothing is resent (resend interval is 200 ms).
    {
        auto dev = start_device(broker, dir, id, 0, "run3.log");
        REQUIRE(eqm::test::wait_for_log_line(dir / "run3.log", "connected", 10s));
        CHECK(eqm::test::read_file(dir / "run3.log").find("pending 0") != std::string::npos);
        std::this_thread::sleep_for(1500ms);
        CHECK(gateway.receipts().at(event_id) == receipts_before);
    }
    // Exactly once in effect: one distinct event applied.
    CHECK(gateway.applied() == std::set<std::string>{event_id});
    CHECK(gateway.receipts().size() == 1);

    // bd_seq went up with every connect, and each run's birth was seen.
    const auto births = gateway.births();
    REQUIRE(births.size() >= 3);
    for (std::size_t i = 1; i < births.size(); ++i) CHECK(births[i] > births[i - 1]);
}

TEST_CASE("unparseable commands and acks are logged and ignored, and the device keeps working") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir("sim-badinput");
    eqm::test::test_gateway gateway(broker.uri());
    const std::string id = "450100-dr-001";
    auto dev = start_device(broker, dir, id, 1, "dev.log");
    REQUIRE(wait_until([&] { return !gateway.receipts().empty(); }, 10s));

    for (const std::string bad : {"", "not json", "[1,2,3]", R"({"event_ids":"x"})",
                                  R"({"cmd_id":5,"type":"lock"})", "{\"ts\":\"\xff\xfe\"}"}) {
        gateway.publish("eqm/v1/ack/" + id, bad);
        gateway.publish("eqm/v1/dev/" + id + "/cmd", bad);
    }
    gateway.publish("eqm/v1/dev/" + id + "/cmd",
                    R"({"cmd_id":"c1","ts":"2026-03-02T00:00:00.000Z","type":"locate"})");
    REQUIRE(eqm::test::wait_for_log_line(dir / "dev.log", "command locate", 10s));
    CHECK(eqm::test::read_file(dir / "dev.log").find("unparseable device=") != std::string::npos);
    CHECK(dev.running());
    // And a good ack still clears the outbox.
    gateway.acking = true;
    REQUIRE(eqm::test::wait_for_log_line(dir / "dev.log", "acked ", 10s));
}

TEST_CASE("a device reconnects after the broker goes away and comes back") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir("sim-reconnect");
    const std::string id = "450100-an-003";
    auto dev = start_device(broker, dir, id, 0, "dev.log");
    REQUIRE(eqm::test::wait_for_log_line(dir / "dev.log", "connected bd_seq", 10s));
    broker.kill();
    REQUIRE(eqm::test::wait_for_log_line(dir / "dev.log", "disconnected device=", 10s));
    broker.start();
    // The gateway stand-in connects after the restart and sees the retained re-birth.
    eqm::test::test_gateway gateway(broker.uri());
    REQUIRE(
        wait_until([&] { return !gateway.births().empty() && gateway.births().back() >= 2; }, 15s));
}
