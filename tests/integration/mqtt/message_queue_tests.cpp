// eqm::mqtt::message_queue: the hand-off from Paho's thread to the gateway's thread.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "eqm/mqtt/message_queue.hpp"
#include "eqm/test/wait.hpp"

using namespace std::chrono_literals;
using eqm::mqtt::inbound_message;
using eqm::mqtt::message_queue;
using eqm::mqtt::overflow_policy;

TEST_CASE("message_queue drop_oldest keeps the newest items and counts the drops") {
    message_queue queue(3, overflow_policy::drop_oldest);
    for (int i = 0; i < 5; ++i) REQUIRE(queue.push({"t", std::to_string(i)}));
    CHECK(queue.size() == 3);
    CHECK(queue.dropped() == 2);
    std::vector<inbound_message> out;
    CHECK(queue.drain(out) == 3);
    REQUIRE(out.size() == 3);
    CHECK(out[0].payload == "2");
    CHECK(out[2].payload == "4");
    CHECK_FALSE(queue.try_pop().has_value());
}

TEST_CASE("message_queue block policy makes the producer wait for room") {
    message_queue queue(1, overflow_policy::block);
    REQUIRE(queue.push({"t", "first"}));
    std::atomic<bool> second_pushed{false};
    std::thread producer([&] {
        queue.push({"t", "second"});
        second_pushed = true;
    });
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(second_pushed);
    auto first = queue.pop(1s);
    REQUIRE(first.has_value());
    CHECK(first->payload == "first");
    CHECK(eqm::test::wait_until([&] { return second_pushed.load(); }, 2s));
    producer.join();
    CHECK(queue.pop(1s)->payload == "second");
    CHECK(queue.dropped() == 0);
}

TEST_CASE("closing a message_queue wakes waiters and refuses new items") {
    message_queue queue(1, overflow_policy::block);
    REQUIRE(queue.push({"t", "kept"}));
    std::atomic<int> blocked_result{-1};
    std::thread producer([&] { blocked_result = queue.push({"t", "refused"}) ? 1 : 0; });
    std::this_thread::sleep_for(20ms);
    queue.close();
    producer.join();
    CHECK(blocked_result == 0);
    CHECK_FALSE(queue.push({"t", "late"}));
    CHECK(queue.pop(10ms)->payload == "kept");
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(queue.pop(5s).has_value());
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}
