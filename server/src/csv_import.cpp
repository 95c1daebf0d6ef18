// CSV device import: a small RFC 4180 reader and per-row validation.
#include "csv_import.hpp"

#include <iconv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>

#include "eqm/domain/canonical_json.hpp"
#include "region.hpp"

namespace eqm::server {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 4> required_columns{"id", "class", "model", "city"};
constexpr std::array<std::string_view, 11> known_columns{
    "id",           "class",          "model",           "city",
    "serial",       "analyte",        "calibration_due", "registration_id",
    "flight_hours", "battery_cycles", "retired"};

struct csv_line {
    std::size_t line = 0;  ///< where the record starts
    std::vector<std::string> cells;
};

/// Splits text into records; quoted cells may hold commas, quotes ("") and newlines.
std::vector<csv_line> split_records(std::string_view text) {
    std::vector<csv_line> out;
    csv_line current{1, {}};
    std::string cell;
    bool quoted = false;
    bool any = false;
    std::size_t line = 1;
    auto end_record = [&] {
        current.cells.push_back(std::move(cell));
        cell.clear();
        const bool blank = current.cells.size() == 1 && current.cells[0].empty();
        if (!blank) out.push_back(std::move(current));
        current = csv_line{line, {}};
        any = false;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (quoted) {
            if (ch == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    cell += '"';
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                if (ch == '\n') ++line;
                cell += ch;
            }
            continue;
        }
        if (ch == '"' && cell.empty()) {
            quoted = true;
            any = true;
        } else if (ch == ',') {
            current.cells.push_back(std::move(cell));
            cell.clear();
            any = true;
        } else if (ch == '\r') {
            // CRLF line ends: the \n ends the record.
        } else if (ch == '\n') {
            ++line;
            end_record();
            current.line = line;
        } else {
            cell += ch;
            any = true;
        }
    }
    if (any || !cell.empty()) end_record();
    return out;
}

std::string trim(std::string s) {
    const auto not_space = [](unsigned char c) { return c != ' ' && c != '\t'; };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

/// The JSON value of a cell for its column, or an error message.
std::optional<std::string> cell_value(std::string_view column, const std::string& cell, json& out) {
    if (column == "flight_hours") {
        double v = 0;
        auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
        if (ec != std::errc() || p != cell.data() + cell.size()) return "must be a number";
        out = v;
    } else if (column == "battery_cycles") {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
        if (ec != std::errc() || p != cell.data() + cell.size())
            return "must be a whole number >= 0";
        out = v;
    } else if (column == "retired") {
        if (cell == "true") {
            out = true;
        } else if (cell == "false") {
            out = false;
        } else {
            return "must be true or false";
        }
    } else {
        out = cell;
    }
    return std::nullopt;
}

std::string not_utf8_message(std::string_view cell) {
    std::size_t valid = 0;
    while (valid < cell.size() && is_valid_utf8(cell.substr(0, valid + 1))) ++valid;
    char byte[8];
    std::snprintf(
        byte, sizeof byte, "0x%02X",
        static_cast<unsigned>(static_cast<unsigned char>(cell[std::min(valid, cell.size() - 1)])));
    return std::string("is not valid UTF-8 (byte ") + byte +
           "); save the file as UTF-8, or send it with charset=gbk when it is a GBK export";
}

/// Reads a record's cells into `obj` by column; false (with the error recorded) at the first
/// bad cell.
bool read_cells(const csv_line& rec, const std::vector<std::string>& header, json& obj,
                std::string& id, std::vector<csv_row_error>& errors) {
    for (std::size_t c = 0; c < header.size(); ++c) {
        const std::string cell = trim(rec.cells[c]);
        if (!is_valid_utf8(cell)) {
            errors.push_back({rec.line, id, header[c], not_utf8_message(cell), c + 1});
            return false;
        }
        if (header[c] == "id") id = cell;
        if (cell.empty()) continue;
        json v;
        if (auto err = cell_value(header[c], cell, v)) {
            errors.push_back({rec.line, id, header[c], *err, c + 1});
            return false;
        }
        obj[header[c]] = std::move(v);
    }
    return true;
}

/// An iconv descriptor, closed on scope exit.
struct iconv_closer {
    void operator()(void* cd) const noexcept { iconv_close(static_cast<iconv_t>(cd)); }
};

/// `bytes` decoded from GB 18030 to UTF-8; the error names the line of the first bad byte.
result<std::string> decode_gb18030(std::string_view bytes) {
    iconv_t raw = iconv_open("UTF-8", "GB18030");
    if (raw == reinterpret_cast<iconv_t>(-1))
        return fail(errc::internal, "Content-Type", "this system cannot decode GB 18030");
    std::unique_ptr<void, iconv_closer> cd(raw);
    std::string out(bytes.size() * 2 + 16, '\0');
    char* in = const_cast<char*>(bytes.data());  // iconv's signature; it does not write
    std::size_t in_left = bytes.size();
    std::size_t done = 0;
    while (in_left > 0) {
        char* to = out.data() + done;
        std::size_t out_left = out.size() - done;
        const auto r = iconv(raw, &in, &in_left, &to, &out_left);
        done = out.size() - out_left;
        if (r != static_cast<std::size_t>(-1)) break;
        if (errno == E2BIG) {
            out.resize(out.size() * 2);
            continue;
        }
        const auto at = static_cast<std::size_t>(in - bytes.data());
        const auto line =
            1 + static_cast<std::size_t>(std::count(bytes.begin(), bytes.begin() + at, '\n'));
        return fail(errc::bad_field, "body",
                    "line " + std::to_string(line) + " is not valid GBK/GB 18030 (byte " +
                        std::to_string(at + 1) + " of the file)");
    }
    out.resize(done);
    return out;
}

}  // namespace

std::string charset_of(std::string_view content_type) {
    std::size_t at = content_type.find(';');
    while (at != std::string_view::npos) {
        auto param = content_type.substr(at + 1);
        const auto next = param.find(';');
        param = param.substr(0, next);
        at = next == std::string_view::npos ? next : at + 1 + next;
        while (!param.empty() && (param.front() == ' ' || param.front() == '\t'))
            param.remove_prefix(1);
        while (!param.empty() && (param.back() == ' ' || param.back() == '\t'))
            param.remove_suffix(1);
        const auto eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        std::string key(param.substr(0, eq));
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (key != "charset") continue;
        auto value = param.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        std::string v(value);
        std::transform(v.begin(), v.end(), v.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return v;
    }
    return {};
}

result<std::string> decode_upload(std::string_view bytes, std::string_view charset) {
    constexpr std::string_view bom = "\xEF\xBB\xBF";
    std::string text;
    if (charset.empty() || charset == "utf-8" || charset == "utf8") {
        text = std::string(bytes);
    } else if (charset == "gbk" || charset == "gb2312" || charset == "cp936" ||
               charset == "gb18030") {
        auto decoded = decode_gb18030(bytes);
        if (!decoded) return decoded;
        text = std::move(*decoded);
    } else {
        return fail(errc::unsupported_media_type, "Content-Type",
                    "charset " + std::string(charset) +
                        " is not supported: send utf-8 (the default), gbk or gb18030");
    }
    if (std::string_view(text).starts_with(bom)) text.erase(0, bom.size());
    return text;
}

std::vector<csv_record> split_csv(std::string_view text) {
    std::vector<csv_record> out;
    for (auto& r : split_records(text)) out.push_back({r.line, std::move(r.cells)});
    return out;
}

csv_import_result parse_device_csv(std::string_view text) {
    csv_import_result result;
    auto records = split_records(text);
    if (records.empty()) {
        result.errors.push_back({1, "", "header", "the file is empty; expected a header line"});
        return result;
    }
    std::vector<std::string> header;
    for (auto& h : records.front().cells) header.push_back(trim(h));
    bool header_ok = true;
    for (std::size_t c = 0; c < header.size(); ++c) {
        if (!is_valid_utf8(header[c])) {
            result.errors.push_back(
                {records.front().line, "", "header", not_utf8_message(header[c]), c + 1});
            header[c] = sanitize_utf8(header[c]);
            header_ok = false;
        }
    }
    for (const auto& h : header) {
        if (std::find(known_columns.begin(), known_columns.end(), h) == known_columns.end()) {
            result.errors.push_back({records.front().line, "", h, "unknown column"});
            header_ok = false;
        }
    }
    for (auto need : required_columns) {
        if (std::find(header.begin(), header.end(), need) == header.end()) {
            result.errors.push_back(
                {records.front().line, "", std::string(need), "required column is missing"});
            header_ok = false;
        }
    }
    if (!header_ok) return result;

    std::map<std::string, std::size_t> first_line_of;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        std::string id;
        if (rec.cells.size() != header.size()) {
            result.errors.push_back({rec.line, "", "row",
                                     "has " + std::to_string(rec.cells.size()) +
                                         " cells; the header has " +
                                         std::to_string(header.size())});
            continue;
        }
        json obj = json::object();
        const bool ok = read_cells(rec, header, obj, id, result.errors);
        if (!ok) continue;
        auto d = from_json_device_record(obj);
        if (!d) {
            result.errors.push_back({rec.line, id, d.error().field, d.error().message});
            continue;
        }
        if (!find_city(d->city)) {
            result.errors.push_back(
                {rec.line, id, "city", "must be one of the region's 14 city codes"});
            continue;
        }
        auto [it, fresh] = first_line_of.emplace(d->id, rec.line);
        if (!fresh) {
            result.errors.push_back(
                {rec.line, id, "id", "duplicate of line " + std::to_string(it->second)});
            continue;
        }
        result.rows.push_back({rec.line, std::move(*d)});
    }
    return result;
}

}  // namespace eqm::server
