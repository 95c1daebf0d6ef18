// Reading batches of a newer minor version (unknown members ignored and listed, custody records
// keep them and still verify) and reading the seq range of a batch that cannot be read.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/ledger.hpp"
#include "eqm/domain/payloads.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const eqm::clock_ms t0{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};

eqm::custody_record sealed_checkout(std::string_view prev, std::uint64_t index) {
    eqm::custody_record r;
    r.device_id = "cam-1";
    r.action = eqm::custody_action::checkout;
    r.from_state = eqm::custody_state::available;
    r.to_state = eqm::custody_state::checked_out;
    r.holder = "off-1";
    r.actor = "dock";
    r.source = eqm::custody_source::dock;
    r.ts = t0;
    return eqm::seal(r, prev, index);
}

/// A batch with a telemetry summary and a custody record, as a JSON document to edit.
json batch_json() {
    eqm::gw_events b;
    b.ts = t0 + 1s;
    b.gw_id = "gw-nn";
    b.bd_seq = 1;
    eqm::telemetry_summary_body t;
    t.device_id = "cam-1";
    t.minute = t0;
    t.battery_pct_min = 80;
    t.battery_pct_last = 81;
    t.storage_free_mb_last = 100;
    t.temp_c_max = 30;
    b.events.push_back(eqm::gw_event{1, "gw-nn-1", t0, t});
    b.events.push_back(eqm::gw_event{2, "gw-nn-2", t0, sealed_checkout(eqm::genesis_prev_hash, 0)});
    return eqm::to_json(b);
}

/// A record sealed by a newer gateway that hashes a member this version does not know.
json newer_custody_record() {
    json r = eqm::to_json(sealed_checkout(eqm::genesis_prev_hash, 0));
    r.erase("hash");
    r["witness"] = "cust-2";
    const auto canonical = eqm::canonical_json(r);
    REQUIRE(canonical.has_value());
    r["hash"] = eqm::sha256_hex(std::string(eqm::genesis_prev_hash) + *canonical);
    return r;
}

}  // namespace

TEST_CASE("a batch with members of a newer minor version is refused strictly and read leniently",
          "[gw_events][lenient]") {
    json j = batch_json();
    j["compression"] = "none";
    j["events"][0]["priority"] = 1;
    j["events"][0]["body"]["humidity_pct"] = 55;
    j["events"][1]["priority"] = 2;
    const auto text = j.dump();

    auto strict = eqm::parse_gw_events(text);
    REQUIRE_FALSE(strict.has_value());
    CHECK(strict.error().code == eqm::errc::unknown_field);

    std::vector<std::string> ignored;
    auto lenient = eqm::parse_gw_events_lenient(text, ignored);
    REQUIRE(lenient.has_value());
    CHECK(lenient->events.size() == 2);
    CHECK(lenient->gw_id == "gw-nn");
    std::sort(ignored.begin(), ignored.end());
    CHECK(ignored == std::vector<std::string>{"compression", "events[].body.humidity_pct",
                                              "events[].priority"});
    // The known part reads exactly as the same batch without the new members.
    auto plain = eqm::parse_gw_events(batch_json().dump());
    REQUIRE(plain.has_value());
    CHECK(lenient->events == plain->events);
}

TEST_CASE("a lenient read still enforces every rule of the known members", "[gw_events][lenient]") {
    json j = batch_json();
    j["events"][0]["body"]["humidity_pct"] = 55;
    j["events"][0]["body"]["battery_pct_min"] = 140;
    std::vector<std::string> ignored;
    auto r = eqm::parse_gw_events_lenient(j.dump(), ignored);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().field == "events[0].body.battery_pct_min");

    json k = batch_json();
    k["events"][1]["msg_id"] = "gw-other-2";
    k["extra"] = true;
    auto m = eqm::parse_gw_events_lenient(k.dump(), ignored);
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().field == "events[1].msg_id");
}

TEST_CASE("a custody record with a newer member keeps it, so it still verifies and is stored whole",
          "[gw_events][lenient][ledger]") {
    json j = batch_json();
    j["events"][1]["body"] = newer_custody_record();
    std::vector<std::string> ignored;
    auto b = eqm::parse_gw_events_lenient(j.dump(), ignored);
    REQUIRE(b.has_value());
    CHECK(ignored == std::vector<std::string>{"events[].body.witness"});
    const auto& rec = std::get<eqm::custody_record>(b->events[1].body);
    REQUIRE(rec.extra_fields.count("witness") == 1);
    eqm::ledger_verifier v;
    CHECK(v.feed(rec).ok());
    // The wire form gives the member back, so what is stored is what was hashed.
    CHECK(eqm::to_json(rec) == newer_custody_record());
    CHECK_FALSE(eqm::custody_record_text(rec).has_value());

    // Without leniency the same record is refused, naming the member.
    auto strict = eqm::parse_custody_record(newer_custody_record(), "body");
    REQUIRE_FALSE(strict.has_value());
    CHECK(strict.error().field == "body.witness");
}

TEST_CASE("the seq range of a batch that cannot be read is read when it can be trusted",
          "[gw_events][quarantine]") {
    json j = batch_json();
    j["events"][0]["body"]["battery_pct_min"] = "full";  // unreadable body
    auto r = eqm::read_gw_events_range(j.dump());
    REQUIRE(r.has_value());
    CHECK(*r == eqm::gw_events_range{"gw-nn", 1, 2});

    CHECK_FALSE(eqm::read_gw_events_range("not json").has_value());
    CHECK_FALSE(eqm::read_gw_events_range(R"({"gw_id":"gw-nn","events":[]})").has_value());
    CHECK_FALSE(eqm::read_gw_events_range(R"({"gw_id":"gw nn","events":[{"seq":1}]})"));
    CHECK_FALSE(eqm::read_gw_events_range(R"({"gw_id":"gw-nn","events":[{"seq":0}]})"));
    CHECK_FALSE(eqm::read_gw_events_range(R"({"gw_id":"gw-nn","events":[{"seq":"1"}]})"));
    CHECK_FALSE(eqm::read_gw_events_range(R"({"gw_id":"gw-nn","events":[{}]})"));
    // A range wider than any batch would ack seqs the gateway never sent.
    CHECK_FALSE(
        eqm::read_gw_events_range(R"({"gw_id":"gw-nn","events":[{"seq":1},{"seq":5000}]})"));
    auto one = eqm::read_gw_events_range(R"({"gw_id":"gw-nn","events":[{"seq":7,"x":1}]})");
    REQUIRE(one.has_value());
    CHECK(*one == eqm::gw_events_range{"gw-nn", 7, 7});
}
