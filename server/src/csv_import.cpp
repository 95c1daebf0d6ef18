// CSV device import: a small RFC 4180 reader and per-row validation.
#include "csv_import.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

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

}  // namespace

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
        bool ok = true;
        for (std::size_t c = 0; c < header.size(); ++c) {
            const std::string cell = trim(rec.cells[c]);
            if (header[c] == "id") id = cell;
            if (cell.empty()) continue;
            json v;
            if (auto err = cell_value(header[c], cell, v)) {
                result.errors.push_back({rec.line, id, header[c], *err});
                ok = false;
                break;
            }
            obj[header[c]] = std::move(v);
        }
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
