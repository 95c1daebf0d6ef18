// mqtt_flood: publishes N messages as fast as the broker takes them, spread over D clients'
// topics, for the gateway benchmarks. One connection (the broker sees the same stream whatever
// the connection count; the gateway is what is measured).
//
//   mqtt_flood URI COUNT DEVICES QOS TOPIC_TEMPLATE PAYLOAD_TEMPLATE
// In both templates "{d}" becomes the device number (0..DEVICES-1, round robin) and "{n}" the
// message number. Prints "sent COUNT in S s (R msg/s)" on stdout.
#include <mqtt/async_client.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace {

std::string fill(std::string text, const std::string& d, const std::string& n) {
    for (auto at = text.find("{d}"); at != std::string::npos; at = text.find("{d}", at + d.size()))
        text.replace(at, 3, d);
    for (auto at = text.find("{n}"); at != std::string::npos; at = text.find("{n}", at + n.size()))
        text.replace(at, 3, n);
    return text;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr,
                     "usage: mqtt_flood URI COUNT DEVICES QOS TOPIC_TEMPLATE PAYLOAD_TEMPLATE\n");
        return 2;
    }
    try {
        const std::string uri = argv[1];
        const long count = std::stol(argv[2]);
        const long devices = std::stol(argv[3]);
        const int qos = std::stoi(argv[4]);
        mqtt::async_client client(uri, "bench-flood-" + std::to_string(::getpid()),
                                  mqtt::create_options(MQTTVERSION_3_1_1, 100000));
        auto opts =
            mqtt::connect_options_builder().clean_session(true).max_inflight(1000).finalize();
        client.connect(opts)->wait();
        const auto start = std::chrono::steady_clock::now();
        mqtt::delivery_token_ptr last;
        for (long n = 0; n < count; ++n) {
            const auto d = std::to_string(n % devices);
            const auto ns = std::to_string(n);
            auto msg = mqtt::make_message(fill(argv[5], d, ns), fill(argv[6], d, ns), qos, false);
            // Paho refuses when its send queue is full: wait for the previous one and retry.
            for (;;) {
                try {
                    last = client.publish(msg);
                    break;
                } catch (const mqtt::exception&) {
                    if (last) last->wait();
                }
            }
            if (qos > 0 && n % 500 == 499) last->wait();
        }
        if (last) last->wait();
        client.disconnect()->wait();
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("sent %ld in %.3f s (%.0f msg/s)\n", count, s, static_cast<double>(count) / s);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mqtt_flood: %s\n", e.what());
        return 1;
    }
}
