// Field converters, the object reader, and the small shared pieces of the payloads
// (outcome, gps fix).
#include "payloads_reader.hpp"

#include <algorithm>
#include <cmath>

#include "eqm/domain/payloads.hpp"
#include "eqm/domain/try.hpp"

namespace eqm::detail {

std::string join_path(std::string_view path, std::string_view key) {
    if (path.empty()) return std::string(key);
    std::string out(path);
    out += '.';
    out += key;
    return out;
}

std::string index_path(std::string_view path, std::size_t i) {
    std::string out(path);
    out += '[';
    out += std::to_string(i);
    out += ']';
    return out;
}

std::size_t code_points(std::string_view s) noexcept {
    // Count lead bytes: every byte that is not a UTF-8 continuation byte starts a code point.
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
    }));
}

bool is_id(std::string_view s) noexcept {
    return is_valid_id(s);
}

bool is_city(std::string_view s) noexcept {
    return s.size() == 6 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

json number_json(double v) {
    // 2^53: beyond it not every integer is a double, so keep the double form.
    constexpr double exact_limit = 9007199254740992.0;
    if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < exact_limit)
        return json(static_cast<std::int64_t>(v));
    return json(v);
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<json> parse_text(std::string_view text, std::size_t limit) {
    if (text.size() > limit)
        return fail(errc::too_large, "",
                    "payload is " + std::to_string(text.size()) + " bytes; the limit is " +
                        std::to_string(limit));
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return fail(errc::bad_json, "", "not valid JSON");
    return j;
}

std::unexpected<error> wrong_type(std::string path, std::string_view expected) {
    return fail(errc::bad_field, std::move(path), "wrong type: must be " + std::string(expected));
}

result<std::string> to_text(const json& j, const std::string& path, std::size_t min_chars,
                            std::size_t max_chars) {
    if (!j.is_string()) return wrong_type(path, "a string");
    const auto& s = j.get_ref<const std::string&>();
    const std::size_t n = code_points(s);
    if (n < min_chars || n > max_chars)
        return fail(errc::bad_field, path,
                    "out of range: must be " + std::to_string(min_chars) + ".." +
                        std::to_string(max_chars) + " characters, is " + std::to_string(n));
    return s;
}

result<std::string> to_id(const json& j, const std::string& path) {
    if (!j.is_string()) return wrong_type(path, "a string");
    const auto& s = j.get_ref<const std::string&>();
    if (!is_id(s)) return fail(errc::bad_field, path, "pattern: must match ^[A-Za-z0-9_-]{1,64}$");
    return s;
}

result<std::string> to_city(const json& j, const std::string& path) {
    if (!j.is_string()) return wrong_type(path, "a string");
    const auto& s = j.get_ref<const std::string&>();
    if (!is_city(s)) return fail(errc::bad_field, path, "pattern: must be a 6-digit city code");
    return s;
}

result<clock_ms> to_ts(const json& j, const std::string& path) {
    if (!j.is_string()) return wrong_type(path, "a string");
    auto t = parse_timestamp(j.get_ref<const std::string&>(), path);
    if (!t) t.error().message = "pattern: " + t.error().message;
    return t;
}

result<date> to_date(const json& j, const std::string& path) {
    if (!j.is_string()) return wrong_type(path, "a string");
    auto d = parse_date(j.get_ref<const std::string&>(), path);
    if (!d) d.error().message = "pattern: " + d.error().message;
    return d;
}

result<bool> to_bool(const json& j, const std::string& path) {
    if (!j.is_boolean()) return wrong_type(path, "true or false");
    return j.get<bool>();
}

namespace {

std::unexpected<error> out_of_range(const std::string& path, const std::string& range) {
    return fail(errc::bad_field, path, "out of range: must be " + range);
}

std::string range_text(std::uint64_t min, std::uint64_t max) {
    if (max == std::numeric_limits<std::uint64_t>::max()) return ">= " + std::to_string(min);
    return std::to_string(min) + ".." + std::to_string(max);
}

std::string number_text(double v) {
    return dump(number_json(v));
}

}  // namespace

result<std::uint64_t> to_uint(const json& j, const std::string& path, std::uint64_t min,
                              std::uint64_t max) {
    if (j.is_number_float()) {
        // Integers beyond 64 bits arrive as floats: say out of range rather than wrong type.
        const double v = j.get<double>();
        if (std::trunc(v) == v && std::fabs(v) >= 9.2e18)
            return out_of_range(path, range_text(min, max));
        return wrong_type(path, "an integer");
    }
    if (!j.is_number_integer()) return wrong_type(path, "an integer");
    if (!j.is_number_unsigned() && j.get<std::int64_t>() < 0)
        return out_of_range(path, range_text(min, max));
    const auto v = j.is_number_unsigned() ? j.get<std::uint64_t>()
                                          : static_cast<std::uint64_t>(j.get<std::int64_t>());
    if (v < min || v > max) return out_of_range(path, range_text(min, max));
    return v;
}

result<int> to_int(const json& j, const std::string& path, int min, int max) {
    const auto range = std::to_string(min) + ".." + std::to_string(max);
    if (j.is_number_float()) {
        const double v = j.get<double>();
        if (std::trunc(v) == v && std::fabs(v) >= 9.2e18) return out_of_range(path, range);
        return wrong_type(path, "an integer");
    }
    if (!j.is_number_integer()) return wrong_type(path, "an integer");
    if (j.is_number_unsigned()) {
        const auto v = j.get<std::uint64_t>();
        if (max < 0 || v > static_cast<std::uint64_t>(max) || static_cast<std::int64_t>(v) < min)
            return out_of_range(path, range);
        return static_cast<int>(v);
    }
    const auto v = j.get<std::int64_t>();
    if (v < min || v > max) return out_of_range(path, range);
    return static_cast<int>(v);
}

result<double> to_number(const json& j, const std::string& path, double min, double max) {
    if (!j.is_number()) return wrong_type(path, "a number");
    const double v = j.get<double>();
    if (!(v >= min && v <= max)) {
        const bool low_open = min == -std::numeric_limits<double>::max();
        const bool high_open = max == std::numeric_limits<double>::max();
        return out_of_range(path, low_open    ? "<= " + number_text(max)
                                  : high_open ? ">= " + number_text(min)
                                              : number_text(min) + ".." + number_text(max));
    }
    return v;
}

namespace {
thread_local unknown_field_sink* current_sink = nullptr;
}  // namespace

unknown_field_sink::unknown_field_sink() noexcept : previous_(current_sink) {
    current_sink = this;
}

unknown_field_sink::~unknown_field_sink() {
    current_sink = previous_;
}

unknown_field_sink* unknown_field_sink::current() noexcept {
    return current_sink;
}

void unknown_field_sink::add(std::string_view path) {
    std::string general;
    general.reserve(path.size());
    bool in_index = false;
    for (const char c : path) {
        if (c == '[') {
            in_index = true;
            general += "[]";
        } else if (c == ']') {
            in_index = false;
        } else if (!in_index) {
            general += c;
        }
    }
    if (std::find(fields_.begin(), fields_.end(), general) == fields_.end())
        fields_.push_back(std::move(general));
}

object_reader::object_reader(const json& j, std::string_view path, std::string_view what)
    : json_(j), path_(path), what_(what) {
    if (!j.is_object()) error_ = wrong_type(path_, "an object").error();
}

const json* object_reader::find(std::string_view key) {
    known_.push_back(key);
    if (!json_.is_object()) return nullptr;
    const auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
}

void object_reader::forbid(std::string_view key, std::string_view why) {
    // Not registered as known: if present, it is reported as an unknown field of this variant.
    if (error_ || !json_.is_object() || !json_.contains(key)) return;
    error_ = error{errc::unknown_field, join_path(path_, key),
                   "unknown field: not allowed " + std::string(why)};
}

void object_reader::reject(errc code, std::string field, std::string message) {
    if (!error_) error_ = error{code, std::move(field), std::move(message)};
}

result<void> object_reader::finish() {
    if (error_ && !missing_) return std::unexpected(*error_);
    if (json_.is_object()) {
        auto* sink = unknown_field_sink::current();
        for (const auto& [key, value] : json_.items()) {
            if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
            if (sink == nullptr)
                return fail(errc::unknown_field, join_path(path_, key),
                            "unknown field: " + what_ + " has no field \"" + key + "\"");
            sink->add(join_path(path_, key));
        }
    }
    if (error_) return std::unexpected(*error_);
    return {};
}

}  // namespace eqm::detail

namespace eqm {

using detail::json;

std::string to_string(const outcome& o) {
    return o.rejected_reason ? "rejected:" + *o.rejected_reason : std::string("ok");
}

result<outcome> parse_outcome(std::string_view text, std::string_view field) {
    if (text == "ok") return outcome::ok();
    constexpr std::string_view prefix = "rejected:";
    const auto bad = [&] {
        return fail(errc::bad_field, std::string(field),
                    "pattern: must be ok or rejected:<reason> (^(ok|rejected:[a-z][a-z0-9_]*)$)");
    };
    if (!text.starts_with(prefix)) return bad();
    const auto reason = text.substr(prefix.size());
    if (reason.empty() || reason[0] < 'a' || reason[0] > 'z') return bad();
    for (const char c : reason)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return bad();
    return outcome{std::string(reason)};
}

nlohmann::json to_json(const gps_fix& v) {
    json j = json::object();
    j["lat"] = detail::number_json(v.lat);
    j["lon"] = detail::number_json(v.lon);
    if (v.alt_m) j["alt_m"] = detail::number_json(*v.alt_m);
    return j;
}

result<gps_fix> from_json_gps_fix(const nlohmann::json& j, std::string_view path) {
    detail::object_reader r(j, path, "gps");
    gps_fix v;
    r.req("lat", v.lat, detail::number(-90, 90));
    r.req("lon", v.lon, detail::number(-180, 180));
    r.opt("alt_m", v.alt_m, detail::number());
    EQM_TRY(r.finish());
    return v;
}

}  // namespace eqm
