// eqm::mqtt::session against a real Mosquitto: round trips, birth and Last Will,
// reconnect after a broker outage, authentication and ACLs, callback isolation.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "eqm/mqtt/session.hpp"
#include "eqm/test/support.hpp"

using namespace std::chrono_literals;
using eqm::errc;
using eqm::mqtt::session;
using eqm::mqtt::session_options;

namespace {

constexpr std::chrono::milliseconds up_timeout{10000};
constexpr std::chrono::milliseconds message_timeout{5000};

/// Collects messages from a session's callback thread for the test thread to inspect.
class inbox {
  public:
    void add(std::string topic, std::string payload) {
        std::lock_guard lock(mutex_);
        messages_.push_back({std::move(topic), std::move(payload)});
    }
    bool wait_for(const std::string& topic, const std::string& payload,
                  std::chrono::milliseconds timeout = message_timeout) const {
        return eqm::test::wait_until([&] { return contains(topic, payload); }, timeout);
    }
    bool contains(const std::string& topic, const std::string& payload) const {
        std::lock_guard lock(mutex_);
        for (const auto& [t, p] : messages_) {
            if (t == topic && p == payload) return true;
        }
        return false;
    }
    std::size_t count(const std::string& topic) const {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto& m : messages_) n += m.first == topic ? 1 : 0;
        return n;
    }
    std::vector<std::string> payloads(const std::string& topic) const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [t, p] : messages_) {
            if (t == topic) out.push_back(p);
        }
        return out;
    }

  private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> messages_;
};

session_options options_for(const std::string& uri, const std::string& client_id) {
    session_options options;
    options.server_uri = uri;
    options.client_id = client_id;
    options.keep_alive = 5s;
    options.reconnect_min = 50ms;
    options.reconnect_max = 400ms;
    options.log = [](std::string_view) {};
    return options;
}

std::unique_ptr<session> make_session(session_options options) {
    auto s = session::create(std::move(options));
    REQUIRE(s.has_value());
    return std::move(*s);
}

/// A started session subscribed to `filter`, feeding `box`, already up.
std::unique_ptr<session> subscriber(const std::string& uri, const std::string& id,
                                    const std::string& filter, inbox& box, int qos = 1) {
    auto options = options_for(uri, id);
    options.subscriptions.push_back({filter, qos});
    auto s = make_session(std::move(options));
    s->on_message([&box](std::string topic, std::string payload) {
        box.add(std::move(topic), std::move(payload));
    });
    s->start();
    REQUIRE(s->wait_connected(up_timeout));
    return s;
}

std::unique_ptr<session> publisher(const std::string& uri, const std::string& id) {
    auto s = make_session(options_for(uri, id));
    s->start();
    REQUIRE(s->wait_connected(up_timeout));
    return s;
}

/// TCP_NODELAY of each of this process's connections to 127.0.0.1:`port`.
std::vector<int> nodelay_towards(std::uint16_t port) {
    std::vector<int> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        const int fd = std::atoi(entry.path().filename().c_str());
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
            peer.sin_family != AF_INET || ntohs(peer.sin_port) != port)
            continue;
        int on = 0;
        len = sizeof on;
        if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0) out.push_back(on);
    }
    return out;
}

void run_or_fail(const std::string& command) {
    INFO(command);
    REQUIRE(std::system(command.c_str()) == 0);
}

}  // namespace

TEST_CASE("messages round-trip through the broker at QoS 0 and 1") {
    const int qos = GENERATE(0, 1);
    eqm::test::mosquitto_broker broker;
    inbox box;
    auto sub = subscriber(broker.uri(), "sub", "eqm/v1/dev/+/telemetry", box, qos);
    auto pub = publisher(broker.uri(), "pub");

    std::atomic<int> delivered{0};
    std::atomic<int> delivery_failures{0};
    const std::string payload = R"({"seq":1,"battery_pct":87})";
    REQUIRE(pub->publish("eqm/v1/dev/cam-1/telemetry", payload, qos, false,
                         [&](eqm::result<void> r) { (r ? delivered : delivery_failures)++; }));
    CHECK(box.wait_for("eqm/v1/dev/cam-1/telemetry", payload));
    CHECK(eqm::test::wait_until([&] { return delivered == 1; }, message_timeout));
    CHECK(delivery_failures == 0);
    // A topic outside the filter is not delivered.
    REQUIRE(pub->publish("eqm/v1/dev/cam-1/event", "{}", qos));
    REQUIRE(pub->publish("eqm/v1/dev/cam-2/telemetry", "second", qos));
    CHECK(box.wait_for("eqm/v1/dev/cam-2/telemetry", "second"));
    CHECK(box.count("eqm/v1/dev/cam-1/event") == 0);
    CHECK(sub->stats().messages_received == 2);
}

TEST_CASE("publishing while not connected fails at once with unavailable") {
    eqm::test::mosquitto_broker broker;
    auto s = make_session(options_for(broker.uri(), "idle"));
    auto r = s->publish("eqm/v1/x", "payload", 1);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::unavailable);
    CHECK(s->stats().publish_failures == 1);

    auto bad = s->publish("eqm/v1/+/x", "payload", 1);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == errc::bad_field);
}

TEST_CASE("bad session options are rejected with the field named") {
    auto options = options_for("127.0.0.1:1883", "x");
    auto s = session::create(options);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().field == "server_uri");
    options.server_uri = "tcp://127.0.0.1:1883";
    options.client_id.clear();
    s = session::create(options);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().field == "client_id");
    // Every line goes through the program's logger: a session without one is refused.
    options.client_id = "x";
    options.log = nullptr;
    s = session::create(options);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().field == "log");
}

TEST_CASE("a killed client's Last Will is delivered and replaces its retained birth") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir;
    const std::string topic = "eqm/v1/dev/cam-7/state";
    inbox box;
    auto observer = subscriber(broker.uri(), "observer", topic, box);

    const auto out = dir / "client.out";
    eqm::test::child_process client({.argv = {EQM_MQTT_TEST_CLIENT, broker.uri(), "cam-7", topic},
                                     .env = {},
                                     .stdout_path = out,
                                     .stderr_path = dir / "client.err",
                                     .working_dir = {}});
    REQUIRE(eqm::test::wait_for_log_line(out, "up", up_timeout));
    CHECK(box.wait_for(topic, R"({"online":true,"bd_seq":0})"));

    // SIGKILL: the TCP connection closes without DISCONNECT, as on a power cut.
    REQUIRE(client.signal(SIGKILL));
    REQUIRE(client.wait_for_exit(5s).has_value());
    CHECK(box.wait_for(topic, R"({"online":false,"bd_seq":0})"));

    // The will was retained: a dashboard that subscribes later sees the device offline.
    inbox late_box;
    auto late = subscriber(broker.uri(), "late", topic, late_box);
    CHECK(late_box.wait_for(topic, R"({"online":false,"bd_seq":0})"));
}

TEST_CASE("a clean shutdown does not trigger the Last Will") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir;
    const std::string topic = "eqm/v1/dev/cam-8/state";
    inbox box;
    auto observer = subscriber(broker.uri(), "observer", topic, box);
    eqm::test::child_process client({.argv = {EQM_MQTT_TEST_CLIENT, broker.uri(), "cam-8", topic},
                                     .env = {},
                                     .stdout_path = dir / "client.out",
                                     .stderr_path = dir / "client.err",
                                     .working_dir = {}});
    REQUIRE(box.wait_for(topic, R"({"online":true,"bd_seq":0})", up_timeout));
    REQUIRE(client.signal(SIGTERM));
    REQUIRE(client.wait_for_exit(5s) == std::optional<int>{0});
    // A marker published after the disconnect: once it arrives, a will would have too.
    auto pub = publisher(broker.uri(), "marker");
    REQUIRE(pub->publish(topic, "marker", 1));
    REQUIRE(box.wait_for(topic, "marker"));
    CHECK(box.payloads(topic) ==
          std::vector<std::string>{R"({"online":true,"bd_seq":0})", "marker"});
}

TEST_CASE("the session reconnects after a broker restart and restores subscriptions and birth") {
    eqm::test::mosquitto_broker broker;
    const std::string topic = "eqm/v1/city/450100/srv/cmd";
    std::atomic<int> births{0};
    std::atomic<int> ups{0};
    std::atomic<int> downs{0};
    inbox box;
    auto options = options_for(broker.uri(), "gw-450100");
    options.subscriptions.push_back({topic, 1});
    options.make_birth = [&] {
        const int n = births++;
        return std::optional<eqm::mqtt::outgoing_message>(
            {"eqm/v1/city/450100/gw/state", "birth-" + std::to_string(n), 1, true});
    };
    auto gw = make_session(std::move(options));
    gw->on_message([&](std::string t, std::string p) { box.add(std::move(t), std::move(p)); });
    gw->on_connection([&](bool up) { (up ? ups : downs)++; });
    gw->start();
    REQUIRE(gw->wait_connected(up_timeout));
    CHECK(births == 1);
    CHECK(eqm::test::wait_until([&] { return ups == 1; }, 2s));

    broker.stop();
    REQUIRE(eqm::test::wait_until([&] { return !gw->connected(); }, 5s));
    // on_connection runs just after the state flips, on the session's thread.
    CHECK(eqm::test::wait_until([&] { return downs == 1; }, 2s));
    auto refused = gw->publish("eqm/v1/city/450100/gw/events", "{}", 1);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == errc::unavailable);

    broker.start();
    REQUIRE(gw->wait_connected(up_timeout));
    CHECK(eqm::test::wait_until([&] { return ups == 2; }, 2s));
    CHECK(births == 2);
    CHECK(gw->stats().connects == 2);
    CHECK(gw->stats().connection_losses == 1);

    // The broker forgot everything (clean session, no persistence): the command only
    // arrives if the session re-subscribed by itself.
    auto server = publisher(broker.uri(), "server");
    REQUIRE(server->publish(topic, "cmd-after-restart", 1));
    CHECK(box.wait_for(topic, "cmd-after-restart"));
    // And the birth was re-published (retained) on the new broker.
    inbox state_box;
    auto watcher = subscriber(broker.uri(), "watcher", "eqm/v1/city/450100/gw/state", state_box);
    CHECK(state_box.wait_for("eqm/v1/city/450100/gw/state", "birth-1"));
    // Publishing works again.
    CHECK(gw->publish("eqm/v1/city/450100/gw/events", "{}", 1));
}

TEST_CASE("password authentication and an ACL that denies a topic") {
    eqm::test::temp_dir dir;
    const auto passwords = dir / "passwd";
    const auto acl = dir / "acl";
    run_or_fail("mosquitto_passwd -b -c " + passwords.string() + " alice alice-secret");
    run_or_fail("mosquitto_passwd -b " + passwords.string() + " observer observer-secret");
    {
        std::ofstream out(acl);
        out << "user alice\n"
               "topic readwrite eqm/allowed/#\n"
               "user observer\n"
               "topic read #\n";
    }
    eqm::test::broker_options broker_options;
    broker_options.allow_anonymous = false;
    broker_options.password_file = passwords;
    broker_options.acl_file = acl;
    eqm::test::mosquitto_broker broker(broker_options);

    SECTION("wrong password or anonymous: never connects") {
        const auto [user, password] =
            GENERATE(table<std::optional<std::string>, std::optional<std::string>>({
                {std::string("alice"), std::string("wrong")},
                {std::nullopt, std::nullopt},
            }));
        auto options = options_for(broker.uri(), "intruder");
        options.username = user;
        options.password = password;
        auto s = make_session(std::move(options));
        s->start();
        CHECK_FALSE(s->wait_connected(1500ms));
        CHECK(s->stats().failed_attempts >= 1);
        CHECK(s->stats().connects == 0);
    }

    SECTION("a denied publish is not delivered, an allowed one is") {
        inbox box;
        auto observer_options = options_for(broker.uri(), "observer");
        observer_options.username = "observer";
        observer_options.password = "observer-secret";
        observer_options.subscriptions.push_back({"eqm/#", 1});
        auto observer = make_session(std::move(observer_options));
        observer->on_message(
            [&](std::string t, std::string p) { box.add(std::move(t), std::move(p)); });
        observer->start();
        REQUIRE(observer->wait_connected(up_timeout));

        auto alice_options = options_for(broker.uri(), "alice");
        alice_options.username = "alice";
        alice_options.password = "alice-secret";
        auto alice = make_session(std::move(alice_options));
        alice->start();
        REQUIRE(alice->wait_connected(up_timeout));

        // The broker accepts (PUBACKs) the denied publish but drops it; messages from one
        // client are delivered in order, so once the later allowed one arrives, the denied
        // one would have too.
        REQUIRE(alice->publish("eqm/denied/x", "denied", 1));
        REQUIRE(alice->publish("eqm/allowed/x", "allowed", 1));
        CHECK(box.wait_for("eqm/allowed/x", "allowed"));
        CHECK(box.count("eqm/denied/x") == 0);
    }
}

TEST_CASE("an exception thrown by a callback is caught, counted, and the session carries on") {
    eqm::test::mosquitto_broker broker;
    auto options = options_for(broker.uri(), "fragile");
    options.subscriptions.push_back({"eqm/t", 1});
    std::vector<std::string> logged;
    std::mutex log_mutex;
    options.log = [&](std::string_view line) {
        std::lock_guard lock(log_mutex);
        logged.emplace_back(line);
    };
    auto s = make_session(std::move(options));
    inbox box;
    s->on_message([&](std::string t, std::string p) {
        if (p == "boom") throw std::runtime_error("handler exploded");
        box.add(std::move(t), std::move(p));
    });
    s->start();
    REQUIRE(s->wait_connected(up_timeout));
    auto pub = publisher(broker.uri(), "pub");
    REQUIRE(pub->publish("eqm/t", "boom", 1));
    REQUIRE(pub->publish("eqm/t", "after", 1));
    CHECK(box.wait_for("eqm/t", "after"));
    CHECK(s->stats().callback_errors == 1);
    CHECK(s->connected());
    std::lock_guard lock(log_mutex);
    bool mentioned = false;
    for (const auto& line : logged)
        mentioned = mentioned || line.find("handler exploded") != std::string::npos;
    CHECK(mentioned);
}

TEST_CASE("a subscription added at runtime is used now and after a reconnect") {
    eqm::test::mosquitto_broker broker;
    inbox box;
    auto s = subscriber(broker.uri(), "gw", "eqm/first", box);
    REQUIRE(s->subscribe({"eqm/second", 1}));
    auto pub = publisher(broker.uri(), "pub");
    REQUIRE(pub->publish("eqm/second", "now", 1));
    CHECK(box.wait_for("eqm/second", "now"));

    broker.kill();
    REQUIRE(eqm::test::wait_until([&] { return !s->connected(); }, 5s));
    broker.start();
    REQUIRE(s->wait_connected(up_timeout));
    REQUIRE(pub->wait_connected(up_timeout));
    REQUIRE(pub->publish("eqm/second", "later", 1));
    REQUIRE(pub->publish("eqm/first", "first-later", 1));
    CHECK(box.wait_for("eqm/second", "later"));
    CHECK(box.wait_for("eqm/first", "first-later"));
}

TEST_CASE("the session's connection has Nagle off, also after a reconnect") {
    // Paho leaves Nagle on; a result published right after a PUBACK then waits ~40 ms for the
    // broker's delayed ACK (bench/server_checkout went from a 60 ms to a 2 ms median).
    eqm::test::mosquitto_broker broker;
    auto pub = publisher(broker.uri(), "nodelay");
    CHECK(nodelay_towards(broker.port()) == std::vector<int>{1});
    broker.stop();
    broker.start();
    REQUIRE(eqm::test::wait_until(
        [&] { return pub->wait_connected(100ms) && nodelay_towards(broker.port()).size() == 1; },
        up_timeout));
    CHECK(nodelay_towards(broker.port()) == std::vector<int>{1});
}
