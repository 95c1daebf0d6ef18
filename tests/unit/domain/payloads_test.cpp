// Typed MQTT payloads: round trips over fixtures, rejections that name the field, agreement with
// the schema examples, and topic parsing.
#include "eqm/domain/payloads.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "eqm/domain/allocation.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path fixtures_dir = fs::path(EQM_FIXTURES_DIR) / "payloads";
const fs::path schema_examples_dir =
    fs::path(EQM_FIXTURES_DIR).parent_path().parent_path() / "schemas" / "examples";

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Parses `text` as one payload; on success, returns its canonical serialization after
/// checking that parsing that again gives an equal value.
using codec = eqm::result<std::string> (*)(std::string_view);

template <class T, eqm::result<T> (*parse)(std::string_view)>
eqm::result<std::string> reparse(std::string_view text) {
    auto v = parse(text);
    if (!v) return std::unexpected(v.error());
    auto out = eqm::to_json_text(*v);
    auto again = parse(out);
    REQUIRE(again.has_value());
    CHECK(*again == *v);
    return out;
}

/// The same for objects that only travel nested in a payload (registry records, custody body).
template <class T, eqm::result<T> (*from)(const json&, std::string_view)>
eqm::result<std::string> reparse_nested(std::string_view text) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return eqm::fail(eqm::errc::bad_json, "", "not JSON");
    auto v = from(j, "");
    if (!v) return std::unexpected(v.error());
    auto out = eqm::to_json(*v).dump();
    auto again = from(json::parse(out), "");
    REQUIRE(again.has_value());
    CHECK(*again == *v);
    return out;
}

/// The allocation plan input (region names) and the plan: request and answer bodies over REST.
eqm::result<std::string> reparse_plan_input(std::string_view text) {
    auto v = eqm::parse_allocation_input_text(text, eqm::plan_names::region);
    if (!v) return std::unexpected(v.error());
    auto out = eqm::to_json(*v).dump();
    auto again = eqm::parse_allocation_input_text(out, eqm::plan_names::region);
    REQUIRE(again.has_value());
    CHECK(*again == *v);
    return out;
}

eqm::result<std::string> reparse_plan(std::string_view text) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return eqm::fail(eqm::errc::bad_json, "", "not JSON");
    auto v = eqm::parse_allocation_plan(j);
    if (!v) return std::unexpected(v.error());
    auto out = eqm::to_json(*v).dump();
    auto again = eqm::parse_allocation_plan(json::parse(out));
    REQUIRE(again.has_value());
    CHECK(*again == *v);
    return out;
}

const std::map<std::string, codec>& codecs() {
    static const std::map<std::string, codec> table{
        {"device_state", reparse<eqm::device_state, eqm::parse_device_state>},
        {"device_telemetry", reparse<eqm::device_telemetry, eqm::parse_device_telemetry>},
        {"device_event", reparse<eqm::device_event, eqm::parse_device_event>},
        {"dock_event", reparse<eqm::dock_event, eqm::parse_dock_event>},
        {"ack", reparse<eqm::ack, eqm::parse_ack>},
        {"device_cmd", reparse<eqm::device_cmd, eqm::parse_device_cmd>},
        {"gw_state", reparse<eqm::gw_state, eqm::parse_gw_state>},
        {"gw_events", reparse<eqm::gw_events, eqm::parse_gw_events>},
        {"srv_ack", reparse<eqm::srv_ack, eqm::parse_srv_ack>},
        {"srv_cmd", reparse<eqm::srv_cmd, eqm::parse_srv_cmd>},
        {"device_record", reparse_nested<eqm::device_record, eqm::from_json_device_record>},
        {"person_record", reparse_nested<eqm::person_record, eqm::from_json_person_record>},
        {"custody_record", reparse_nested<eqm::custody_record, eqm::parse_custody_record>},
        {"allocation_plan_input", reparse_plan_input},
        {"allocation_plan", reparse_plan},
    };
    return table;
}

json fixture(const std::string& payload, std::size_t index) {
    const json all = json::parse(read_file(fixtures_dir / (payload + ".json")));
    REQUIRE(index < all.size());
    return all[index];
}

/// Applies an edit to a fixture: "-/a/b" removes /a/b, "/a/b=<json>" sets it.
std::string edited(const std::string& payload, std::size_t index, const std::string& edit) {
    json j = fixture(payload, index);
    if (edit.empty()) return j.dump();
    if (edit[0] == '-') {
        const json::json_pointer p(edit.substr(1));
        j[p.parent_pointer()].erase(p.back());
    } else {
        const auto eq = edit.find('=');
        j[json::json_pointer(edit.substr(0, eq))] = json::parse(edit.substr(eq + 1));
    }
    return j.dump();
}

}  // namespace

TEST_CASE("every payload variant round-trips to the same text and an equal value", "[payloads]") {
    const std::string payload =
        GENERATE(as<std::string>{}, "device_state", "device_telemetry", "device_event",
                 "dock_event", "ack", "device_cmd", "gw_state", "gw_events", "srv_ack", "srv_cmd");
    const json all = json::parse(read_file(fixtures_dir / (payload + ".json")));
    REQUIRE(all.size() >= 2);
    for (const auto& example : all) {
        const std::string text = example.dump();
        CAPTURE(payload, text);
        const auto out = codecs().at(payload)(text);
        INFO((out ? std::string() : out.error().describe()));
        REQUIRE(out.has_value());
        CHECK(*out == text);
    }
}

TEST_CASE("parsed payloads expose their variant", "[payloads]") {
    auto birth = eqm::parse_device_state(fixture("device_state", 0).dump());
    REQUIRE(birth);
    CHECK(birth->online);
    CHECK(birth->cls == eqm::device_class::body_camera);
    CHECK(birth->fw == "2.4.1");
    auto will = eqm::parse_device_state(fixture("device_state", 2).dump());
    REQUIRE(will);
    CHECK_FALSE(will->online);
    CHECK_FALSE(will->model.has_value());
    CHECK(will->bd_seq == 18446744073709551615ULL);

    auto batch = eqm::parse_gw_events(fixture("gw_events", 0).dump());
    REQUIRE(batch);
    REQUIRE(batch->events.size() == 7);
    CHECK(batch->events[0].kind() == eqm::gw_event_kind::custody);
    const auto& record = std::get<eqm::custody_record>(batch->events[0].body);
    CHECK(record.holder == "P-0193");
    CHECK(record.slot == 3);
    CHECK(batch->events[5].kind() == eqm::gw_event_kind::telemetry_summary);

    auto cmd = eqm::parse_srv_cmd(fixture("srv_cmd", 1).dump());
    REQUIRE(cmd);
    CHECK(cmd->type() == eqm::srv_cmd_type::registry_upsert);
    const auto& upsert = std::get<eqm::registry_upsert_cmd>(cmd->body);
    CHECK(upsert.full_sync == true);
    CHECK(upsert.devices.at(1).analyte == eqm::analyte::cod);
    CHECK_FALSE(upsert.people.at(1).is_active());
    CHECK(upsert.people.at(0).is_active());

    auto telemetry = eqm::parse_device_telemetry(fixture("device_telemetry", 2).dump());
    REQUIRE(telemetry);
    REQUIRE(telemetry->footage_pending_since.has_value());       // reported...
    CHECK_FALSE(telemetry->footage_pending_since->has_value());  // ...as null

    auto acked = eqm::parse_ack(fixture("ack", 1).dump());
    REQUIRE(acked);
    CHECK(acked->results.at("d-2").is_ok());
    CHECK(acked->results.at("d-1") == eqm::outcome::rejected(eqm::errc::battery_low));
}

namespace {

struct rejection {
    const char* payload;
    std::size_t fixture;
    const char* edit;  ///< see edited()
    eqm::errc code;
    const char* field;
};

constexpr auto bad = eqm::errc::bad_field;
constexpr auto unknown = eqm::errc::unknown_field;

}  // namespace

TEST_CASE("bad payloads are refused with the field's JSON path and the reason", "[payloads]") {
    const auto row = GENERATE(values<rejection>({
        // device_state
        {"device_state", 0, "-/fw", bad, "fw"},
        {"device_state", 0, "/bd_seq=-1", bad, "bd_seq"},
        {"device_state", 0, "/bd_seq=1.0", bad, "bd_seq"},
        {"device_state", 0, "/bd_seq=\"7\"", bad, "bd_seq"},
        {"device_state", 0, "/class=\"tank\"", bad, "class"},
        {"device_state", 0, "/model=\"\"", bad, "model"},
        {"device_state", 0, "/online=1", bad, "online"},
        {"device_state", 0, "/ts=\"2026-11-26T08:30:00Z\"", bad, "ts"},
        {"device_state", 0, "/extra=1", unknown, "extra"},
        {"device_state", 2, "/model=\"x\"", unknown, "model"},  // a will carries bd_seq only
        {"device_state", 0, "-/online", bad, "online"},
        // device_telemetry
        {"device_telemetry", 0, "/battery_pct=100.5", bad, "battery_pct"},
        {"device_telemetry", 0, "/temp_c=-61", bad, "temp_c"},
        {"device_telemetry", 0, "/storage_free_mb=-0.5", bad, "storage_free_mb"},
        {"device_telemetry", 0, "/seq=18446744073709551616", bad, "seq"},
        {"device_telemetry", 1, "/gps/lat=91", bad, "gps.lat"},
        {"device_telemetry", 1, "/gps/speed=3", unknown, "gps.speed"},
        {"device_telemetry", 1, "-/gps/lon", bad, "gps.lon"},
        {"device_telemetry", 1, "/footage_pending_since=\"yesterday\"", bad,
         "footage_pending_since"},
        {"device_telemetry", 3, "/health_codes/1=\"\"", bad, "health_codes[1]"},
        {"device_telemetry", 3, "/health_codes=\"IMU_WARN\"", bad, "health_codes"},
        {"device_telemetry", 3, "/battery_cycles=-3", bad, "battery_cycles"},
        {"device_telemetry", 4, "/readings/1/analyte=\"lead\"", bad, "readings[1].analyte"},
        {"device_telemetry", 4, "/readings/0/unit=\"milligrams per litre\"", bad,
         "readings[0].unit"},
        {"device_telemetry", 4, "/calibration_due=\"2027-02-30\"", bad, "calibration_due"},
        {"device_telemetry", 5, "/slots_total=65", bad, "slots_total"},
        {"device_telemetry", 5, "/slots_total=10", bad, "slots_occupied"},
        {"device_telemetry", 0, "/batery_pct=50", unknown, "batery_pct"},
        {"device_telemetry", 0, "-/battery_pct", bad, "battery_pct"},
        // device_event
        {"device_event", 1, "-/footage_mb", bad, "footage_mb"},
        {"device_event", 0, "/footage_mb=3", unknown, "footage_mb"},
        {"device_event", 6, "/code=\"\"", bad, "code"},
        {"device_event", 7, "/battery_pct=5", unknown, "battery_pct"},
        {"device_event", 8, "/battery_pct=101", bad, "battery_pct"},
        {"device_event", 0, "/type=\"exploded\"", bad, "type"},
        {"device_event", 0, "/event_id=\"has space\"", bad, "event_id"},
        {"device_event", 5, "/calibration_due=\"2027-1-1\"", bad, "calibration_due"},
        // dock_event
        {"dock_event", 0, "/slot=64", bad, "slot"},
        {"dock_event", 0, "/slot=-1", bad, "slot"},
        {"dock_event", 0, "/badge=\"\"", bad, "badge"},
        {"dock_event", 1, "-/device_id", bad, "device_id"},
        {"dock_event", 0, "/type=\"slot_eject\"", bad, "type"},
        // ack
        {"ack", 0, "/event_ids=[]", bad, "event_ids"},
        {"ack", 0, "/results/e-1=\"rejected:\"", bad, "results.e-1"},
        {"ack", 0, "/results/e-1=\"REJECTED:x\"", bad, "results.e-1"},
        {"ack", 1, "-/results/d-1", bad, "results.d-1"},
        {"ack", 0, "/results/zz=\"ok\"", bad, "results.zz"},
        {"ack", 0, "/event_ids=[\"e-1\",\"e-1\"]", bad, "event_ids[1]"},
        // device_cmd
        {"device_cmd", 0, "/reason=\"x\"", unknown, "reason"},
        {"device_cmd", 4, "-/settings", bad, "settings"},
        {"device_cmd", 4, "/settings/telemetry_interval_s=0", bad, "settings.telemetry_interval_s"},
        {"device_cmd", 4, "/settings/telemetry_interval_s=86401", bad,
         "settings.telemetry_interval_s"},
        {"device_cmd", 4, "/settings/volume=3", unknown, "settings.volume"},
        {"device_cmd", 2, "/settings={}", unknown, "settings"},
        {"device_cmd", 4, "/settings={}", bad, "settings"},
        // gw_state
        {"gw_state", 0, "-/version", bad, "version"},
        {"gw_state", 0, "/version=\"0123456789012345678901234567890123\"", bad, "version"},
        {"gw_state", 1, "/gw_id=\"gw-1\"", unknown, "gw_id"},
        // gw_events
        {"gw_events", 0, "/events/3/body/device_id=\"bad id\"", bad, "events[3].body.device_id"},
        {"gw_events", 0, "/events/0/body/hash=\"ABC\"", bad, "events[0].body.hash"},
        {"gw_events", 0, "/events/0/body/colour=\"red\"", unknown, "events[0].body.colour"},
        {"gw_events", 0, "/events/5/body/count=0", bad, "events[5].body.count"},
        {"gw_events", 1, "/events/0/body/severity=\"fatal\"", bad, "events[0].body.severity"},
        {"gw_events", 1, "/events/3/body/result=\"nope\"", bad, "events[3].body.result"},
        {"gw_events", 1, "/events/2/kind=\"gossip\"", bad, "events[2].kind"},
        {"gw_events", 1, "/events/1/seq=100", bad, "events[1].seq"},
        {"gw_events", 1, "/events/1/msg_id=\"gw_9-7\"", bad, "events[1].msg_id"},
        {"gw_events", 0, "/events/0/seq=0", bad, "events[0].seq"},
        {"gw_events", 0, "/events=[]", bad, "events"},
        {"gw_events", 0, "-/events/2/body", bad, "events[2].body"},
        {"gw_events", 1, "/skipped/0=[5,3]", bad, "skipped[0][1]"},
        {"gw_events", 1, "/skipped/1=[0,3]", bad, "skipped[1][0]"},
        {"gw_events", 1, "/skipped/1=[60,100]", bad, "skipped[1][1]"},
        {"gw_events", 1, "/skipped/1=[60]", bad, "skipped[1]"},
        {"gw_events", 1, "/skipped/1=[60,61,62]", bad, "skipped[1]"},
        // srv_ack
        {"srv_ack", 1, "/resend_from=0", bad, "resend_from"},
        {"srv_ack", 0, "/upto_seq=-1", bad, "upto_seq"},
        {"srv_ack", 0, "/ack=true", unknown, "ack"},
        // srv_cmd
        {"srv_cmd", 1, "/devices/2/city=\"4501\"", bad, "devices[2].city"},
        {"srv_cmd", 1, "/devices/1/flight_hours=-1", bad, "devices[1].flight_hours"},
        {"srv_cmd", 1, "/people/0/role=\"chief\"", bad, "people[0].role"},
        {"srv_cmd", 1, "/people/1/nickname=\"x\"", unknown, "people[1].nickname"},
        {"srv_cmd", 0, "-/people", bad, "people"},
        {"srv_cmd", 2, "/reservation/status=\"maybe\"", bad, "reservation.status"},
        {"srv_cmd", 2, "/reservation/end=\"2026-11-26T00:00:00.000Z\"", bad, "reservation.end"},
        {"srv_cmd", 2, "-/reservation/device_id", bad, "reservation.device_id"},
        {"srv_cmd", 2, "/reservation/purpose=\"x\"", unknown, "reservation.purpose"},
        {"srv_cmd", 10, "-/reservation/city", bad, "reservation.city"},
        {"srv_cmd", 10, "/reservation/city=\"4503\"", bad, "reservation.city"},
        {"srv_cmd", 10, "/reservation/class=\"tank\"", bad, "reservation.class"},
        {"srv_cmd", 10, "/reservation/class=\"drone\"", bad, "reservation.analyte"},
        {"srv_cmd", 11, "/reservation/analyte=\"cod\"", bad, "reservation.analyte"},
        {"srv_cmd", 10, "/reservation/status=\"rejected\"", bad, "reservation.status"},
        {"srv_cmd", 3, "/device_id=\"cam-1\"", unknown, "device_id"},
        {"srv_cmd", 4, "/step=\"teleport\"", bad, "step"},
        {"srv_cmd", 6, "/locked=\"yes\"", bad, "locked"},
        {"srv_cmd", 8, "-/badge", bad, "badge"},
        {"srv_cmd", 8, "/action=\"retire\"", bad, "action"},
        {"srv_cmd", 9, "/condition=\"broken\"", bad, "condition"},
        {"srv_cmd", 9, "/actor=\"\"", bad, "actor"},
        {"srv_cmd", 0, "/type=\"reboot\"", bad, "type"},
    }));
    const std::string text = edited(row.payload, row.fixture, row.edit);
    CAPTURE(row.payload, row.edit, text);
    const auto out = codecs().at(row.payload)(text);
    REQUIRE_FALSE(out.has_value());
    INFO(out.error().describe());
    CHECK(out.error().code == row.code);
    CHECK(out.error().field == row.field);
    CHECK_FALSE(out.error().message.empty());
}

TEST_CASE("text that is not a payload object is refused as a whole", "[payloads]") {
    const std::string payload =
        GENERATE(as<std::string>{}, "device_state", "device_telemetry", "device_event",
                 "dock_event", "ack", "device_cmd", "gw_state", "gw_events", "srv_ack", "srv_cmd");
    CAPTURE(payload);
    const auto parse = codecs().at(payload);
    for (const std::string text : {"", "{", "nul", "{\"ts\":}", "[1,2", "\"\\ud800\""}) {
        const auto out = parse(text);
        REQUIRE_FALSE(out.has_value());
        CHECK(out.error().code == eqm::errc::bad_json);
        CHECK(out.error().field.empty());
    }
    for (const std::string text : {"[]", "null", "42", "\"ts\""}) {
        const auto out = parse(text);
        REQUIRE_FALSE(out.has_value());
        CHECK(out.error().code == eqm::errc::bad_field);
        CHECK(out.error().field.empty());
    }
}

TEST_CASE("payloads over their size limit are refused before parsing", "[payloads]") {
    // Valid JSON padded with whitespace: only the size is wrong.
    const std::string telemetry = fixture("device_telemetry", 0).dump();
    const std::string padded =
        telemetry + std::string(eqm::max_payload_bytes - telemetry.size(), ' ');
    CHECK(eqm::parse_device_telemetry(padded).has_value());
    const auto over = eqm::parse_device_telemetry(padded + " ");
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error().code == eqm::errc::too_large);

    // A gateway batch may be up to 4 MiB.
    const std::string batch = fixture("gw_events", 0).dump();
    const std::string big = batch + std::string(eqm::max_gw_events_bytes - batch.size(), ' ');
    CHECK(eqm::parse_gw_events(big).has_value());
    const auto too_big = eqm::parse_gw_events(big + " ");
    REQUIRE_FALSE(too_big.has_value());
    CHECK(too_big.error().code == eqm::errc::too_large);

    // And at most 1000 events.
    json many = fixture("gw_events", 1);
    many.erase("skipped");
    json events = json::array();
    for (int seq = 1; seq <= 1001; ++seq) {
        json e = many["events"][0];
        e["seq"] = seq;
        e["msg_id"] = "gw_9-" + std::to_string(seq);
        events.push_back(e);
    }
    many["events"] = events;
    const auto over_count = eqm::parse_gw_events(many.dump());
    REQUIRE_FALSE(over_count.has_value());
    CHECK(over_count.error().field == "events");
    many["events"].erase(1000);
    CHECK(eqm::parse_gw_events(many.dump()).has_value());
}

TEST_CASE("string limits count characters, not bytes", "[payloads]") {
    // 64 CJK characters are 192 bytes of UTF-8 and still a valid model name.
    std::string model;
    for (int i = 0; i < 64; ++i) model += "机";
    json j = fixture("device_state", 0);
    j["model"] = model;
    CHECK(eqm::parse_device_state(j.dump()).has_value());
    j["model"] = model + "机";
    const auto out = eqm::parse_device_state(j.dump());
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error().field == "model");
}

TEST_CASE("every enum wire name parses back to its value", "[payloads]") {
    const auto check = [](auto count, auto parse) {
        using E = decltype(count);
        for (int i = 0; i <= static_cast<int>(count); ++i) {
            const auto v = static_cast<E>(i);
            CAPTURE(i, eqm::to_string(v));
            CHECK(parse(eqm::to_string(v)) == v);
        }
        CHECK_FALSE(parse("unknown").has_value());
    };
    check(eqm::device_event_type::low_battery, eqm::parse_device_event_type);
    check(eqm::dock_event_type::slot_remove, eqm::parse_dock_event_type);
    check(eqm::device_cmd_type::config, eqm::parse_device_cmd_type);
    check(eqm::gw_event_kind::command_result, eqm::parse_gw_event_kind);
    check(eqm::alert_type::ledger_broken, eqm::parse_alert_type);
    check(eqm::alert_state::cleared, eqm::parse_alert_state);
    check(eqm::alert_severity::critical, eqm::parse_alert_severity);
    check(eqm::srv_cmd_type::custody_request, eqm::parse_srv_cmd_type);
    check(eqm::reservation_status::overdue, eqm::parse_reservation_status);
    // Older servers and gateway ledgers wrote "pending"; it reads as requested.
    CHECK(eqm::parse_reservation_status("pending") == eqm::reservation_status::requested);
    CHECK(eqm::to_string(eqm::reservation_status::pending) == "requested");
    check(eqm::transfer_step::receive, eqm::parse_transfer_step);
    check(eqm::topic_kind::srv_cmd, eqm::parse_topic_kind);
    CHECK(eqm::to_string(eqm::alert_type::docked_while_checked_out) == "docked_while_checked_out");
}

TEST_CASE("every contract topic is recognised with its id", "[payloads][topic]") {
    using k = eqm::topic_kind;
    const auto row = GENERATE(values<std::tuple<std::string, eqm::topic_kind, std::string>>({
        {"eqm/v1/dev/cam-0007/state", k::device_state, "cam-0007"},
        {"eqm/v1/dev/cam-0007/telemetry", k::device_telemetry, "cam-0007"},
        {"eqm/v1/dev/D_1/event", k::device_event, "D_1"},
        {"eqm/v1/dev/x/cmd", k::device_cmd, "x"},
        {"eqm/v1/dock/dock-nn-01/event", k::dock_event, "dock-nn-01"},
        {"eqm/v1/ack/cam-0007", k::ack, "cam-0007"},
        {"eqm/v1/city/450100/gw/state", k::gw_state, "450100"},
        {"eqm/v1/city/451400/gw/events", k::gw_events, "451400"},
        {"eqm/v1/city/450300/srv/ack", k::srv_ack, "450300"},
        {"eqm/v1/city/450300/srv/cmd", k::srv_cmd, "450300"},
        {"eqm/v1/dev/" + std::string(64, 'a') + "/state", k::device_state, std::string(64, 'a')},
    }));
    const auto& [text, kind, id] = row;
    CAPTURE(text);
    const auto t = eqm::parse_topic(text);
    REQUIRE(t.has_value());
    CHECK(t->kind == kind);
    CHECK(t->id == id);
    CHECK(eqm::format_topic(*t) == text);
}

TEST_CASE("unknown topics and malformed ids in topics are refused", "[payloads][topic]") {
    const auto row = GENERATE(values<std::pair<std::string, std::string>>({
        {"", "topic"},
        {"eqm/v1/dev/cam-1", "topic"},
        {"eqm/v1/dev/cam-1/", "topic"},
        {"eqm/v1/dev/cam-1/state/extra", "topic"},
        {"eqm/v1/dev/cam-1/status", "topic"},
        {"eqm/v2/dev/cam-1/state", "topic"},
        {"/eqm/v1/dev/cam-1/state", "topic"},
        {"eqm/v1/dock/d-1/state", "topic"},
        {"eqm/v1/ack/cam-1/x", "topic"},
        {"eqm/v1/city/450100/gw", "topic"},
        {"eqm/v1/city/450100/srv/state", "topic"},
        {"$share/eqm/eqm/v1/city/450100/gw/events", "topic"},
        {"eqm/v1/dev/+/state", "topic.device_id"},
        {"eqm/v1/dev/#", "topic"},
        {"eqm/v1/dev//state", "topic.device_id"},
        {"eqm/v1/dev/cam 1/state", "topic.device_id"},
        {"eqm/v1/dev/" + std::string(65, 'a') + "/state", "topic.device_id"},
        {"eqm/v1/dock/d.1/event", "topic.dock_id"},
        {"eqm/v1/ack/", "topic.client_id"},
        {"eqm/v1/city/45010/gw/state", "topic.city"},
        {"eqm/v1/city/45010a/srv/cmd", "topic.city"},
        {"eqm/v1/city/+/gw/events", "topic.city"},
    }));
    CAPTURE(row.first);
    const auto t = eqm::parse_topic(row.first);
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == eqm::errc::bad_field);
    CHECK(t.error().field == row.second);
}

namespace {

/// The errc the parser should give for an ajv keyword of schemas/examples/*/invalid/expect.json.
eqm::errc expected_code(const std::string& keyword) {
    if (keyword == "additionalProperties" || keyword == "unevaluatedProperties")
        return eqm::errc::unknown_field;
    if (keyword == "eqm_size") return eqm::errc::too_large;
    if (keyword == "eqm_json") return eqm::errc::bad_json;
    return eqm::errc::bad_field;
}

/// ajv's instancePath "/events/3/body" as our field path "events[3].body". With
/// `digits_are_keys`, an all-digit token is an object key instead ("/stock/450100/drone" as
/// "stock.450100.drone": city codes key the plan input's objects).
std::string field_path(const std::string& pointer, bool digits_are_keys = false) {
    std::string out;
    std::size_t pos = 1;
    while (pos <= pointer.size() && !pointer.empty()) {
        const auto next = pointer.find('/', pos);
        const auto token =
            pointer.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
        const bool index = !digits_are_keys && !token.empty() &&
                           token.find_first_not_of("0123456789") == std::string::npos;
        if (index)
            out += "[" + token + "]";
        else
            out += (out.empty() ? "" : ".") + token;
        if (next == std::string::npos) break;
        pos = next + 1;
    }
    return out;
}

}  // namespace

TEST_CASE("the parsers agree with the schema examples", "[payloads][contract]") {
    // Keeps the C++ parsers and schemas/ in step: every valid example parses (and round-trips),
    // every invalid one is refused with the matching kind of error at or under the ajv path.
    REQUIRE(fs::is_directory(schema_examples_dir));
    std::size_t valid_count = 0, invalid_count = 0;
    for (const auto& dir : fs::directory_iterator(schema_examples_dir)) {
        const std::string payload = dir.path().filename().string();
        CAPTURE(payload);
        REQUIRE(codecs().contains(payload));
        const auto parse = codecs().at(payload);
        for (const auto& file : fs::directory_iterator(dir.path() / "valid")) {
            CAPTURE(file.path().filename().string());
            const auto out = parse(read_file(file.path()));
            INFO((out ? std::string() : out.error().describe()));
            CHECK(out.has_value());
            ++valid_count;
        }
        const fs::path expect_file = dir.path() / "invalid" / "expect.json";
        const json expect =
            fs::exists(expect_file) ? json::parse(read_file(expect_file)) : json::object();
        for (const auto& file : fs::directory_iterator(dir.path() / "invalid")) {
            const std::string name = file.path().filename().string();
            if (name == "expect.json") continue;
            CAPTURE(name);
            const auto out = parse(read_file(file.path()));
            CHECK_FALSE(out.has_value());
            ++invalid_count;
            if (out || !expect.contains(name)) continue;
            INFO(out.error().describe());
            const std::string keyword = expect[name].value("keyword", "");
            CHECK(out.error().code == expected_code(keyword));
            const std::string pointer = expect[name].value("instancePath", "");
            CHECK((out.error().field.starts_with(field_path(pointer)) ||
                   out.error().field.starts_with(field_path(pointer, true))));
        }
    }
    CHECK(valid_count > 0);
    CHECK(invalid_count > 0);
}
