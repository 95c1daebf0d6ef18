// Bad input and a database that cannot be written.
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "eqm/store/database.hpp"
#include "gateway_harness.hpp"

using namespace eqm::gwtest;

namespace {

/// A small tmpfs mounted on a temporary folder for the life of the object: a filesystem that
/// really fills up. Mounting needs root (CAP_SYS_ADMIN), which scripts/test has.
class small_disk {
  public:
    explicit small_disk(std::size_t megabytes) {
        const auto options = "size=" + std::to_string(megabytes) + "m";
        mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                           options.c_str()) == 0;
        if (!mounted_) error_ = std::strerror(errno);
    }
    ~small_disk() {
        if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
    }
    small_disk(const small_disk&) = delete;
    small_disk& operator=(const small_disk&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& error() const { return error_; }
    const std::filesystem::path& path() const { return dir_.path(); }

    /// Writes a filler file until the filesystem refuses more.
    void fill() {
        std::ofstream out(path() / "filler", std::ios::binary);
        const std::string chunk(64 * 1024, 'x');
        while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && out.flush()) {
        }
    }
    void free_space() { std::filesystem::remove(path() / "filler"); }

  private:
    eqm::test::temp_dir dir_{"eqm-small-disk"};
    bool mounted_ = false;
    std::string error_;
};

}  // namespace

TEST_CASE("malformed payloads are rejected, counted in /metrics, and the gateway keeps working",
          "[robustness]") {
    city_fixture f;
    f.register_fleet(json::array({device("bc-1")}), json::array({person("p-1", "b-1")}));
    f.telemetry("bc-1", 95);
    const auto ledger = f.db_count("SELECT COUNT(*) FROM ledger");

    f.publish_dock("dock-1", "this is not json");
    f.publish_dock("dock-1", R"({"event_id":"ev-bad","ts":"2026-11-26T08:30:00.000Z",)"
                             R"("type":"slot_remove","slot":99,"device_id":"bc-1","badge":"b-1"})");
    f.publish_dock("dock-1", R"({"event_id":"ev-typo","ts":"2026-11-26T08:30:00.000Z",)"
                             R"("type":"slot_remove","slot":1,"device_id":"bc-1","bagde":"b-1"})");
    f.dock().publish("eqm/v1/dev/bc-1/telemetry", R"({"ts":"x","seq":1,"battery_pct":"full"})", 0);
    f.dock().publish("eqm/v1/dev/bad!id/telemetry", R"({"ts":"2026-11-26T08:30:00.000Z"})", 0);
    f.dock().publish("eqm/v1/dev/bc-1/telemetry", std::string(300 * 1024, 'x'), 0);
    f.dock().publish("eqm/v1/dev/bc-1/state", R"({"online":"yes"})", 1);

    // A malformed event with a readable event_id is answered, so the dock stops resending it.
    CHECK(f.wait_ack("dock-1", "ev-bad") == "rejected:bad_field");
    CHECK(f.wait_ack("dock-1", "ev-typo") == "rejected:unknown_field");
    REQUIRE(eqm::test::wait_until(
        [&] {
            return f.metric("eqm_gateway_messages_rejected_total", "reason=\"too_large\"") == 1 &&
                   f.metric("eqm_gateway_malformed_payloads_total", "kind=\"device_state\"") == 1;
        },
        wait_timeout));
    CHECK(f.metric("eqm_gateway_malformed_payloads_total", "kind=\"dock_event\"") == 3);
    CHECK(f.metric("eqm_gateway_malformed_payloads_total", "kind=\"device_telemetry\"") == 2);
    CHECK(f.metric("eqm_gateway_messages_rejected_total", "reason=\"bad_json\"") == 1);
    CHECK(f.metric("eqm_gateway_messages_rejected_total", "reason=\"unknown_topic\"") == 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger") == ledger);
    CHECK(f.log().find("reason=too_large") != std::string::npos);

    // Still working.
    CHECK(f.dock_event("ev-good", "slot_remove", "bc-1", "b-1") == "ok");
    CHECK(f.metric("eqm_gateway_custody_decisions_total", "result=\"ok\"") == 1);
}

TEST_CASE("a locked database makes check-outs fail as unavailable and loses nothing acked",
          "[robustness]") {
    city_fixture f(gateway_options{{"--db-busy-timeout", "200ms"}});
    f.register_fleet(json::array({device("bc-1"), device("bc-2")}),
                     json::array({person("p-1", "b-1")}));
    f.telemetry("bc-1", 95);
    f.telemetry("bc-2", 95);
    REQUIRE(f.dock_event("ev-1", "slot_remove", "bc-1", "b-1") == "ok");

    {
        eqm::store::database_options o;
        o.create = false;
        auto db = eqm::store::database::open(f.db_path(), o);
        REQUIRE(db);
        auto tx = eqm::store::transaction::begin(*db);  // holds the write lock
        REQUIRE(tx);
        CHECK(f.dock_event("ev-2", "slot_remove", "bc-2", "b-1") == "rejected:unavailable");
        auto r = f.post("/api/v1/devices/bc-2/checkout", R"({"badge":"b-1"})");
        CHECK(r.status == 503);
        CHECK(r.content_type == "application/problem+json");
    }
    // The lock is gone: the same event is decided now (an unavailable answer is not stored).
    CHECK(f.dock_event("ev-2", "slot_remove", "bc-2", "b-1") == "ok");
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger WHERE record LIKE '%\"request_id\":\"ev-1\"%'") ==
          1);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE state = 'checked_out'") == 2);
    CHECK(f.metric("eqm_gateway_commit_failures_total") >= 1);
}

TEST_CASE(
    "on a full disk check-outs are refused as unavailable, nothing acked is lost, and the "
    "gateway carries on once space is freed",
    "[robustness]") {
    small_disk disk(8);
    if (!disk.mounted()) {
        // Without root there is no small filesystem to fill; the store tests cover SQLITE_FULL.
        WARN("cannot mount a tmpfs (" << disk.error() << "): run as root to test a full disk");
        return;
    }
    city_fixture f(gateway_options{{"--min-battery-body-camera", "0"}, disk.path()});
    json devices = json::array();
    constexpr int fleet = 400;
    for (int i = 0; i < fleet; ++i) devices.push_back(device("bc-" + std::to_string(i)));
    f.register_fleet(devices, json::array({person("p-1", "b-1")}));
    REQUIRE(f.dock_event("ev-first", "slot_remove", "bc-0", "b-1") == "ok");
    f.token();  // the kiosk logs in while there is space

    disk.fill();
    // Overwriting pages the database files already have needs no new space, so decisions go
    // on for a while; as soon as the files must grow, a decision cannot be committed.
    int ok = 1;
    std::string refused_event, refused_device;
    for (int i = 1; i < fleet && refused_event.empty(); ++i) {
        const auto id = "bc-" + std::to_string(i);
        const auto event = "ev-" + std::to_string(i);
        const auto r = f.dock_event(event, "slot_remove", id, "b-1");
        if (r == "ok") {
            ++ok;
        } else {
            INFO(event << ": " << r);
            REQUIRE(r == "rejected:unavailable");
            refused_event = event;
            refused_device = id;
        }
    }
    REQUIRE_FALSE(refused_event.empty());
    CHECK(f.metric("eqm_gateway_commit_failures_total") >= 1);
    auto r = f.post("/api/v1/devices/" + refused_device + "/checkout", R"({"badge":"b-1"})");
    CHECK(r.status == 503);
    CHECK(r.content_type == "application/problem+json");

    // Space again: the refused event is decided now, and every acked one is in the ledger.
    disk.free_space();
    CHECK(f.dock_event(refused_event, "slot_remove", refused_device, "b-1") == "ok");
    CHECK(f.db_count("SELECT COUNT(*) FROM ledger") == ok + 1);
    CHECK(f.db_count("SELECT COUNT(*) FROM custody WHERE state = 'checked_out'") == ok + 1);
    f.stop_gateway();
    {
        eqm::store::database_options o;
        o.create = false;
        auto db = eqm::store::database::open(f.db_path(), o);
        REQUIRE(db);
        auto st = db->prepare("PRAGMA integrity_check");
        REQUIRE(st);
        REQUIRE(st->step().value_or(false));
        CHECK(st->column_text(0) == "ok");
    }
    // And it starts again on the same files, with its ledger intact.
    f.start_gateway();
    REQUIRE(f.wait_ready());
    CHECK(f.log().find("hash chain broken") == std::string::npos);
}
