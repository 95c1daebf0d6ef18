// The device outbox file: what survives a crash, what a torn write leaves, and compaction.
#include "eqm/device/outbox.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eqm/test/temp_dir.hpp"

using eqm::device::outbox;
using eqm::device::outbox_entry;
using eqm::device::outbox_options;

namespace {

outbox_entry event(int n) {
    return {"cam-1-1-" + std::to_string(n), "eqm/v1/dev/cam-1/event",
            R"({"event_id":"cam-1-1-)" + std::to_string(n) + R"(","type":"recording_started"})"};
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> ids(const outbox& box) {
    std::vector<std::string> out;
    for (const auto& e : box.pending()) out.push_back(e.event_id);
    return out;
}

}  // namespace

TEST_CASE("outbox keeps unacked events across a reopen, oldest first") {
    eqm::test::temp_dir dir("sim-outbox");
    const auto file = dir / "cam-1.outbox";
    {
        auto box = outbox::open(file);
        REQUIRE(box);
        for (int i = 1; i <= 3; ++i) REQUIRE((*box)->put(event(i)));
        auto acked = (*box)->ack("cam-1-1-2");
        REQUIRE(acked);
        CHECK(*acked);
    }
    auto box = outbox::open(file);
    REQUIRE(box);
    CHECK(ids(**box) == std::vector<std::string>{"cam-1-1-1", "cam-1-1-3"});
    CHECK((*box)->pending().front() == event(1));
    CHECK((*box)->recovery().torn_lines == 0);
}

TEST_CASE("outbox: rejected:unavailable is not a final answer, so the event stays pending") {
    CHECK(eqm::device::is_final_result("ok"));
    CHECK(eqm::device::is_final_result("rejected:battery_low"));
    CHECK_FALSE(eqm::device::is_final_result("rejected:unavailable"));
    eqm::test::temp_dir dir("sim-outbox");
    const auto file = dir / "u.outbox";
    {
        auto box = outbox::open(file);
        REQUIRE(box);
        REQUIRE((*box)->put(event(1)));
        auto r = (*box)->ack("cam-1-1-1", "rejected:unavailable");
        REQUIRE_FALSE(r);
        CHECK(r.error().field == "result");
        CHECK((*box)->is_pending("cam-1-1-1"));
    }
    auto box = outbox::open(file);
    REQUIRE(box);
    CHECK(ids(**box) == std::vector<std::string>{"cam-1-1-1"});
    auto r = (*box)->ack("cam-1-1-1", "rejected:locked");  // a final refusal ends it
    REQUIRE(r);
    CHECK(*r);
    CHECK((*box)->pending_count() == 0);
}

TEST_CASE("outbox: a duplicate ack or an ack for an unknown event changes nothing") {
    eqm::test::temp_dir dir("sim-outbox");
    auto box = outbox::open(dir / "d.outbox");
    REQUIRE(box);
    REQUIRE((*box)->put(event(1)));
    REQUIRE((*box)->put(event(1)));  // idempotent put
    CHECK((*box)->pending_count() == 1);
    CHECK(*(*box)->ack("cam-1-1-1") == true);
    CHECK(*(*box)->ack("cam-1-1-1") == false);
    CHECK(*(*box)->ack("never-sent") == false);
    CHECK((*box)->pending_count() == 0);
}

TEST_CASE("outbox recovers from a torn last line after a crash") {
    eqm::test::temp_dir dir("sim-outbox");
    const auto file = dir / "cam-1.outbox";
    {
        auto box = outbox::open(file);
        REQUIRE(box);
        REQUIRE((*box)->put(event(1)));
        REQUIRE((*box)->put(event(2)));
    }
    const auto whole = slurp(file);
    // The crash cut the third record short: no newline, not JSON.
    const std::string torn =
        GENERATE(as<std::string>{}, R"({"op":"put","event_id":"cam-1-1-3","top)",
                 R"({"op":"ack","event_id":"cam-1-1-1"})", "garbage");
    {
        std::ofstream out(file, std::ios::app | std::ios::binary);
        out << torn;
    }
    auto box = outbox::open(file);
    REQUIRE(box);
    CHECK((*box)->recovery().torn_lines == 1);
    CHECK((*box)->recovery().truncated_bytes == torn.size());
    // An ack whose line never got its newline did not happen: both events are still pending.
    CHECK(ids(**box) == std::vector<std::string>{"cam-1-1-1", "cam-1-1-2"});
    CHECK(slurp(file) == whole);
    // Writing goes on after the truncated tail, so the next reopen reads clean records.
    REQUIRE((*box)->put(event(4)));
    box->reset();
    auto again = outbox::open(file);
    REQUIRE(again);
    CHECK((*again)->recovery().torn_lines == 0);
    CHECK(ids(**again) == std::vector<std::string>{"cam-1-1-1", "cam-1-1-2", "cam-1-1-4"});
}

TEST_CASE("outbox skips a damaged record in the middle and keeps the rest") {
    eqm::test::temp_dir dir("sim-outbox");
    const auto file = dir / "x.outbox";
    {
        auto box = outbox::open(file);
        REQUIRE(box);
        REQUIRE((*box)->put(event(1)));
    }
    {
        // A damaged record with whole records after it (a bad sector, not a torn tail).
        std::ofstream out(file, std::ios::app | std::ios::binary);
        out << "{not json}\n"
            << nlohmann::json{{"op", "put"},
                              {"event_id", "cam-1-1-2"},
                              {"topic", "t"},
                              {"payload", "{}"}}
                   .dump()
            << "\n";
    }
    auto box = outbox::open(file);
    REQUIRE(box);
    CHECK((*box)->recovery().torn_lines == 1);
    CHECK(ids(**box) == std::vector<std::string>{"cam-1-1-1", "cam-1-1-2"});
}

TEST_CASE("outbox compaction drops acked events and keeps pending ones") {
    eqm::test::temp_dir dir("sim-outbox");
    const auto file = dir / "c.outbox";
    auto box = outbox::open(file, outbox_options{.durable = false, .compact_after_acked = 8});
    REQUIRE(box);
    for (int i = 1; i <= 20; ++i) REQUIRE((*box)->put(event(i)));
    for (int i = 1; i <= 19; ++i) REQUIRE((*box)->ack("cam-1-1-" + std::to_string(i)));
    // Auto-compaction ran once acked records outnumbered pending ones: the file is small again.
    const auto size_after = std::filesystem::file_size(file);
    CHECK(size_after < 12 * event(1).payload.size());
    REQUIRE((*box)->compact());
    CHECK(ids(**box) == std::vector<std::string>{"cam-1-1-20"});
    box->reset();
    auto again = outbox::open(file);
    REQUIRE(again);
    CHECK(ids(**again) == std::vector<std::string>{"cam-1-1-20"});
    CHECK((*again)->recovery().records == 1);
}
