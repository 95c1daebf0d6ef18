// The fast reader of gateway event batches: simdjson's DOM (one reusable parser per thread, no
// allocation per value) read straight into the structs. It accepts exactly what the reference
// reader (nlohmann's DOM + object_reader) accepts and yields the same value; anything it is
// not sure of (a problem, a duplicate key, a form it does not read) it declines, and the
// reference reader runs and names the problem. tests/unit/domain and the gw_events_fast fuzz
// target check that agreement.
#include <array>
#include <limits>
#include <optional>

#include "eqm/domain/payloads.hpp"
#include "payloads_reader.hpp"

#if EQM_HAVE_SIMDJSON
#include <simdjson.h>
#endif

namespace eqm::detail {

#if EQM_HAVE_SIMDJSON
namespace {

namespace dom = simdjson::dom;
using slot = std::optional<dom::element>;

/// The members of one object by name: false when it is not an object, has a key not in
/// `names`, or has a key twice (the reference keeps the last; declining is simpler).
template <std::size_t N>
bool collect(dom::element e, const std::array<std::string_view, N>& names,
             std::array<slot, N>& slots) {
    dom::object object;
    if (e.get_object().get(object) != simdjson::SUCCESS) return false;
    for (const auto field : object) {
        std::size_t i = 0;
        while (i < N && names[i] != field.key) ++i;
        if (i == N || slots[i]) return false;
        slots[i] = field.value;
    }
    return true;
}

bool read_string(const slot& s, std::string_view& out) {
    return s && s->get_string().get(out) == simdjson::SUCCESS;
}

bool read_id(const slot& s, std::string& out) {
    std::string_view v;
    if (!read_string(s, v) || !is_id(v)) return false;
    out.assign(v);
    return true;
}

bool read_text(const slot& s, std::size_t min_chars, std::size_t max_chars, std::string& out) {
    std::string_view v;
    if (!read_string(s, v)) return false;
    const auto n = code_points(v);
    if (n < min_chars || n > max_chars) return false;
    out.assign(v);
    return true;
}

bool read_ts(const slot& s, clock_ms& out) {
    std::string_view v;
    if (!read_string(s, v)) return false;
    auto t = parse_timestamp(v);
    if (!t) return false;
    out = *t;
    return true;
}

bool read_bool(const slot& s, bool& out) {
    return s && s->get_bool().get(out) == simdjson::SUCCESS;
}

/// A JSON integer (never a number with a fraction or exponent, as the reference requires).
bool read_uint(const slot& s, std::uint64_t& out, std::uint64_t min = 0,
               std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    if (!s) return false;
    std::uint64_t v = 0;
    if (s->type() == dom::element_type::UINT64) {
        v = s->get_uint64().value_unsafe();
    } else if (s->type() == dom::element_type::INT64) {
        const auto i = s->get_int64().value_unsafe();
        if (i < 0) return false;
        v = static_cast<std::uint64_t>(i);
    } else {
        return false;
    }
    if (v < min || v > max) return false;
    out = v;
    return true;
}

bool read_number(const slot& s, double& out, double min = -std::numeric_limits<double>::max(),
                 double max = std::numeric_limits<double>::max()) {
    if (!s) return false;
    double v = 0;
    switch (s->type()) {
        case dom::element_type::INT64:
            v = static_cast<double>(s->get_int64().value_unsafe());
            break;
        case dom::element_type::UINT64:
            v = static_cast<double>(s->get_uint64().value_unsafe());
            break;
        case dom::element_type::DOUBLE:
            v = s->get_double().value_unsafe();
            break;
        default:
            return false;
    }
    if (!(v >= min && v <= max)) return false;
    out = v;
    return true;
}

template <class E>
bool read_enum(const slot& s, std::optional<E> (*parse)(std::string_view) noexcept, E& out) {
    std::string_view v;
    if (!read_string(s, v)) return false;
    const auto e = parse(v);
    if (!e) return false;
    out = *e;
    return true;
}

/// An optional member: absent is fine, present must read.
template <class T, class Read>
bool read_opt(const slot& s, std::optional<T>& out, Read read) {
    if (!s) return true;
    T v{};
    if (!read(s, v)) return false;
    out = std::move(v);
    return true;
}

bool read_custody(dom::element e, custody_record& r) {
    static constexpr std::array<std::string_view, 19> names{
        "index",      "device_id", "action",    "from_state",  "to_state",      "holder",  "actor",
        "source",     "ts",        "prev_hash", "hash",        "due",           "dock_id", "slot",
        "request_id", "condition", "note",      "transfer_id", "reservation_id"};
    std::array<slot, names.size()> f;
    if (!collect(e, names, f)) return false;
    // The reference wants a JSON unsigned integer; "-0" reads as 0 here, so 0 is left to it.
    if (!read_uint(f[0], r.index, 1)) return false;
    if (!read_id(f[1], r.device_id)) return false;
    if (!read_enum(f[2], parse_custody_action, r.action)) return false;
    if (!read_enum(f[3], parse_custody_state, r.from_state)) return false;
    if (!read_enum(f[4], parse_custody_state, r.to_state)) return false;
    if (!f[5]) return false;
    if (!f[5]->is_null()) {
        std::string holder;
        if (!read_id(f[5], holder)) return false;
        r.holder = std::move(holder);
    }
    if (!read_text(f[6], 1, max_actor_chars, r.actor)) return false;
    if (!read_enum(f[7], parse_custody_source, r.source)) return false;
    if (!read_ts(f[8], r.ts)) return false;
    const auto read_hash = [](const slot& s, std::string& out) {
        std::string_view v;
        if (!read_string(s, v) || !is_record_hash(v)) return false;
        out.assign(v);
        return true;
    };
    if (!read_hash(f[9], r.prev_hash) || !read_hash(f[10], r.hash)) return false;
    if (!read_opt(f[11], r.due, read_ts)) return false;
    if (!read_opt(f[12], r.dock_id, read_id)) return false;
    if (f[13]) {
        std::int64_t v = 0;
        if (f[13]->type() != dom::element_type::INT64 ||
            f[13]->get_int64().get(v) != simdjson::SUCCESS || v < std::numeric_limits<int>::min() ||
            v > std::numeric_limits<int>::max())
            return false;
        r.slot = static_cast<int>(v);
    }
    if (!read_opt(f[14], r.request_id, read_id)) return false;
    if (!read_opt(f[15], r.condition, [](const slot& s, item_condition& out) {
            return read_enum(s, parse_item_condition, out);
        }))
        return false;
    if (!read_opt(f[16], r.note, [](const slot& s, std::string& out) {
            return read_text(s, 0, max_custody_note_chars, out);
        }))
        return false;
    return read_opt(f[17], r.transfer_id, read_id) && read_opt(f[18], r.reservation_id, read_id);
}

bool read_device_state(dom::element e, device_state_body& v) {
    static constexpr std::array<std::string_view, 7> names{
        "device_id", "online", "bd_seq", "registered", "class", "model", "fw"};
    std::array<slot, names.size()> f;
    const auto model = [](const slot& s, std::string& out) {
        return read_text(s, 1, max_model_chars, out);
    };
    return collect(e, names, f) && read_id(f[0], v.device_id) && read_bool(f[1], v.online) &&
           read_uint(f[2], v.bd_seq) && read_bool(f[3], v.registered) &&
           read_opt(f[4], v.cls,
                    [](const slot& s, device_class& out) {
                        return read_enum(s, parse_device_class, out);
                    }) &&
           read_opt(f[5], v.model, model) && read_opt(f[6], v.fw, model);
}

bool read_gps(const slot& s, gps_fix& v) {
    static constexpr std::array<std::string_view, 3> names{"lat", "lon", "alt_m"};
    std::array<slot, names.size()> f;
    return s && collect(*s, names, f) && read_number(f[0], v.lat, -90, 90) &&
           read_number(f[1], v.lon, -180, 180) &&
           read_opt(f[2], v.alt_m, [](const slot& a, double& out) { return read_number(a, out); });
}

bool read_telemetry(dom::element e, telemetry_summary_body& v) {
    static constexpr std::array<std::string_view, 8> names{"device_id",
                                                           "minute",
                                                           "count",
                                                           "battery_pct_min",
                                                           "battery_pct_last",
                                                           "storage_free_mb_last",
                                                           "temp_c_max",
                                                           "gps"};
    std::array<slot, names.size()> f;
    return collect(e, names, f) && read_id(f[0], v.device_id) && read_ts(f[1], v.minute) &&
           read_uint(f[2], v.count, 1) && read_number(f[3], v.battery_pct_min, 0, 100) &&
           read_number(f[4], v.battery_pct_last, 0, 100) &&
           read_number(f[5], v.storage_free_mb_last, 0) &&
           read_number(f[6], v.temp_c_max, -60, 150) && read_opt(f[7], v.gps, read_gps);
}

bool read_alert(dom::element e, alert_body& v) {
    static constexpr std::array<std::string_view, 6> names{"alert_id", "type",   "state",
                                                           "severity", "detail", "device_id"};
    std::array<slot, names.size()> f;
    return collect(e, names, f) && read_id(f[0], v.alert_id) &&
           read_enum(f[1], parse_alert_type, v.type) &&
           read_enum(f[2], parse_alert_state, v.state) &&
           read_enum(f[3], parse_alert_severity, v.severity) &&
           read_text(f[4], 0, max_detail_chars, v.detail) && read_opt(f[5], v.device_id, read_id);
}

bool read_command_result(dom::element e, command_result_body& v) {
    static constexpr std::array<std::string_view, 5> names{"cmd_id", "type", "result", "detail",
                                                           "record_index"};
    std::array<slot, names.size()> f;
    if (!collect(e, names, f) || !read_id(f[0], v.cmd_id) ||
        !read_enum(f[1], parse_srv_cmd_type, v.type))
        return false;
    std::string_view result_text;
    if (!read_string(f[2], result_text)) return false;
    auto result = parse_outcome(result_text, "result");
    if (!result) return false;
    v.result = std::move(*result);
    return read_opt(f[3], v.detail,
                    [](const slot& s, std::string& out) {
                        return read_text(s, 0, max_detail_chars, out);
                    }) &&
           read_opt(f[4], v.record_index,
                    [](const slot& s, std::uint64_t& out) { return read_uint(s, out); });
}

template <class Body, class Read>
bool read_body(const slot& s, gw_event& e, Read read) {
    if (!s) return false;
    Body body;
    if (!read(*s, body)) return false;
    e.body = std::move(body);
    return true;
}

bool read_event(dom::element element, gw_event& e) {
    static constexpr std::array<std::string_view, 5> names{"seq", "msg_id", "ts", "kind", "body"};
    std::array<slot, names.size()> f;
    gw_event_kind kind{};
    if (!collect(element, names, f) || !read_uint(f[0], e.seq, 1) || !read_id(f[1], e.msg_id) ||
        !read_ts(f[2], e.ts) || !read_enum(f[3], parse_gw_event_kind, kind))
        return false;
    switch (kind) {
        case gw_event_kind::custody:
            return read_body<custody_record>(f[4], e, read_custody);
        case gw_event_kind::device_state:
            return read_body<device_state_body>(f[4], e, read_device_state);
        case gw_event_kind::telemetry_summary:
            return read_body<telemetry_summary_body>(f[4], e, read_telemetry);
        case gw_event_kind::alert:
            return read_body<alert_body>(f[4], e, read_alert);
        case gw_event_kind::command_result:
            return read_body<command_result_body>(f[4], e, read_command_result);
    }
    return false;
}

bool read_skipped(const slot& s, std::vector<seq_range>& out) {
    dom::array ranges;
    if (!s || s->get_array().get(ranges) != simdjson::SUCCESS || ranges.size() > max_skipped_ranges)
        return false;
    out.reserve(ranges.size());
    for (const auto item : ranges) {
        dom::array pair;
        if (item.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2) return false;
        seq_range r;
        if (!read_uint(pair.at(0).value_unsafe(), r.from_seq, 1) ||
            !read_uint(pair.at(1).value_unsafe(), r.to_seq, 1) || r.to_seq < r.from_seq)
            return false;
        out.push_back(r);
    }
    return true;
}

bool read_batch(dom::element root, gw_events& v) {
    static constexpr std::array<std::string_view, 5> names{"ts", "gw_id", "bd_seq", "events",
                                                           "skipped"};
    std::array<slot, names.size()> f;
    if (!collect(root, names, f) || !read_ts(f[0], v.ts) || !read_id(f[1], v.gw_id) ||
        !read_uint(f[2], v.bd_seq))
        return false;
    dom::array events;
    if (!f[3] || f[3]->get_array().get(events) != simdjson::SUCCESS || events.size() < 1 ||
        events.size() > max_gw_batch_events)
        return false;
    v.events.reserve(events.size());
    std::string expected_id = v.gw_id + "-";
    const auto prefix = expected_id.size();
    for (const auto item : events) {
        gw_event e;
        if (!read_event(item, e)) return false;
        if (!v.events.empty() && e.seq <= v.events.back().seq) return false;
        expected_id.resize(prefix);
        expected_id += std::to_string(e.seq);
        if (e.msg_id != expected_id) return false;
        v.events.push_back(std::move(e));
    }
    if (f[4]) {
        std::vector<seq_range> skipped;
        if (!read_skipped(f[4], skipped)) return false;
        for (const auto& r : skipped)
            if (r.to_seq >= v.events.front().seq) return false;
        v.skipped = std::move(skipped);
    }
    return true;
}

}  // namespace

std::optional<gw_events> parse_gw_events_fast(std::string_view json_text) {
    // One parser per thread: it keeps its buffers, so a batch costs no allocation to parse.
    thread_local dom::parser parser;
    dom::element root;
    if (parser.parse(json_text.data(), json_text.size()).get(root) != simdjson::SUCCESS)
        return std::nullopt;
    gw_events v;
    if (!read_batch(root, v)) return std::nullopt;
    return v;
}

bool has_fast_gw_events_reader() noexcept {
    return true;
}

#else

std::optional<gw_events> parse_gw_events_fast(std::string_view) {
    return std::nullopt;
}

bool has_fast_gw_events_reader() noexcept {
    return false;
}

#endif

}  // namespace eqm::detail
