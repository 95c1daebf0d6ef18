#include "eqm/domain/custody.hpp"

#include <array>
#include <limits>
#include <utility>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/try.hpp"
#include "payloads_reader.hpp"

namespace eqm {
namespace {

template <class E, std::size_t N>
using name_table = std::array<std::pair<E, std::string_view>, N>;

template <class E, std::size_t N>
std::string_view name_of(const name_table<E, N>& table, E v) {
    for (const auto& [value, name] : table)
        if (value == v) return name;
    return "unknown";
}

template <class E, std::size_t N>
std::optional<E> value_of(const name_table<E, N>& table, std::string_view s) {
    for (const auto& [value, name] : table)
        if (name == s) return value;
    return std::nullopt;
}

constexpr name_table<custody_state, 6> state_names{{
    {custody_state::available, "available"},
    {custody_state::checked_out, "checked_out"},
    {custody_state::in_transit, "in_transit"},
    {custody_state::maintenance, "maintenance"},
    {custody_state::lost, "lost"},
    {custody_state::retired, "retired"},
}};
constexpr name_table<custody_action, 9> action_names{{
    {custody_action::checkout, "checkout"},
    {custody_action::checkin, "checkin"},
    {custody_action::maintenance_in, "maintenance_in"},
    {custody_action::maintenance_out, "maintenance_out"},
    {custody_action::transfer_out, "transfer_out"},
    {custody_action::transfer_in, "transfer_in"},
    {custody_action::report_lost, "report_lost"},
    {custody_action::found, "found"},
    {custody_action::retire, "retire"},
}};
constexpr name_table<custody_source, 3> source_names{{
    {custody_source::dock, "dock"},
    {custody_source::api, "api"},
    {custody_source::server, "server"},
}};
constexpr name_table<item_condition, 3> condition_names{{
    {item_condition::good, "good"},
    {item_condition::damaged, "damaged"},
    {item_condition::needs_service, "needs_service"},
}};

// ---------------------------------------------------------------- state machine

/// One row of the transition table. Conditional targets (checkin, found) are resolved in
/// apply(); the table names the good-condition target.
struct transition_row {
    custody_state from;
    custody_action action;
    custody_state to;
};

constexpr std::array<transition_row, 14> transition_table{{
    {custody_state::available, custody_action::checkout, custody_state::checked_out},
    {custody_state::checked_out, custody_action::checkin, custody_state::available},
    {custody_state::available, custody_action::maintenance_in, custody_state::maintenance},
    {custody_state::maintenance, custody_action::maintenance_out, custody_state::available},
    {custody_state::available, custody_action::transfer_out, custody_state::in_transit},
    {custody_state::in_transit, custody_action::transfer_in, custody_state::available},
    {custody_state::available, custody_action::report_lost, custody_state::lost},
    {custody_state::checked_out, custody_action::report_lost, custody_state::lost},
    {custody_state::in_transit, custody_action::report_lost, custody_state::lost},
    {custody_state::lost, custody_action::found, custody_state::available},
    {custody_state::available, custody_action::retire, custody_state::retired},
    {custody_state::in_transit, custody_action::retire, custody_state::retired},
    {custody_state::maintenance, custody_action::retire, custody_state::retired},
    {custody_state::lost, custody_action::retire, custody_state::retired},
}};

std::optional<custody_state> table_target(custody_state from, custody_action action) {
    for (const auto& row : transition_table)
        if (row.from == from && row.action == action) return row.to;
    return std::nullopt;
}

bool needs_service(std::optional<item_condition> c) {
    return c && *c != item_condition::good;
}

std::string refusal_hint(custody_state from, custody_action action) {
    using enum custody_state;
    if (action == custody_action::retire && from == checked_out) return "; check it in first";
    if (action == custody_action::checkout && from == maintenance)
        return "; it must leave maintenance first";
    if (from == retired) return "; a retired device takes no further custody actions";
    return "";
}

// ---------------------------------------------------------------- JSON parsing

using detail::code_points;
using detail::join_path;

/// Reads fields of one JSON object, recording the first error.
class field_reader {
  public:
    field_reader(const nlohmann::json& j, std::string_view path) : j_(j), path_(path) {}

    const nlohmann::json* find(std::string_view field) const {
        const auto it = j_.find(field);
        return it == j_.end() ? nullptr : &*it;
    }

    result<std::string> id(std::string_view field) const {
        const auto* v = find(field);
        if (!v) return missing(field);
        return id_value(*v, field);
    }

    result<std::string> id_value(const nlohmann::json& v, std::string_view field) const {
        if (!v.is_string() || !is_valid_id(v.get_ref<const std::string&>()))
            return fail(errc::bad_field, join_path(path_, field),
                        "must be an id: 1 to 64 of A-Z a-z 0-9 _ -");
        return v.get<std::string>();
    }

    result<std::string> text(std::string_view field, std::size_t min_chars,
                             std::size_t max_chars) const {
        const auto* v = find(field);
        if (!v) return missing(field);
        return text_value(*v, field, min_chars, max_chars);
    }

    result<std::string> text_value(const nlohmann::json& v, std::string_view field,
                                   std::size_t min_chars, std::size_t max_chars) const {
        if (!v.is_string())
            return fail(errc::bad_field, join_path(path_, field), "must be a string");
        const auto& s = v.get_ref<const std::string&>();
        const auto n = code_points(s);
        if (n < min_chars || n > max_chars)
            return fail(errc::bad_field, join_path(path_, field),
                        "must be " + std::to_string(min_chars) + " to " +
                            std::to_string(max_chars) + " characters long");
        return s;
    }

    result<std::string> hash(std::string_view field) const {
        const auto* v = find(field);
        if (!v) return missing(field);
        if (!v->is_string() || !is_record_hash(v->get_ref<const std::string&>()))
            return fail(errc::bad_field, join_path(path_, field),
                        "must be 64 lower-case hex digits");
        return v->get<std::string>();
    }

    result<clock_ms> timestamp(std::string_view field) const {
        const auto* v = find(field);
        if (!v) return missing(field);
        return timestamp_value(*v, field);
    }

    result<clock_ms> timestamp_value(const nlohmann::json& v, std::string_view field) const {
        if (!v.is_string())
            return fail(errc::bad_field, join_path(path_, field),
                        "must be an RFC 3339 UTC time with milliseconds, like "
                        "2026-11-26T08:30:00.000Z");
        return parse_timestamp(v.get_ref<const std::string&>(), join_path(path_, field));
    }

    template <class E>
    result<E> word(std::string_view field, std::optional<E> (*parse)(std::string_view) noexcept,
                   std::string_view allowed) const {
        const auto* v = find(field);
        if (!v) return missing(field);
        return word_value(*v, field, parse, allowed);
    }

    template <class E>
    result<E> word_value(const nlohmann::json& v, std::string_view field,
                         std::optional<E> (*parse)(std::string_view) noexcept,
                         std::string_view allowed) const {
        std::optional<E> out;
        if (v.is_string()) out = parse(v.get_ref<const std::string&>());
        if (!out)
            return fail(errc::bad_field, join_path(path_, field),
                        "must be one of " + std::string(allowed));
        return *out;
    }

    std::unexpected<error> missing(std::string_view field) const {
        return fail(errc::bad_field, join_path(path_, field), "is required");
    }

  private:
    const nlohmann::json& j_;
    std::string_view path_;
};

constexpr std::string_view action_list =
    "checkout, checkin, maintenance_in, maintenance_out, transfer_out, transfer_in, "
    "report_lost, found, retire";
constexpr std::string_view state_list =
    "available, checked_out, in_transit, maintenance, lost, retired";

constexpr std::array<std::string_view, 19> record_fields{
    "index",          "device_id", "action",     "from_state", "to_state", "holder",
    "actor",          "source",    "ts",         "prev_hash",  "hash",     "due",
    "dock_id",        "slot",      "request_id", "condition",  "note",     "transfer_id",
    "reservation_id",
};

}  // namespace

std::string_view to_string(custody_state v) noexcept {
    return name_of(state_names, v);
}
std::string_view to_string(custody_action v) noexcept {
    return name_of(action_names, v);
}
std::string_view to_string(custody_source v) noexcept {
    return name_of(source_names, v);
}
std::string_view to_string(item_condition v) noexcept {
    return name_of(condition_names, v);
}

std::optional<custody_state> parse_custody_state(std::string_view s) noexcept {
    return value_of(state_names, s);
}
std::optional<custody_action> parse_custody_action(std::string_view s) noexcept {
    return value_of(action_names, s);
}
std::optional<custody_source> parse_custody_source(std::string_view s) noexcept {
    return value_of(source_names, s);
}
std::optional<item_condition> parse_item_condition(std::string_view s) noexcept {
    return value_of(condition_names, s);
}

bool is_record_hash(std::string_view s) noexcept {
    if (s.size() != hash_hex_chars) return false;
    for (const char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool is_valid_id(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_id_chars) return false;
    for (const char c : s) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

nlohmann::json to_json(const custody_record& r) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [key, value] : r.extra_fields) j[key] = value;
    j["index"] = r.index;
    j["device_id"] = r.device_id;
    j["action"] = to_string(r.action);
    j["from_state"] = to_string(r.from_state);
    j["to_state"] = to_string(r.to_state);
    j["holder"] = r.holder ? nlohmann::json(*r.holder) : nlohmann::json(nullptr);
    j["actor"] = r.actor;
    j["source"] = to_string(r.source);
    j["ts"] = format_timestamp(r.ts);
    j["prev_hash"] = r.prev_hash;
    j["hash"] = r.hash;
    if (r.due) j["due"] = format_timestamp(*r.due);
    if (r.dock_id) j["dock_id"] = *r.dock_id;
    if (r.slot) j["slot"] = *r.slot;
    if (r.request_id) j["request_id"] = *r.request_id;
    if (r.condition) j["condition"] = to_string(*r.condition);
    if (r.note) j["note"] = *r.note;
    if (r.transfer_id) j["transfer_id"] = *r.transfer_id;
    if (r.reservation_id) j["reservation_id"] = *r.reservation_id;
    return j;
}

namespace {

/// A JSON string as nlohmann's dump writes it (ensure_ascii off): `"` and `\\` escaped, the
/// five short control escapes, other bytes below 0x20 as \u00xx, everything else as it is.
void append_json_string(std::string& out, std::string_view s) {
    static constexpr std::string_view hex = "0123456789abcdef";
    out += '"';
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        switch (b) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (b < 0x20U) {
                    out += "\\u00";
                    out += hex[b >> 4U];
                    out += hex[b & 0x0FU];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

}  // namespace

std::optional<std::string> custody_record_text(const custody_record& r, bool with_hash) {
    if (!r.extra_fields.empty()) return std::nullopt;
    for (const auto* s : {&r.device_id, &r.actor, &r.prev_hash, &r.hash})
        if (!is_valid_utf8(*s)) return std::nullopt;
    for (const auto* s :
         {&r.holder, &r.dock_id, &r.request_id, &r.note, &r.transfer_id, &r.reservation_id})
        if (*s && !is_valid_utf8(**s)) return std::nullopt;
    std::string out;
    out.reserve(384 + (r.note ? r.note->size() : 0));
    bool first = true;
    const auto key = [&](std::string_view k) {
        out += first ? "{\"" : ",\"";
        first = false;
        out += k;
        out += "\":";
    };
    const auto text = [&](std::string_view k, std::string_view v) {
        key(k);
        append_json_string(out, v);
    };
    // Keys in byte order, as nlohmann's std::map keeps them.
    text("action", to_string(r.action));
    text("actor", r.actor);
    if (r.condition) text("condition", to_string(*r.condition));
    text("device_id", r.device_id);
    if (r.dock_id) text("dock_id", *r.dock_id);
    if (r.due) text("due", format_timestamp(*r.due));
    text("from_state", to_string(r.from_state));
    if (with_hash) text("hash", r.hash);
    if (r.holder) {
        text("holder", *r.holder);
    } else {
        key("holder");
        out += "null";
    }
    key("index");
    out += std::to_string(r.index);
    if (r.note) text("note", *r.note);
    text("prev_hash", r.prev_hash);
    if (r.request_id) text("request_id", *r.request_id);
    if (r.reservation_id) text("reservation_id", *r.reservation_id);
    if (r.slot) {
        key("slot");
        out += std::to_string(*r.slot);
    }
    text("source", to_string(r.source));
    text("to_state", to_string(r.to_state));
    if (r.transfer_id) text("transfer_id", *r.transfer_id);
    text("ts", format_timestamp(r.ts));
    out += '}';
    return out;
}

namespace {

/// Every member of a record must be one of its fields (a record is hashed as it is written),
/// except under a lenient read (detail::unknown_field_sink), which keeps a newer minor
/// version's members in `extra_fields`.
result<void> check_record_fields(const nlohmann::json& j, std::string_view path,
                                 custody_record& r) {
    auto* sink = detail::unknown_field_sink::current();
    for (const auto& [key, value] : j.items()) {
        bool known = false;
        for (const auto f : record_fields) known = known || f == key;
        if (known) continue;
        if (sink == nullptr)
            return fail(errc::unknown_field, join_path(path, key),
                        "is not a field of a custody record");
        sink->add(join_path(path, key));
        r.extra_fields.emplace(key, value);
    }
    return {};
}

/// The fields every record has: its place in the chain, the device, the transition, who, when.
result<void> read_required_fields(const field_reader& in, std::string_view path,
                                  custody_record& r) {
    const auto* index = in.find("index");
    if (!index) return in.missing("index");
    if (!index->is_number_unsigned())
        return fail(errc::bad_field, join_path(path, "index"), "must be an integer >= 0");
    r.index = index->get<std::uint64_t>();

    EQM_TRY_LET(device_id, in.id("device_id"));
    r.device_id = std::move(device_id);
    EQM_TRY_LET(action, in.word("action", &parse_custody_action, action_list));
    r.action = action;
    EQM_TRY_LET(from, in.word("from_state", &parse_custody_state, state_list));
    r.from_state = from;
    EQM_TRY_LET(to, in.word("to_state", &parse_custody_state, state_list));
    r.to_state = to;

    const auto* holder = in.find("holder");
    if (!holder) return in.missing("holder");
    if (!holder->is_null()) {
        EQM_TRY_LET(h, in.id_value(*holder, "holder"));
        r.holder = std::move(h);
    }
    EQM_TRY_LET(actor, in.text("actor", 1, max_actor_chars));
    r.actor = std::move(actor);
    EQM_TRY_LET(source, in.word("source", &parse_custody_source, "dock, api, server"));
    r.source = source;
    EQM_TRY_LET(ts, in.timestamp("ts"));
    r.ts = ts;
    EQM_TRY_LET(prev_hash, in.hash("prev_hash"));
    r.prev_hash = std::move(prev_hash);
    EQM_TRY_LET(hash, in.hash("hash"));
    r.hash = std::move(hash);
    return {};
}

result<int> read_slot(const nlohmann::json& v, std::string_view path) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < std::numeric_limits<int>::min() ||
        v.get<std::int64_t>() > std::numeric_limits<int>::max() ||
        (v.is_number_unsigned() &&
         v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max())))
        return fail(errc::bad_field, join_path(path, "slot"), "must be an integer");
    return v.get<int>();
}

/// The fields only some records have: a due time, where and why it happened, a note.
result<void> read_optional_fields(const field_reader& in, std::string_view path,
                                  custody_record& r) {
    if (const auto* v = in.find("due")) {
        EQM_TRY_LET(due, in.timestamp_value(*v, "due"));
        r.due = due;
    }
    if (const auto* v = in.find("dock_id")) {
        EQM_TRY_LET(dock, in.id_value(*v, "dock_id"));
        r.dock_id = std::move(dock);
    }
    if (const auto* v = in.find("slot")) {
        EQM_TRY_LET(slot, read_slot(*v, path));
        r.slot = slot;
    }
    if (const auto* v = in.find("request_id")) {
        EQM_TRY_LET(id, in.id_value(*v, "request_id"));
        r.request_id = std::move(id);
    }
    if (const auto* v = in.find("condition")) {
        EQM_TRY_LET(c, in.word_value(*v, "condition", &parse_item_condition,
                                     "good, damaged, needs_service"));
        r.condition = c;
    }
    if (const auto* v = in.find("note")) {
        EQM_TRY_LET(note, in.text_value(*v, "note", 0, max_custody_note_chars));
        r.note = std::move(note);
    }
    if (const auto* v = in.find("transfer_id")) {
        EQM_TRY_LET(id, in.id_value(*v, "transfer_id"));
        r.transfer_id = std::move(id);
    }
    if (const auto* v = in.find("reservation_id")) {
        EQM_TRY_LET(id, in.id_value(*v, "reservation_id"));
        r.reservation_id = std::move(id);
    }
    return {};
}

}  // namespace

result<custody_record> parse_custody_record(const nlohmann::json& j, std::string_view path) {
    if (!j.is_object())
        return fail(errc::bad_field, std::string(path.empty() ? "custody" : path),
                    "must be a JSON object");
    custody_record r;
    EQM_TRY(check_record_fields(j, path, r));
    const field_reader in(j, path);
    EQM_TRY(read_required_fields(in, path, r));
    EQM_TRY(read_optional_fields(in, path, r));
    return r;
}

result<custody_record> parse_stored_custody_record(const nlohmann::json& j, std::string_view path) {
    detail::unknown_field_sink extras;
    return parse_custody_record(j, path);
}

bool is_allowed(custody_state from, custody_action action) noexcept {
    return table_target(from, action).has_value();
}

result<custody_transition> apply(const device_custody& current, const custody_command& cmd) {
    using enum custody_state;
    const auto action_name = std::string(to_string(cmd.action));
    const auto from_name = std::string(to_string(current.state));

    // Lock first: a locked device reports "locked" whatever else is wrong, the same priority
    // readiness uses, so a dock and the API tell the user the same thing.
    if (current.locked &&
        (cmd.action == custody_action::checkout || cmd.action == custody_action::transfer_out))
        return fail(errc::locked, "device", "the device is locked; " + action_name + " refused");

    const auto target = table_target(current.state, cmd.action);
    if (!target)
        return fail(errc::invalid_transition, "action",
                    "cannot " + action_name + " a device that is " + from_name +
                        refusal_hint(current.state, cmd.action));

    custody_transition t{current.state, *target, current};
    switch (cmd.action) {
        case custody_action::checkout:
            if (!cmd.holder || cmd.holder->empty())
                return fail(errc::bad_field, "holder", "checkout needs the person who takes it");
            t.after.holder = cmd.holder;
            t.after.due = cmd.due;
            break;
        case custody_action::checkin:
            if (cmd.holder && !cmd.override_holder && cmd.holder != current.holder)
                return fail(errc::not_holder, "holder",
                            *cmd.holder + " does not hold this device (holder: " +
                                current.holder.value_or("nobody") + ")");
            if (needs_service(cmd.condition)) t.to_state = maintenance;
            break;
        case custody_action::found:
            if (needs_service(cmd.condition)) t.to_state = maintenance;
            break;
        case custody_action::transfer_out:
            if (!cmd.transfer_id || cmd.transfer_id->empty())
                return fail(errc::bad_field, "transfer_id", "transfer_out needs the transfer id");
            t.after.transfer_id = cmd.transfer_id;
            t.after.holder = cmd.holder;  // the courier, when one took it
            break;
        case custody_action::transfer_in:
            if (!cmd.transfer_id || cmd.transfer_id->empty())
                return fail(errc::bad_field, "transfer_id", "transfer_in needs the transfer id");
            if (current.transfer_id && current.transfer_id != cmd.transfer_id)
                return fail(errc::conflict, "transfer_id",
                            "the device is in transit under transfer " + *current.transfer_id +
                                ", not " + *cmd.transfer_id);
            break;
        case custody_action::maintenance_in:
        case custody_action::maintenance_out:
        case custody_action::report_lost:
        case custody_action::retire:
            break;
    }

    t.after.state = t.to_state;
    if (t.to_state != checked_out) {
        if (t.to_state != in_transit) t.after.holder.reset();
        t.after.due.reset();
    }
    if (t.to_state != in_transit) t.after.transfer_id.reset();
    return t;
}

}  // namespace eqm
