// `eqm quotas derive` (see quotas_command.hpp). The norms and headcounts are configuration
// (deploy/quotas/ has the bureau's sample files); only the arithmetic is code:
//   min_ready = max(minimum, ceil(per_head x headcount))
#include "quotas_command.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "eqm/domain/region.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm::cli {

namespace {

using nlohmann::json;

constexpr int exit_usage = 2;
/// The largest headcount of one city and the largest norm per head.
constexpr double max_headcount = 1'000'000;
constexpr double max_per_head = 1'000;

struct norm {
    std::string cls, analyte;
    double per_head = 0;
    double minimum = 0;
};

/// The lines of a small CSV file (no quoted cells: these files are names and numbers), split
/// into cells; the header checked against `header`.
std::vector<std::vector<std::string>> read_rows(const std::string& path, std::string_view header) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot be read");
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        if (n == 1) {
            if (line != header)
                throw std::runtime_error(path + ": line 1: the header must be " +
                                         std::string(header));
            continue;
        }
        std::vector<std::string> cells;
        std::stringstream ss(line);
        std::string cell;
        while (std::getline(ss, cell, ',')) cells.push_back(cell);
        if (line.back() == ',') cells.emplace_back();
        cells.insert(cells.begin(), std::to_string(n));
        rows.push_back(std::move(cells));
    }
    return rows;
}

double number(const std::string& path, const std::string& line, const std::string& column,
              const std::string& text, double max) {
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || !(v >= 0) || v > max)
        throw std::runtime_error(path + ": line " + line + ": " + column +
                                 ": must be a number 0.." + std::to_string(static_cast<long>(max)));
    return v;
}

std::vector<norm> read_norms(const std::string& path) {
    std::vector<norm> out;
    for (const auto& r : read_rows(path, "class,analyte,per_head,minimum")) {
        if (r.size() != 5) throw std::runtime_error(path + ": line " + r[0] + ": needs 4 cells");
        if (!parse_device_class(r[1]))
            throw std::runtime_error(path + ": line " + r[0] + ": class: unknown class \"" + r[1] +
                                     "\"");
        if (!r[2].empty() && (r[1] != "analyzer" || !parse_analyte(r[2])))
            throw std::runtime_error(path + ": line " + r[0] +
                                     ": analyte: only an analyzer has one, of cod, nh3n, voc, "
                                     "so2, nox, noise");
        out.push_back({r[1], r[2], number(path, r[0], "per_head", r[3], max_per_head),
                       number(path, r[0], "minimum", r[4], max_headcount)});
    }
    return out;
}

std::map<std::string, double> read_headcount(const std::string& path) {
    std::map<std::string, double> out;
    for (const auto& r : read_rows(path, "city,headcount")) {
        if (r.size() != 3) throw std::runtime_error(path + ": line " + r[0] + ": needs 2 cells");
        if (!find_city(r[1]))
            throw std::runtime_error(path + ": line " + r[0] + ": city: unknown city \"" + r[1] +
                                     "\"");
        out[r[1]] = number(path, r[0], "headcount", r[2], max_headcount);
    }
    return out;
}

void derive(const std::string& norms_path, const std::string& headcount_path,
            const std::string& format) {
    const auto norms = read_norms(norms_path);
    const auto heads = read_headcount(headcount_path);
    json items = json::array();
    std::string csv = "city,class,analyte,min_ready\r\n";
    for (const auto& [city, headcount] : heads) {
        for (const auto& n : norms) {
            // A tiny epsilon keeps 0.05 x 120 = 6.000000000000001 at 6.
            const auto units = static_cast<std::int64_t>(
                std::max(n.minimum, std::ceil(n.per_head * headcount - 1e-9)));
            json q{{"city", city}, {"class", n.cls}, {"min_ready", units}};
            if (!n.analyte.empty()) q["analyte"] = n.analyte;
            items.push_back(std::move(q));
            csv += city + "," + n.cls + "," + n.analyte + "," + std::to_string(units) + "\r\n";
        }
    }
    if (format == "csv")
        std::cout << csv;
    else
        std::cout << json{{"items", std::move(items)}}.dump(2) << '\n';
}

}  // namespace

void add_quotas_command(CLI::App& app, int& exit_code) {
    auto* quotas = app.add_subcommand("quotas", "standard-issue quotas, offline");
    quotas->require_subcommand(1);
    struct args {
        std::string norms, headcount, format = "json";
    };
    auto a = std::make_shared<args>();
    auto* d = quotas->add_subcommand(
        "derive",
        "the quota table from per-head norms x each city's enforcement headcount: min_ready = "
        "max(minimum, ceil(per_head x headcount)); prints the PUT /api/v1/quotas body, or with "
        "--format csv the file for POST /api/v1/quotas/import");
    d->add_option("--norms", a->norms,
                  "CSV class,analyte,per_head,minimum (deploy/quotas/norms.csv)")
        ->required()
        ->check(CLI::ExistingFile);
    d->add_option("--headcount", a->headcount, "CSV city,headcount (deploy/quotas/headcount.csv)")
        ->required()
        ->check(CLI::ExistingFile);
    d->add_option("--format", a->format, "json or csv")
        ->check(CLI::IsMember({"json", "csv"}))
        ->capture_default_str();
    d->callback([a, &exit_code] {
        try {
            derive(a->norms, a->headcount, a->format);
            exit_code = 0;
        } catch (const std::exception& e) {
            std::cerr << "eqm quotas derive: " << e.what() << '\n';
            exit_code = exit_usage;
        }
    });
}

}  // namespace eqm::cli
