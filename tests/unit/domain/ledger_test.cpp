#include "eqm/domain/ledger.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/custody.hpp"

using eqm::custody_action;
using eqm::custody_state;
using eqm::ledger_break;
using nlohmann::json;

namespace {

eqm::clock_ms at(std::string_view text) {
    return eqm::parse_timestamp(text).value();
}

/// A five-record ledger of one device: out, back, out, back damaged, repaired.
std::vector<eqm::custody_record> sample_ledger() {
    struct step {
        custody_action action;
        custody_state from, to;
        std::optional<std::string> holder;
    };
    const std::vector<step> steps{
        {custody_action::checkout, custody_state::available, custody_state::checked_out, "p-1"},
        {custody_action::checkin, custody_state::checked_out, custody_state::available, {}},
        {custody_action::checkout, custody_state::available, custody_state::checked_out, "p-2"},
        {custody_action::checkin, custody_state::checked_out, custody_state::maintenance, {}},
        {custody_action::maintenance_out, custody_state::maintenance, custody_state::available, {}},
    };
    std::vector<eqm::custody_record> out;
    std::string prev(eqm::genesis_prev_hash);
    auto ts = at("2026-11-26T08:00:00.000Z");
    for (const auto& s : steps) {
        eqm::custody_record d;
        d.device_id = "bc-0001";
        d.action = s.action;
        d.from_state = s.from;
        d.to_state = s.to;
        d.holder = s.holder;
        d.actor = s.holder.value_or("custodian-3");
        d.source = eqm::custody_source::dock;
        d.ts = ts;
        ts += std::chrono::hours{2};
        out.push_back(eqm::seal(d, prev, out.size()));
        prev = out.back().hash;
    }
    return out;
}

}  // namespace

TEST_CASE("sha256_hex matches the published test vectors", "[ledger]") {
    CHECK(eqm::sha256_hex("") ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(eqm::sha256_hex("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("canonical JSON is compact, key-sorted and independent of input order",
          "[ledger][canonical]") {
    const auto a =
        json::parse(R"({"b": 1, "a": {"z": [1, 2, {"y": null, "x": true}], "m": "é/\n"}})");
    const auto b = json::parse(R"({"a":{"m":"é/\n","z":[1,2,{"x":true,"y":null}]},"b":1})");
    const auto ca = eqm::canonical_json(a);
    REQUIRE(ca.has_value());
    CHECK(*ca == eqm::canonical_json(b).value());
    CHECK(*ca == "{\"a\":{\"m\":\"é/\\n\",\"z\":[1,2,{\"x\":true,\"y\":null}]},\"b\":1}");
}

TEST_CASE("canonical JSON writes integers and strings minimally", "[ledger][canonical]") {
    auto [value, text] = GENERATE(table<json, std::string>({
        {json(0), "0"},
        {json(-42), "-42"},
        {json(18446744073709551615ULL), "18446744073709551615"},
        {json("tab\there"), "\"tab\\there\""},
        {json(std::string("nul\x01", 4)), "\"nul\\u0001\""},
        {json("quote\" back\\"), "\"quote\\\" back\\\\\""},
        {json("南宁 / Nanning"), "\"南宁 / Nanning\""},
    }));
    CHECK(eqm::canonical_json(value).value() == text);
}

TEST_CASE("canonical JSON refuses floats and invalid UTF-8, naming where", "[ledger][canonical]") {
    auto [value, where] = GENERATE(table<json, std::string>({
        {json::parse(R"({"a":{"b":[1,2.5]}})"), "/a/b/1"},
        {json::parse(R"({"n":2.0})"), "/n"},
        {json(0.1), "/"},
        {json{{"s", std::string("bad \xC3\x28 byte")}}, "/s"},
        {json{{"s", std::string("surrogate \xED\xA0\x80")}}, "/s"},
        {json{{"s", std::string("overlong \xC0\xAF")}}, "/s"},
    }));
    const auto r = eqm::canonical_json(value);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == eqm::errc::bad_field);
    CHECK(r.error().field == where);
}

TEST_CASE("a sealed ledger verifies and links record to record", "[ledger]") {
    const auto ledger = sample_ledger();
    CHECK(ledger.front().prev_hash == eqm::genesis_prev_hash);
    for (std::size_t i = 0; i < ledger.size(); ++i) {
        CHECK(ledger[i].index == i);
        CHECK(ledger[i].hash.size() == 64);
        if (i > 0) CHECK(ledger[i].prev_hash == ledger[i - 1].hash);
    }
    CHECK(eqm::verify(ledger).ok());
    CHECK(eqm::verify({}).ok());
    // A slice verifies from its own starting point.
    CHECK(eqm::verify(std::span(ledger).subspan(2), ledger[1].hash, 2).ok());
    CHECK_FALSE(eqm::verify(std::span(ledger).subspan(2)).ok());
}

TEST_CASE("the hash is SHA-256 of prev_hash then the canonical record without hash", "[ledger]") {
    const auto r = sample_ledger().at(1);
    auto j = eqm::to_json(r);
    j.erase("hash");
    CHECK(r.hash == eqm::sha256_hex(r.prev_hash + j.dump()));
    // Key order of the input does not matter: parse a shuffled text and re-hash.
    const auto shuffled =
        json::parse(R"({"ts":"2026-11-26T10:00:00.000Z","to_state":"available","source":"dock",)"
                    R"("prev_hash":")" +
                    r.prev_hash + R"(","index":1,"holder":null,"hash":")" + r.hash +
                    R"(","from_state":"checked_out","device_id":"bc-0001","actor":"custodian-3",)"
                    R"("action":"checkin"})");
    const auto parsed = eqm::parse_custody_record(shuffled);
    REQUIRE(parsed.has_value());
    CHECK(eqm::compute_record_hash(*parsed).value() == r.hash);
}

TEST_CASE("tampering any field of a middle record is caught at that record", "[ledger]") {
    using mutation = std::function<void(eqm::custody_record&)>;
    auto [name, tamper, why] = GENERATE(table<std::string, mutation, ledger_break>({
        {"index", [](auto& r) { r.index += 1; }, ledger_break::index_gap},
        {"device_id", [](auto& r) { r.device_id = "bc-0002"; }, ledger_break::hash_mismatch},
        {"action", [](auto& r) { r.action = custody_action::report_lost; },
         ledger_break::hash_mismatch},
        {"from_state", [](auto& r) { r.from_state = custody_state::lost; },
         ledger_break::hash_mismatch},
        {"to_state", [](auto& r) { r.to_state = custody_state::retired; },
         ledger_break::hash_mismatch},
        {"holder", [](auto& r) { r.holder = "p-evil"; }, ledger_break::hash_mismatch},
        {"holder cleared", [](auto& r) { r.holder.reset(); }, ledger_break::hash_mismatch},
        {"actor", [](auto& r) { r.actor = "someone"; }, ledger_break::hash_mismatch},
        {"source", [](auto& r) { r.source = eqm::custody_source::api; },
         ledger_break::hash_mismatch},
        {"ts", [](auto& r) { r.ts += std::chrono::milliseconds{1}; }, ledger_break::hash_mismatch},
        {"prev_hash", [](auto& r) { r.prev_hash[5] = r.prev_hash[5] == 'a' ? 'b' : 'a'; },
         ledger_break::prev_hash_mismatch},
        {"hash", [](auto& r) { r.hash[0] = r.hash[0] == 'a' ? 'b' : 'a'; },
         ledger_break::hash_mismatch},
        {"due", [](auto& r) { r.due = at("2027-01-01T00:00:00.000Z"); },
         ledger_break::hash_mismatch},
        {"dock_id", [](auto& r) { r.dock_id = "dock-x"; }, ledger_break::hash_mismatch},
        {"slot", [](auto& r) { r.slot = 7; }, ledger_break::hash_mismatch},
        {"request_id", [](auto& r) { r.request_id = "ev-1"; }, ledger_break::hash_mismatch},
        {"condition", [](auto& r) { r.condition = eqm::item_condition::damaged; },
         ledger_break::hash_mismatch},
        {"note", [](auto& r) { r.note = ""; }, ledger_break::hash_mismatch},
        {"transfer_id", [](auto& r) { r.transfer_id = "tr-1"; }, ledger_break::hash_mismatch},
        {"reservation_id", [](auto& r) { r.reservation_id = "r-1"; }, ledger_break::hash_mismatch},
    }));
    INFO("tampered field: " << name);
    auto ledger = sample_ledger();
    tamper(ledger[2]);
    const auto v = eqm::verify(ledger);
    REQUIRE_FALSE(v.ok());
    CHECK(v.position == 2);
    CHECK(v.reason == why);
    CHECK(v.to_error().code == eqm::errc::ledger_broken);
    CHECK_THAT(v.message, Catch::Contains("position 2"));
}

TEST_CASE("a re-sealed forgery is caught at the next record", "[ledger]") {
    auto ledger = sample_ledger();
    auto forged = ledger[2];
    forged.holder = "p-evil";
    ledger[2] = eqm::seal(forged, ledger[1].hash, 2);
    const auto v = eqm::verify(ledger);
    REQUIRE_FALSE(v.ok());
    CHECK(v.position == 3);
    CHECK(v.reason == ledger_break::prev_hash_mismatch);
}

TEST_CASE("deleting, duplicating or reordering records is caught at the first misfit", "[ledger]") {
    using edit = std::function<void(std::vector<eqm::custody_record>&)>;
    auto [name, change, position, why] = GENERATE(table<std::string, edit, std::uint64_t, ledger_break>({
        {"delete first", [](auto& l) { l.erase(l.begin()); }, 0, ledger_break::index_gap},
        {"delete middle", [](auto& l) { l.erase(l.begin() + 2); }, 2, ledger_break::index_gap},
        {"duplicate", [](auto& l) { l.insert(l.begin() + 3, l[2]); }, 3, ledger_break::index_gap},
        {"swap", [](auto& l) { std::swap(l[1], l[3]); }, 1, ledger_break::index_gap},
        {"reverse", [](auto& l) { std::reverse(l.begin(), l.end()); }, 0, ledger_break::index_gap},
        // renumbered after a deletion: the indexes fit but the chain does not
        {"delete and renumber", [](auto& l) {
             l.erase(l.begin() + 1);
             for (std::size_t i = 0; i < l.size(); ++i) l[i].index = i;
         }, 1, ledger_break::prev_hash_mismatch},
    }));
    INFO(name);
    auto ledger = sample_ledger();
    change(ledger);
    const auto v = eqm::verify(ledger);
    REQUIRE_FALSE(v.ok());
    CHECK(v.position == position);
    CHECK(v.reason == why);
}

TEST_CASE("a ledger from another genesis does not verify", "[ledger]") {
    const auto ledger = sample_ledger();
    const std::string other(64, 'f');
    const auto v = eqm::verify(ledger, other);
    REQUIRE_FALSE(v.ok());
    CHECK(v.position == 0);
    CHECK(v.reason == ledger_break::prev_hash_mismatch);
}

TEST_CASE("the incremental verifier agrees with verify and stays broken", "[ledger]") {
    auto ledger = sample_ledger();
    eqm::ledger_verifier v;
    for (std::size_t i = 0; i < 3; ++i) CHECK(v.feed(ledger[i]).ok());
    CHECK(v.count() == 3);
    CHECK(v.next_index() == 3);
    CHECK(v.head_hash() == ledger[2].hash);

    auto bad = ledger[3];
    bad.actor = "mallory";
    const auto first = v.feed(bad);
    REQUIRE_FALSE(first.ok());
    CHECK(first.position == 3);
    CHECK(v.broken());
    // The genuine record after a break is not accepted: the head is unknown now.
    const auto later = v.feed(ledger[3]);
    CHECK_FALSE(later.ok());
    CHECK(later.position == 3);
    CHECK(v.count() == 3);
    CHECK(v.head_hash() == ledger[2].hash);
}

TEST_CASE("seal replaces ill-formed UTF-8 so the record is exactly what is hashed", "[ledger]") {
    auto draft = sample_ledger().front();
    draft.note = std::string("scratched \xFF lens");
    const auto sealed = eqm::seal(draft, eqm::genesis_prev_hash, 0);
    CHECK(sealed.note == "scratched \xEF\xBF\xBD lens");
    CHECK(eqm::verify(std::span(&sealed, 1)).ok());
    // The wire form parses back to the same record, which still verifies.
    const auto back = eqm::parse_custody_record(json::parse(eqm::to_json(sealed).dump()));
    REQUIRE(back.has_value());
    CHECK(*back == sealed);

    // An unsealed record with bad bytes cannot be hashed and does not verify.
    auto raw = sealed;
    raw.note = std::string("\xFF");
    CHECK_FALSE(eqm::compute_record_hash(raw).has_value());
    CHECK(eqm::verify(std::span(&raw, 1)).reason == ledger_break::hash_mismatch);
}

TEST_CASE("sanitize_utf8 keeps valid text and replaces each bad byte", "[ledger][canonical]") {
    CHECK(eqm::sanitize_utf8("南宁 ok") == "南宁 ok");
    CHECK(eqm::is_valid_utf8("\xF0\x9F\x93\xB7"));                          // U+1F4F7, four bytes
    CHECK_FALSE(eqm::is_valid_utf8("\xF4\x90\x80\x80"));                    // above U+10FFFF
    CHECK(eqm::sanitize_utf8("a\xE5\x8D") == "a\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
}

TEST_CASE("a check-out naming its booking is hashed with it, and older records keep their hash",
          "[ledger]") {
    // Hashes computed outside this code (Python's json + hashlib) from the definition.
    const auto old_record = json::parse(
        R"({"action":"checkout","actor":"custodian-3","device_id":"dr-01",)"
        R"("due":"2026-11-27T09:00:00.000Z","from_state":"available","holder":"p-1","index":0,)"
        R"("prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",)"
        R"("source":"api","to_state":"checked_out","ts":"2026-11-27T01:00:00.000Z",)"
        R"("hash":"8cbc9028aa009530d618adc0fc0ccb43a8bde2c191be233a5aff04644992d90c"})");
    const auto booked = json::parse(
        R"({"action":"checkout","actor":"custodian-3","device_id":"dr-02","dock_id":"dock-1",)"
        R"("from_state":"available","holder":"p-2","index":1,)"
        R"("prev_hash":"8cbc9028aa009530d618adc0fc0ccb43a8bde2c191be233a5aff04644992d90c",)"
        R"("request_id":"ev-9","reservation_id":"r-7","slot":3,"source":"dock",)"
        R"("to_state":"checked_out","ts":"2026-11-27T01:05:00.000Z",)"
        R"("hash":"7837af6937609c76fd2e812652c23ea96cdd044e5d34692672e17710d3caff58"})");
    const auto a = eqm::parse_custody_record(old_record);
    const auto b = eqm::parse_custody_record(booked);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK_FALSE(a->reservation_id.has_value());
    CHECK(b->reservation_id == "r-7");
    const std::vector<eqm::custody_record> chain{*a, *b};
    CHECK(eqm::verify(chain).ok());
    CHECK_FALSE(eqm::to_json(*a).contains("reservation_id"));
    CHECK(eqm::to_json(*b).dump() == booked.dump());
    // Naming another booking breaks the chain.
    auto forged = chain;
    forged[1].reservation_id = "r-8";
    CHECK(eqm::verify(forged).reason == ledger_break::hash_mismatch);
    // seal() fills the hash over the field too.
    auto draft = *b;
    draft.hash.clear();
    CHECK(eqm::seal(draft, a->hash, 1).hash == b->hash);
}
