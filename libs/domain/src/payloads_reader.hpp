#pragma once
// Private to the payload parsers: field converters and an object reader that records the first
// problem with its JSON path, so each parser reads as a list of its fields.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/try.hpp"

namespace eqm::detail {

using json = nlohmann::json;

/// `path.key`, or `key` at the root.
std::string join_path(std::string_view path, std::string_view key);
/// `path[i]`.
std::string index_path(std::string_view path, std::size_t i);

/// Unicode code points in valid UTF-8 (what JSON Schema's maxLength counts).
std::size_t code_points(std::string_view s) noexcept;
bool is_id(std::string_view s) noexcept;
bool is_city(std::string_view s) noexcept;

/// Whole-valued doubles as JSON integers, so 80 stays 80 through a round trip.
json number_json(double v);
/// Compact text; invalid UTF-8 (only possible in hand-built values) is replaced, never thrown.
std::string dump(const json& j);

/// The size check and the non-throwing parse every parse_<name>(text) starts with.
result<json> parse_text(std::string_view text, std::size_t limit);

std::unexpected<error> wrong_type(std::string path, std::string_view expected);

// Converters: (json value, its path) -> result<T>. Each checks the type before reading.
result<std::string> to_text(const json& j, const std::string& path, std::size_t min_chars,
                            std::size_t max_chars);
result<std::string> to_id(const json& j, const std::string& path);
result<std::string> to_city(const json& j, const std::string& path);
result<clock_ms> to_ts(const json& j, const std::string& path);
result<date> to_date(const json& j, const std::string& path);
result<bool> to_bool(const json& j, const std::string& path);
result<std::uint64_t> to_uint(const json& j, const std::string& path, std::uint64_t min = 0,
                              std::uint64_t max = std::numeric_limits<std::uint64_t>::max());
result<int> to_int(const json& j, const std::string& path, int min, int max);
result<double> to_number(const json& j, const std::string& path,
                         double min = -std::numeric_limits<double>::max(),
                         double max = std::numeric_limits<double>::max());

/// An enum by wire name; `names` lists the accepted ones for the message.
template <class E>
result<E> to_enum(const json& j, const std::string& path,
                  std::optional<E> (*parse)(std::string_view) noexcept, std::string_view names) {
    if (!j.is_string()) return wrong_type(path, "a string");
    const auto& s = j.get_ref<const std::string&>();
    if (auto v = parse(s)) return *v;
    return fail(errc::bad_field, path,
                "unknown value \"" + s + "\"; expected one of " + std::string(names));
}

/// An array of min..max items, each converted by `conv(item, item_path)`.
template <class Conv>
auto to_array(const json& j, const std::string& path, std::size_t min_items, std::size_t max_items,
              Conv conv) -> result<std::vector<typename decltype(conv(j, path))::value_type>> {
    using item = typename decltype(conv(j, path))::value_type;
    if (!j.is_array()) return wrong_type(path, "an array");
    if (j.size() < min_items || j.size() > max_items)
        return fail(errc::bad_field, path,
                    "out of range: must have " + std::to_string(min_items) + ".." +
                        std::to_string(max_items) + " items, has " + std::to_string(j.size()));
    std::vector<item> out;
    out.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) {
        EQM_TRY_LET(v, conv(j[i], index_path(path, i)));
        out.push_back(std::move(v));
    }
    return out;
}

/// A reading mode for payloads from a newer minor version of the contract. While one is alive on
/// a thread, object readers there (and the custody record reader) accept members they do not
/// know instead of refusing them, and list each one here by its path with the array indexes
/// left out (`events[].body.humidity`), once. Scoped: the previous sink (if any) comes back when
/// this one goes away. Used only by parse_gw_events_lenient.
class unknown_field_sink {
  public:
    unknown_field_sink() noexcept;
    ~unknown_field_sink();
    unknown_field_sink(const unknown_field_sink&) = delete;
    unknown_field_sink& operator=(const unknown_field_sink&) = delete;

    /// The sink of this thread, or null when readers are strict.
    static unknown_field_sink* current() noexcept;
    /// Notes the member at `path` (indexes are dropped here).
    void add(std::string_view path);
    const std::vector<std::string>& fields() const noexcept { return fields_; }

  private:
    unknown_field_sink* previous_;
    std::vector<std::string> fields_;
};

/// Reads the fields of one JSON object. The first problem is kept (later reads are skipped but
/// still register their key as known); finish() adds the unknown-field check.
class object_reader {
  public:
    /// `what` names the object in unknown-field messages ("device_state", "gps", ...).
    object_reader(const json& j, std::string_view path, std::string_view what);

    /// A required field.
    template <class T, class Conv>
    void req(std::string_view key, T& out, Conv conv) {
        const json* v = find(key);
        if (error_) return;
        if (v == nullptr) {
            error_ =
                error{errc::bad_field, join_path(path_, key), "missing: this field is required"};
            missing_ = true;
            return;
        }
        store(conv(*v, join_path(path_, key)), out);
    }

    /// An optional field: left empty when absent.
    template <class T, class Conv>
    void opt(std::string_view key, std::optional<T>& out, Conv conv) {
        const json* v = find(key);
        if (error_ || v == nullptr) return;
        T tmp{};
        store(conv(*v, join_path(path_, key)), tmp);
        if (!error_) out = std::move(tmp);
    }

    /// A required field kept in an optional (set on success): the fields of one variant.
    template <class T, class Conv>
    void req_into(std::string_view key, std::optional<T>& out, Conv conv) {
        T tmp{};
        req(key, tmp, conv);
        if (!error_) out = std::move(tmp);
    }

    /// Registers keys as known without reading them: used when the variant that decides which
    /// of them belong could not be read, so the first problem stays the one reported.
    void allow(std::initializer_list<std::string_view> keys) {
        for (const auto key : keys) known_.push_back(key);
    }

    /// A field that must not be present (it belongs to another variant of the payload).
    void forbid(std::string_view key, std::string_view why);

    /// True when the key is present (and registers it as known).
    bool has(std::string_view key) { return find(key) != nullptr; }

    bool ok() const noexcept { return !error_.has_value(); }
    /// Records a problem found by the caller (first one wins).
    void reject(errc code, std::string field, std::string message);
    const std::string& path() const noexcept { return path_; }

    /// The outcome: the first problem, an unknown field (preferred over a missing one, since a
    /// missing field next to an unknown one is most often a typo), or success.
    result<void> finish();

  private:
    template <class T, class U>
    void store(result<U>&& r, T& out) {
        if (r)
            out = std::move(*r);
        else
            error_ = std::move(r.error());
    }
    const json* find(std::string_view key);

    const json& json_;
    std::string path_;
    std::string what_;
    std::vector<std::string_view> known_;
    std::optional<error> error_;
    bool missing_ = false;
};

/// The parsed value, or the reader's problem.
template <class T>
result<T> finish(object_reader& r, T&& v) {
    EQM_TRY(r.finish());
    return std::forward<T>(v);
}

/// parse_<name>(text): size limit, JSON, then the fields.
template <class T>
result<T> parse_with(std::string_view text, std::size_t limit,
                     result<T> (*from)(const json&, std::string_view)) {
    EQM_TRY_LET(j, parse_text(text, limit));
    return from(j, "");
}

// Converter factories for object_reader::req/opt.
inline auto text(std::size_t min_chars, std::size_t max_chars) {
    return [=](const json& j, const std::string& p) { return to_text(j, p, min_chars, max_chars); };
}
inline auto id() {
    return [](const json& j, const std::string& p) { return to_id(j, p); };
}
inline auto city() {
    return [](const json& j, const std::string& p) { return to_city(j, p); };
}
inline auto ts() {
    return [](const json& j, const std::string& p) { return to_ts(j, p); };
}
inline auto day() {
    return [](const json& j, const std::string& p) { return to_date(j, p); };
}
inline auto boolean() {
    return [](const json& j, const std::string& p) { return to_bool(j, p); };
}
inline auto uint(std::uint64_t min = 0,
                 std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    return [=](const json& j, const std::string& p) { return to_uint(j, p, min, max); };
}
inline auto integer(int min, int max) {
    return [=](const json& j, const std::string& p) { return to_int(j, p, min, max); };
}
inline auto number(double min = -std::numeric_limits<double>::max(),
                   double max = std::numeric_limits<double>::max()) {
    return [=](const json& j, const std::string& p) { return to_number(j, p, min, max); };
}
template <class E>
auto enumeration(std::optional<E> (*parse)(std::string_view) noexcept, std::string_view names) {
    return [=](const json& j, const std::string& p) { return to_enum<E>(j, p, parse, names); };
}
/// A nested object read by one of the public from_json_<name>(json, path) functions.
template <class T>
auto nested(result<T> (*from)(const json&, std::string_view)) {
    return [=](const json& j, const std::string& p) { return from(j, p); };
}
/// A value that may also be JSON null (read as an empty optional).
template <class Conv>
auto nullable(Conv conv) {
    return [=](const json& j, const std::string& p)
               -> result<std::optional<typename decltype(conv(j, p))::value_type>> {
        if (j.is_null()) return std::nullopt;
        EQM_TRY_LET(v, conv(j, p));
        return std::optional(std::move(v));
    };
}
template <class Conv>
auto array(std::size_t min_items, std::size_t max_items, Conv conv) {
    return [=](const json& j, const std::string& p) {
        return to_array(j, p, min_items, max_items, conv);
    };
}

}  // namespace eqm::detail
