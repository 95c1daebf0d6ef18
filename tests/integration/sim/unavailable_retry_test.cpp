// The device side against the real eqm-gateway: when the gateway cannot commit a decision
// (its database is locked here; a full disk answers the same) it acks `rejected:unavailable`.
// That answer is not final: the SDK keeps the event in its durable outbox and sends it again
// with a backoff, and once the database is writable the event is applied exactly once and the
// device hears `ok`. The docks of eqm-sim, which are SDK sessions, behave the same.
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>

#include "../gateway/gateway_harness.hpp"
#include "eqm/device/device.hpp"
#include "eqm/store/database.hpp"

using namespace std::chrono_literals;
using eqm::gwtest::city_fixture;
using eqm::gwtest::gateway_options;
using eqm::gwtest::json;
using eqm::test::wait_until;

namespace {

constexpr auto slow_wait = 30s;
constexpr const char* unavailable = "rejected:unavailable";

/// Holds the gateway database's write lock (BEGIN IMMEDIATE) while it lives.
class write_lock {
  public:
    explicit write_lock(const std::filesystem::path& db) {
        eqm::store::database_options o;
        o.create = false;
        auto d = eqm::store::database::open(db, o);
        REQUIRE(d);
        db_ = std::make_unique<eqm::store::database>(std::move(*d));
        auto tx = eqm::store::transaction::begin(*db_);
        REQUIRE(tx);
        tx_ = std::make_unique<eqm::store::transaction>(std::move(*tx));
    }
    ~write_lock() {
        tx_.reset();  // rolled back: nothing was written
        db_.reset();
    }

  private:
    std::unique_ptr<eqm::store::database> db_;
    std::unique_ptr<eqm::store::transaction> tx_;
};

/// An SDK session that records the answers its ack handler hears.
struct sdk_client {
    sdk_client(const std::string& uri, const std::filesystem::path& state, const std::string& id,
               eqm::device_class cls) {
        eqm::device::device_options o;
        o.id = id;
        o.cls = cls;
        o.broker_uri = uri;
        o.state_dir = state;
        o.resend_interval = 500ms;
        o.reconnect_min = 50ms;
        o.reconnect_max = 500ms;
        o.log = [](eqm::log_level, std::string_view) {};
        auto s = eqm::device::device_session::open(o);
        REQUIRE(s);
        session = std::move(*s);
        session->set_ack_handler([this](const std::string& event_id, const std::string& result) {
            std::lock_guard lock(mutex);
            heard.emplace_back(event_id, result);
        });
        REQUIRE(wait_until([&] { return session->connected(); }, slow_wait));
    }
    std::vector<std::pair<std::string, std::string>> answers() {
        std::lock_guard lock(mutex);
        return heard;
    }
    std::unique_ptr<eqm::device::device_session> session;
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> heard;
};

std::string ledger_rows_for(const std::string& event_id) {
    return "SELECT COUNT(*) FROM ledger WHERE record LIKE '%\"request_id\":\"" + event_id + "\"%'";
}

}  // namespace

TEST_CASE(
    "sdk: an event the gateway could not commit stays in the outbox and is applied exactly once "
    "when the database is writable again",
    "[unavailable]") {
    city_fixture f(gateway_options{{"--db-busy-timeout", "200ms"}});
    f.register_fleet(json::array({eqm::gwtest::device("bc-1")}),
                     json::array({eqm::gwtest::person("p-1", "b-1")}));
    f.telemetry("bc-1", 95);
    REQUIRE(f.dock_event("ev-out", "slot_remove", "bc-1", "b-1") == "ok");

    eqm::test::temp_dir dir("sim-unavailable");
    sdk_client dock(f.local().uri(), dir / "state", "dock-2", eqm::device_class::dock);
    sdk_client camera(f.local().uri(), dir / "state", "bc-1", eqm::device_class::body_camera);

    std::string checkin, fault;
    {
        write_lock lock(f.db_path());
        auto c = dock.session->emit_event(
            {{"type", "slot_insert"}, {"slot", 2}, {"device_id", "bc-1"}, {"badge", "b-1"}});
        auto e = camera.session->emit_event({{"type", "fault"}, {"code", "lens_fog"}});
        REQUIRE(c);
        REQUIRE(e);
        checkin = *c;
        fault = *e;
        REQUIRE(
            wait_until([&] { return f.ack_result("dock-2", checkin) == unavailable; }, slow_wait));
        REQUIRE(wait_until([&] { return f.ack_result("bc-1", fault) == unavailable; }, slow_wait));
        // Not a final answer: the events stay in the outbox and go out again (with a backoff)
        // while the database is still locked.
        CHECK(wait_until([&] { return f.ack_count("dock-2", checkin) >= 2; }, slow_wait));
        CHECK(dock.session->pending_events() == 1);
        CHECK(camera.session->pending_events() == 1);
        CHECK(dock.answers().empty());
        CHECK(camera.answers().empty());
    }

    // Writable again: the next attempt is decided and committed, and the devices hear ok.
    using answer = std::pair<std::string, std::string>;
    REQUIRE(wait_until(
        [&] {
            return dock.answers() == std::vector<answer>{{checkin, "ok"}};
        },
        slow_wait));
    REQUIRE(wait_until(
        [&] {
            return camera.answers() == std::vector<answer>{{fault, "ok"}};
        },
        slow_wait));
    CHECK(dock.session->pending_events() == 0);
    CHECK(camera.session->pending_events() == 0);
    CHECK(f.db_count(ledger_rows_for(checkin)) == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE device_id = 'bc-1' AND state = "
                     "'available'") == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM processed_events WHERE event_id = '" + fault + "'") ==
          1);

    // A final answer ends it: nothing is sent again (the resend interval is 500 ms).
    const int acks = f.ack_count("dock-2", checkin);
    std::this_thread::sleep_for(2s);
    CHECK(f.ack_count("dock-2", checkin) == acks);
    CHECK(f.db_count(ledger_rows_for(checkin)) == 1);
}

namespace {

/// Runs eqm-sim to completion and returns its exit code; stderr goes to `log`.
int run_sim(std::vector<std::string> args, const std::filesystem::path& log) {
    eqm::test::process_options po;
    po.argv = {EQM_SIM_BIN};
    po.argv.insert(po.argv.end(), args.begin(), args.end());
    po.stdout_path = log.string() + ".out";
    po.stderr_path = log;
    eqm::test::child_process p(std::move(po));
    const auto rc = p.wait_for_exit(120s);
    return rc ? *rc : -1;
}

/// The simulated time of the first check-out in a dry run of the same fleet and seed.
std::string first_checkout_ts(const eqm::test::temp_dir& dir,
                              const std::vector<std::string>& common) {
    auto args = common;
    const auto out = dir / "dry.jsonl";
    args.insert(args.end(), {"--dry-run", "--city", "450100", "--events-out", out.string()});
    REQUIRE(run_sim(args, dir / "dry.log") == 0);
    std::ifstream in(out);
    for (std::string line; std::getline(in, line);) {
        const auto j = json::parse(line, nullptr, false);
        if (j["payload"]["type"] == "slot_remove") return j["payload"]["ts"].get<std::string>();
    }
    FAIL("the dry run has no check-out");
    return {};
}

}  // namespace

TEST_CASE(
    "eqm-sim: a dock whose check-out the gateway could not commit sends it again and beeps on ok",
    "[unavailable]") {
    city_fixture f(
        gateway_options{{"--db-busy-timeout", "200ms", "--min-battery-body-camera", "0"}});
    f.register_fleet(json::array({eqm::gwtest::device("450100-bc-001")}),
                     json::array({eqm::gwtest::person("450100-of-001", "B450100001")}));
    eqm::test::temp_dir dir("sim-dock-unavailable");
    {
        std::ofstream fleet(dir / "fleet.json");
        fleet
            << R"({"defaults":{"body_cameras":1,"drones":0,"analyzers":0,"docks":1,"officers":1}})";
    }
    const std::vector<std::string> common{"--fleet", (dir / "fleet.json").string(), "--seed", "2",
                                          "--quiet"};
    // Start the live run a minute before the check-out, at a simulated minute per second.
    auto start = eqm::parse_timestamp(first_checkout_ts(dir, common), "ts");
    REQUIRE(start);
    auto live = common;
    live.insert(live.end(), {"--broker", "450100=" + f.local().uri(), "--start",
                             eqm::format_timestamp(*start - 1min), "--speed", "60", "--days",
                             "0.01", "--state-dir", (dir / "state").string()});

    const auto dock_heard_unavailable = [&] {
        for (const auto& [topic, payload] : f.dock().received())
            if (topic == "eqm/v1/ack/450100-dk-1" && payload.find(unavailable) != std::string::npos)
                return true;
        return false;
    };
    int rc = -1;
    std::thread sim([&] { rc = run_sim(live, dir / "live.log"); });
    {
        write_lock lock(f.db_path());
        CHECK(wait_until(dock_heard_unavailable, 60s));
    }
    sim.join();
    const auto log = eqm::test::read_file(dir / "live.log");
    INFO(log.substr(0, 4000));
    CHECK(rc == 0);
    CHECK(log.find("beep dock=450100-dk-1") != std::string::npos);
    CHECK(log.find("refuse dock=") == std::string::npos);
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger WHERE device_id = '450100-bc-001'") == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE device_id = '450100-bc-001' AND state = "
                     "'checked_out'") == 1);
}
