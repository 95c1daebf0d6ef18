// A device process for the integration tests: opens one SDK session, emits a given number of
// events once connected, prints what happens on stdout, and runs until it is killed.
//   sim_device_helper BROKER_URI STATE_DIR DEVICE_ID EVENTS RESEND_MS
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "eqm/device/device.hpp"

int main(int argc, char** argv) {
    if (argc != 6) {
        std::cerr << "usage: sim_device_helper BROKER_URI STATE_DIR DEVICE_ID EVENTS RESEND_MS\n";
        return 2;
    }
    std::mutex out_mutex;
    auto say = [&](const std::string& line) {
        std::lock_guard lock(out_mutex);
        std::cout << line << std::endl;
    };
    eqm::device::device_options o;
    o.broker_uri = argv[1];
    o.state_dir = argv[2];
    o.id = argv[3];
    o.model = "helper";
    o.resend_interval = std::chrono::milliseconds(std::stoi(argv[5]));
    o.reconnect_min = std::chrono::milliseconds(50);
    o.reconnect_max = std::chrono::milliseconds(500);
    o.log = [&](eqm::log_level, std::string_view line) { say("log " + std::string(line)); };
    auto s = eqm::device::device_session::open(o);
    if (!s) {
        std::cerr << s.error().describe() << '\n';
        return 1;
    }
    auto& dev = **s;
    dev.set_command_handler(
        [&](const nlohmann::json& cmd) { say("command " + cmd["type"].get<std::string>()); });
    dev.set_ack_handler([&](const std::string& id, const std::string& result) {
        say("acked " + id + " " + result);
    });
    while (!dev.connected()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    say("connected bd_seq " + std::to_string(dev.bd_seq()) + " pending " +
        std::to_string(dev.pending_events()));
    for (int i = 0; i < std::stoi(argv[4]); ++i) {
        auto id = dev.emit_event({{"type", "fault"}, {"code", "helper"}});
        say(id ? "emitted " + *id : "emit failed " + id.error().describe());
    }
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
