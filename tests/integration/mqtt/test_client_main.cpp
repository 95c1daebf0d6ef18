// A device-like MQTT client for the integration tests: connects with a retained Last Will
// and a retained birth on <state_topic>, both carrying the same bd_seq, prints "up" once
// connected, and runs until SIGTERM/SIGINT (clean disconnect: no will) or SIGKILL (will).
// Usage: eqm_mqtt_test_client URI CLIENT_ID STATE_TOPIC
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "eqm/mqtt/session.hpp"
#include "eqm/runtime/log.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s URI CLIENT_ID STATE_TOPIC\n", argv[0]);
        return 2;
    }
    const std::string state_topic = argv[3];
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    // Blocked before any thread starts, so only sigwait below sees them.
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::atomic<int> bd_seq{-1};
    eqm::mqtt::session_options options;
    options.server_uri = argv[1];
    options.client_id = argv[2];
    options.keep_alive = std::chrono::seconds{5};
    options.reconnect_min = std::chrono::milliseconds{100};
    options.reconnect_max = std::chrono::milliseconds{1000};
    options.log = eqm::log_sink(eqm::log_level::info, "mqtt");
    options.make_will = [&] {
        const int seq = ++bd_seq;
        return std::optional<eqm::mqtt::outgoing_message>(
            {state_topic, R"({"online":false,"bd_seq":)" + std::to_string(seq) + "}", 1, true});
    };
    options.make_birth = [&] {
        return std::optional<eqm::mqtt::outgoing_message>(
            {state_topic, R"({"online":true,"bd_seq":)" + std::to_string(bd_seq.load()) + "}", 1,
             true});
    };
    auto session = eqm::mqtt::session::create(std::move(options));
    if (!session) {
        std::fprintf(stderr, "%s\n", session.error().describe().c_str());
        return 2;
    }
    (*session)->on_connection([](bool up) {
        std::printf("%s\n", up ? "up" : "down");
        std::fflush(stdout);
    });
    (*session)->start();
    int signo = 0;
    sigwait(&stop_signals, &signo);
    return 0;  // the session's destructor disconnects cleanly
}
