// eqm-sim as a program: reproducible event sequences, and captured traffic of every simulator
// class validated against schemas/ by the contract checker (node tests/contract/validate.mjs).
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "eqm/domain/time.hpp"
#include "eqm/test/support.hpp"
#include "test_gateway.hpp"

using namespace std::chrono_literals;
using eqm::test::child_process;

namespace {

constexpr auto run_timeout = 120s;

/// Runs a program to completion; its output goes to `log`.
int run(std::vector<std::string> argv, const std::filesystem::path& log) {
    eqm::test::process_options po;
    po.argv = std::move(argv);
    po.stdout_path = log;
    po.stderr_path = log.string() + ".err";  // stdout stays clean for reports
    child_process p(std::move(po));
    const auto rc = p.wait_for_exit(run_timeout);
    return rc ? *rc : -1;
}

std::vector<std::string> dry_run(const eqm::test::temp_dir& dir, const std::string& seed,
                                 const std::string& name) {
    const auto out = dir / (name + ".jsonl");
    REQUIRE(run({EQM_SIM_BIN, "--dry-run", "--city", "450100", "--city", "451400", "--seed", seed,
                 "--days", "2", "--quiet", "--events-out", out.string()},
                dir / (name + ".log")) == 0);
    std::ifstream in(out);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

int count_containing(const std::vector<std::string>& lines, const std::string& needle) {
    return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
        return l.find(needle) != std::string::npos;
    }));
}

}  // namespace

TEST_CASE("eqm-sim: the same seed gives the same event sequence, another seed a different one") {
    eqm::test::temp_dir dir("sim-seed");
    const auto a = dry_run(dir, "7", "a");
    const auto b = dry_run(dir, "7", "b");
    const auto c = dry_run(dir, "8", "c");
    REQUIRE(a.size() > 100);
    CHECK(a == b);
    CHECK(a != c);
    // The sequence is a working region: check-outs with badges, check-ins, field events.
    CHECK(count_containing(a, R"("type":"slot_remove")") > 50);
    CHECK(count_containing(a, R"("badge":)") > 50);
    CHECK(count_containing(a, R"("type":"slot_insert")") > 50);
    CHECK(count_containing(a, R"("type":"recording_stopped")") > 0);
}

TEST_CASE("eqm-sim: captured payloads of every simulator class validate against the schemas") {
    const std::filesystem::path contract_dir = EQM_CONTRACT_DIR;
    if (!std::filesystem::exists(contract_dir / "node_modules" / "ajv" / "package.json"))
        FAIL(
            "tests/contract/node_modules is missing: run `npm ci --prefix tests/contract` first "
            "(scripts/test does it before ctest)");
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir("sim-capture");
    {
        std::ofstream fleet(dir / "fleet.json");
        fleet
            << R"({"defaults":{"body_cameras":6,"drones":2,"analyzers":4,"docks":1,"officers":6}})";
    }
    // A live morning against a real broker (births, wills, telemetry, events, as the SDK sends
    // them)...
    const auto live = dir / "live.jsonl";
    REQUIRE(run({EQM_SIM_BIN, "--broker", "450100=" + broker.uri(), "--fleet",
                 (dir / "fleet.json").string(), "--speed", "0", "--days", "0.5", "--start",
                 "2026-03-01T23:00:00.000Z", "--quiet", "--state-dir", (dir / "state").string(),
                 "--capture", live.string()},
                dir / "live.log") == 0);
    // ...and three dry-run days of a default city, for the rarer events (calibrations, faults).
    const auto dry = dir / "dry.jsonl";
    REQUIRE(run({EQM_SIM_BIN, "--dry-run", "--city", "450300", "--days", "3", "--quiet",
                 "--capture", dry.string()},
                dir / "dry.log") == 0);

    const auto text = eqm::test::read_file(live) + eqm::test::read_file(dry);
    for (const std::string topic_part :
         {"/telemetry", "/state", "/dev/450100-bc-", "/dev/450100-dr-", "/dev/450100-an-",
          "/dock/450100-dk-1/event"})
        CHECK(text.find(topic_part) != std::string::npos);
    for (const std::string type :
         {"recording_started", "recording_stopped", "footage_offloaded", "flight_started",
          "flight_ended", "calibrated", "fault", "low_battery", "slot_insert", "slot_remove"})
        CHECK(text.find("\"type\":\"" + type + "\"") != std::string::npos);

    const auto report = dir / "validate.log";
    const int rc = run({EQM_NODE, (contract_dir / "validate.mjs").string(), "--samples",
                        live.string(), "--samples", dry.string()},
                       report);
    INFO(eqm::test::read_file(report).substr(0, 4000));
    CHECK(rc == 0);
}

TEST_CASE("eqm-sim load: sends the asked number of QoS 0 messages and reports them") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir("sim-load");
    const auto out = dir / "load.json";
    REQUIRE(run({EQM_SIM_BIN, "load", "--broker", "450100=" + broker.uri(), "--devices", "50",
                 "--count", "5000", "--state-dir", (dir / "state").string()},
                out) == 0);
    const auto report = nlohmann::json::parse(eqm::test::read_file(out), nullptr, false);
    REQUIRE_FALSE(report.is_discarded());
    CHECK(report["telemetry_sent"] == 5000);
    CHECK(report["msgs_per_s"].get<double>() > 0);
}

TEST_CASE("eqm-sim: a device locked by the gateway stays in its dock, and locate is acted on") {
    eqm::test::mosquitto_broker broker;
    eqm::test::temp_dir dir("sim-lock");
    {
        std::ofstream fleet(dir / "fleet.json");
        fleet
            << R"({"defaults":{"body_cameras":1,"drones":0,"analyzers":0,"docks":1,"officers":1}})";
    }
    const std::vector<std::string> common{EQM_SIM_BIN, "--fleet", (dir / "fleet.json").string(),
                                          "--seed",    "2",       "--quiet"};
    // When the camera goes out in a run of this seed.
    auto dry = common;
    dry.insert(dry.end(),
               {"--dry-run", "--city", "450100", "--events-out", (dir / "dry.jsonl").string()});
    REQUIRE(run(dry, dir / "dry.log") == 0);
    std::string checkout_ts;
    {
        std::ifstream in(dir / "dry.jsonl");
        for (std::string line; checkout_ts.empty() && std::getline(in, line);) {
            const auto j = nlohmann::json::parse(line);
            if (j["payload"]["type"] == "slot_remove") checkout_ts = j["payload"]["ts"];
        }
    }
    REQUIRE_FALSE(checkout_ts.empty());
    const auto checkout = eqm::parse_timestamp(checkout_ts);
    REQUIRE(checkout);

    // A live run from six simulated minutes (six seconds) before it; the camera is locked as
    // soon as it is on line.
    eqm::test::test_gateway gateway(broker.uri());
    auto live = common;
    live.insert(live.end(), {"--broker", "450100=" + broker.uri(), "--start",
                             eqm::format_timestamp(*checkout - 6min), "--speed", "60", "--days",
                             "0.006", "--state-dir", (dir / "state").string(), "--events-out",
                             (dir / "live.jsonl").string()});
    int rc = -1;
    std::thread sim([&] { rc = run(live, dir / "live.log"); });
    const bool online = eqm::test::wait_until([&] { return gateway.births().size() >= 2; }, 30s);
    const std::string cmd = "eqm/v1/dev/450100-bc-001/cmd";
    gateway.publish(cmd, R"({"cmd_id":"c-1","ts":"2026-03-02T00:00:00.000Z","type":"lock"})");
    gateway.publish(cmd, R"({"cmd_id":"c-2","ts":"2026-03-02T00:00:00.000Z","type":"locate"})");
    sim.join();
    REQUIRE(online);
    CHECK(rc == 0);
    const auto log = eqm::test::read_file(dir / "live.log.err");
    INFO(log.substr(0, 3000));
    CHECK(log.find("type=lock cmd_id=c-1 action=stay_in_dock") != std::string::npos);
    CHECK(log.find("type=locate cmd_id=c-2") != std::string::npos);
    CHECK(eqm::test::read_file(dir / "live.jsonl").find("slot_remove") == std::string::npos);
}
