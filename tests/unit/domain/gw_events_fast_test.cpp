// The fast reader of gateway batches against the reference reader: whenever the fast one gives a
// value, the reference gives the same one; it reads the ordinary batches (else the server would
// quietly run at the reference's speed); and custody_record_text writes exactly what
// to_json(record).dump() writes.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/payloads.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path examples_dir =
    fs::path(EQM_FIXTURES_DIR).parent_path().parent_path() / "schemas" / "examples" / "gw_events";

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The fast reader either declines or agrees with the reference. Returns whether it read it.
bool agrees(const std::string& text) {
    const auto fast = eqm::detail::parse_gw_events_fast(text);
    const auto reference = eqm::detail::parse_gw_events_reference(text);
    if (fast) {
        INFO(text);
        REQUIRE(reference.has_value());
        CHECK(*fast == *reference);
    }
    // parse_gw_events is the two together: same outcome as the reference.
    const auto combined = eqm::parse_gw_events(text);
    REQUIRE(combined.has_value() == reference.has_value());
    if (combined)
        CHECK(*combined == *reference);
    else
        CHECK(combined.error().describe() == reference.error().describe());
    return fast.has_value();
}

/// A batch of every kind with every optional field, strings that need escaping and a seq gap.
eqm::gw_events sample_batch(std::mt19937& rng) {
    using namespace std::chrono_literals;
    const eqm::clock_ms t0{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};
    eqm::gw_events b;
    b.ts = t0 + 5s;
    b.gw_id = "gw-450100";
    b.bd_seq = 3;
    std::uint64_t seq = 40 + rng() % 100;
    const auto next = [&] {
        eqm::gw_event e;
        seq += 1 + rng() % 3;
        e.seq = seq;
        e.msg_id = b.gw_id + "-" + std::to_string(seq);
        e.ts = t0 + std::chrono::milliseconds(rng() % 100000);
        return e;
    };
    eqm::custody_record r;
    r.device_id = "cam-7";
    r.action = eqm::custody_action::checkin;
    r.from_state = eqm::custody_state::checked_out;
    r.to_state = eqm::custody_state::available;
    r.actor = "Li \"Wei\" \\ 李伟\t\x01";
    r.source = eqm::custody_source::dock;
    r.ts = t0 + 1s;
    r.dock_id = "dock-1";
    r.slot = static_cast<int>(rng() % 64);
    r.request_id = "ev-1";
    r.condition = eqm::item_condition::damaged;
    r.note = "screen cracked\nsee photo \u00e9";
    r.due = t0 + 3h;
    if (rng() % 2) r.reservation_id = "r-" + std::to_string(rng() % 9);
    r = eqm::seal(r, eqm::genesis_prev_hash, 1 + rng() % 50);
    auto e = next();
    e.body = r;
    b.events.push_back(e);

    eqm::device_state_body d{"drone-2", true, 9, true, eqm::device_class::drone, "M30", "1.2.3"};
    e = next();
    e.body = d;
    b.events.push_back(e);

    eqm::telemetry_summary_body t;
    t.device_id = "cam-7";
    t.minute = t0;
    t.count = 12;
    t.battery_pct_min = 40.5;
    t.battery_pct_last = 41;
    t.storage_free_mb_last = 30000.25;
    t.temp_c_max = -3.5;
    t.gps = eqm::gps_fix{22.8, 108.3, 95.5};
    e = next();
    e.body = t;
    b.events.push_back(e);

    eqm::alert_body a{"al-1",
                      eqm::alert_type::low_battery,
                      eqm::alert_state::raised,
                      eqm::alert_severity::warning,
                      "battery 9 %",
                      "cam-7"};
    e = next();
    e.body = a;
    b.events.push_back(e);

    eqm::command_result_body c;
    c.cmd_id = "srv-abc";
    c.type = eqm::srv_cmd_type::custody_request;
    c.result = eqm::outcome{"not_ready"};
    c.detail = "battery below 20 %";
    c.record_index = 17;
    e = next();
    e.body = c;
    b.events.push_back(e);
    b.skipped = std::vector<eqm::seq_range>{{2, 5}, {7, 7}};
    return b;
}

}  // namespace

TEST_CASE("the fast gw_events reader reads ordinary batches as the reference does") {
    std::mt19937 rng(7);
    for (int i = 0; i < 20; ++i) {
        const auto batch = sample_batch(rng);
        const auto text = eqm::to_json_text(batch);
        const bool read = agrees(text);
        if (eqm::detail::has_fast_gw_events_reader()) {
            CHECK(read);
            const auto fast = eqm::detail::parse_gw_events_fast(text);
            REQUIRE(fast.has_value());
            CHECK(*fast == batch);
        }
    }
}

TEST_CASE("the fast gw_events reader agrees with the reference on every schema example") {
    std::size_t read = 0, examples = 0;
    for (const auto* kind : {"valid", "invalid"}) {
        for (const auto& entry : fs::directory_iterator(examples_dir / kind)) {
            if (entry.path().filename() == "expect.json") continue;
            ++examples;
            if (agrees(read_file(entry.path()))) ++read;
        }
    }
    CHECK(examples >= 15);
    // Only valid batches can be read fast; the valid examples with a custody index of 0 are
    // left to the reference on purpose.
    if (eqm::detail::has_fast_gw_events_reader()) CHECK(read >= 2);
}

TEST_CASE("the fast gw_events reader declines what it must leave to the reference") {
    std::mt19937 rng(11);
    const json base = json::parse(eqm::to_json_text(sample_batch(rng)));
    // Each edit makes the reference refuse the batch or read it in a way the fast reader does
    // not: the fast reader must decline (or agree).
    const std::vector<std::pair<std::string, json>> edits{
        {"/bd_seq", -1},
        {"/bd_seq", 1.0},
        {"/events/0/body/index", 0},
        {"/events/0/body/slot", 2.5},
        {"/events/0/body/holder", 5},
        {"/events/0/body/hash", "ABC"},
        {"/events/0/body/note", std::string(513, 'n')},
        {"/events/0/body/colour", "red"},
        {"/events/0/body/reservation_id", "r 1"},
        {"/events/1/body/class", "tank"},
        {"/events/1/body/model", ""},
        {"/events/2/body/battery_pct_min", 100.5},
        {"/events/2/body/count", 0},
        {"/events/2/body/gps/lat", 91},
        {"/events/2/body/gps/extra", 1},
        {"/events/3/body/detail", std::string(513, 'd')},
        {"/events/4/body/result", "nope"},
        {"/events/4/body/record_index", -2},
        {"/events/1/seq", 1},
        {"/events/1/msg_id", "gw-450100-999999"},
        {"/events/1/kind", "alert"},
        {"/events/1/ts", "2026-11-26 08:30:00"},
        {"/skipped/0", json::array({5, 2})},
        {"/skipped/1", json::array({7, 100000})},
        {"/events", json::array()},
        {"/gw_id", "gw 1"},
        {"/extra", true},
    };
    for (const auto& [pointer, value] : edits) {
        json j = base;
        j[json::json_pointer(pointer)] = value;
        INFO(pointer << " = " << value.dump());
        const auto text = j.dump();
        agrees(text);
        if (pointer != "/events/0/body/index") {
            CHECK_FALSE(eqm::detail::parse_gw_events_reference(text).has_value());
        }
        CHECK_FALSE(eqm::detail::parse_gw_events_fast(text).has_value());
    }
    // A key twice: the reference keeps the last one, the fast reader declines.
    std::string twice = base.dump();
    twice.insert(1, "\"gw_id\":\"gw-0\",");
    CHECK(agrees(twice) == false);
    CHECK(eqm::parse_gw_events(twice).has_value());
    // Not JSON, or JSON the fast parser refuses (deeper than it goes, a 2^64 integer).
    for (const std::string& text : {std::string("{"), std::string("[1,2"),
                                    base.dump().replace(base.dump().find("\"bd_seq\":3"), 10,
                                                        "\"bd_seq\":18446744073709551616")}) {
        CHECK_FALSE(agrees(text));
    }
}

TEST_CASE("the fast gw_events reader agrees with the reference under random damage") {
    // Seeded: overwrite, drop or insert bytes of valid batches; whatever the fast reader
    // accepts, the reference accepts with the same value.
    std::mt19937 rng(2026);
    std::size_t read = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = eqm::to_json_text(sample_batch(rng));
        const int damage = static_cast<int>(rng() % 3);
        for (int k = 0; k < damage; ++k) {
            const std::size_t at = rng() % text.size();
            static constexpr std::string_view alphabet = "{}[]\":,0123456789-.eE \\nultrfa";
            const char c = alphabet[rng() % alphabet.size()];
            switch (rng() % 3) {
                case 0:
                    text[at] = c;
                    break;
                case 1:
                    text.erase(at, 1);
                    break;
                default:
                    text.insert(at, 1, c);
                    break;
            }
        }
        if (agrees(text)) ++read;
    }
    if (eqm::detail::has_fast_gw_events_reader()) CHECK(read > 500);
}

TEST_CASE("custody_record_text writes what to_json(record).dump() writes") {
    std::mt19937 rng(5);
    const std::vector<std::string> texts{"plain",
                                         "",
                                         "quote \" and backslash \\",
                                         "controls \x01\x02\x1f\x7f \b\f\n\r\t",
                                         "中文 émoji \xF0\x9F\x98\x80",
                                         "/slash/ and </script>"};
    for (int i = 0; i < 200; ++i) {
        eqm::custody_record r;
        r.index = rng();
        r.device_id = "dev-" + std::to_string(i);
        r.action = static_cast<eqm::custody_action>(rng() % 9);
        r.from_state = static_cast<eqm::custody_state>(rng() % 6);
        r.to_state = static_cast<eqm::custody_state>(rng() % 6);
        if (rng() % 2) r.holder = "P-" + std::to_string(i);
        r.actor = texts[rng() % texts.size()];
        r.source = static_cast<eqm::custody_source>(rng() % 3);
        r.ts = eqm::clock_ms{std::chrono::milliseconds(1'700'000'000'000LL + rng())};
        r.prev_hash = std::string(64, 'a');
        r.hash = std::string(64, 'b');
        if (rng() % 2) r.due = r.ts + std::chrono::hours(rng() % 100);
        if (rng() % 2) r.dock_id = "dock-" + std::to_string(rng() % 9);
        if (rng() % 2) r.slot = static_cast<int>(rng() % 200) - 100;
        if (rng() % 2) r.request_id = "req-" + std::to_string(rng() % 9);
        if (rng() % 2) r.condition = static_cast<eqm::item_condition>(rng() % 3);
        if (rng() % 2) r.note = texts[rng() % texts.size()];
        if (rng() % 2) r.transfer_id = "tr-" + std::to_string(rng() % 9);
        if (rng() % 2) r.reservation_id = "r-" + std::to_string(rng() % 9);
        const auto text = eqm::custody_record_text(r);
        REQUIRE(text.has_value());
        CHECK(*text == eqm::to_json(r).dump());
        auto without = eqm::to_json(r);
        without.erase("hash");
        CHECK(*eqm::custody_record_text(r, false) == without.dump());
    }
    eqm::custody_record bad;
    bad.actor = "broken \xC3";
    CHECK_FALSE(eqm::custody_record_text(bad).has_value());
    CHECK_FALSE(eqm::canonical_record_json(bad).has_value());
}
