// eqm::mqtt::message_queue: the hand-off from Paho's thread to the gateway's or the server's
// thread. A push never waits, whatever the consumer does.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "eqm/mqtt/message_queue.hpp"
#include "eqm/test/wait.hpp"

using namespace std::chrono_literals;
using eqm::mqtt::inbound_message;
using eqm::mqtt::message_queue;
using eqm::mqtt::overflow_policy;
using eqm::mqtt::queue_limits;

TEST_CASE("message_queue drop_oldest keeps the newest items and counts the drops") {
    message_queue queue(queue_limits{3, 1 << 20}, overflow_policy::drop_oldest);
    for (int i = 0; i < 5; ++i) REQUIRE(queue.push({"t", std::to_string(i)}));
    CHECK(queue.size() == 3);
    CHECK(queue.dropped() == 2);
    std::vector<inbound_message> out;
    CHECK(queue.drain(out) == 3);
    REQUIRE(out.size() == 3);
    CHECK(out[0].payload == "2");
    CHECK(out[2].payload == "4");
    CHECK_FALSE(queue.try_pop().has_value());
    CHECK(queue.bytes() == 0);
}

TEST_CASE(
    "message_queue reject refuses what does not fit, by items and by bytes, without waiting") {
    message_queue by_items(queue_limits{2, 1 << 20}, overflow_policy::reject);
    CHECK(by_items.push({"t", "a"}));
    CHECK(by_items.push({"t", "b"}));
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(by_items.push({"t", "c"}));
    CHECK(std::chrono::steady_clock::now() - start < 100ms);
    CHECK(by_items.rejected() == 1);
    CHECK(by_items.pop(10ms)->payload == "a");
    CHECK(by_items.push({"t", "d"}));

    message_queue by_bytes(queue_limits{100, 10}, overflow_policy::reject);
    CHECK(by_bytes.push({"t", "12345"}));  // 6 bytes
    CHECK(by_bytes.bytes() == 6);
    CHECK_FALSE(by_bytes.push({"t", "12345"}));  // 12 > 10
    CHECK(by_bytes.push({"t", "12"}));           // 9
    CHECK(by_bytes.rejected() == 1);
    std::vector<inbound_message> out;
    CHECK(by_bytes.drain(out) == 2);
    CHECK(by_bytes.bytes() == 0);
    // One message over the byte bound on its own still goes into an empty queue.
    CHECK(by_bytes.push({"t", std::string(100, 'x')}));
    CHECK_FALSE(by_bytes.push({"t", "y"}));
}

TEST_CASE("message_queue producers never wait for a consumer that is busy elsewhere") {
    message_queue queue(queue_limits{4, 1 << 20}, overflow_policy::reject);
    std::atomic<int> accepted{0}, refused{0};
    std::thread producer([&] {
        for (int i = 0; i < 1000; ++i) (queue.push({"t", "x"}) ? accepted : refused)++;
    });
    CHECK(eqm::test::wait_until([&] { return accepted + refused == 1000; }, 2s));
    producer.join();
    CHECK(accepted == 4);
    CHECK(refused == 996);
    CHECK(queue.rejected() == 996);
}

TEST_CASE("closing a message_queue wakes the consumer and refuses new items") {
    message_queue queue(queue_limits{1, 1 << 20});
    REQUIRE(queue.push({"t", "kept"}));
    std::thread closer([&] {
        std::this_thread::sleep_for(20ms);
        queue.close();
    });
    CHECK(queue.pop(5s)->payload == "kept");
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(queue.pop(5s).has_value());
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    closer.join();
    CHECK_FALSE(queue.push({"t", "late"}));
}
