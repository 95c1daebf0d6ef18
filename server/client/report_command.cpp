// `eqm report utilization|quota-gap` (see report_command.hpp).
#include "report_command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

namespace eqm::cli {

namespace {

struct report_args {
    std::string city, cls, from, to, granularity = "day", format = "json";
};

/// `?a=b&c=d` of the options given.
std::string query_of(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string q;
    for (const auto& [k, v] : params) {
        if (v.empty()) continue;
        q += (q.empty() ? "?" : "&") + k + "=" + v;
    }
    return q;
}

void run_report(const report_fetch& fetch, const std::string& target, const std::string& format,
                int& code) {
    const std::string accept = format == "csv" ? "text/csv" : "application/json";
    auto body = fetch(target, accept, code);
    if (!body) return;
    std::cout << *body;
    if (format != "csv") std::cout << '\n';
    code = 0;
}

void add_common(CLI::App& cmd, report_args& a) {
    cmd.add_option("--city", a.city,
                   "only this city, a code such as 450100 (a custodian reads only their own)");
    cmd.add_option("--class", a.cls, "only this class: body_camera, drone, analyzer or dock")
        ->check(CLI::IsMember({"body_camera", "drone", "analyzer", "dock"}));
    cmd.add_option("--format", a.format, "json (the server's answer) or csv")
        ->check(CLI::IsMember({"json", "csv"}))
        ->capture_default_str();
}

}  // namespace

void add_report_command(CLI::App& app, int& exit_code, report_fetch fetch) {
    auto* report = app.add_subcommand(
        "report", "planning reports: utilization, quota-gap (JSON, or CSV with --format csv)");
    report->require_subcommand(1);
    auto args = std::make_shared<report_args>();
    auto shared_fetch = std::make_shared<report_fetch>(std::move(fetch));

    auto* util = report->add_subcommand(
        "utilization",
        "hours in custody against hours available per city, class and local day (UTC+8), devices "
        "idle for 30 days, overdue returns");
    add_common(*util, *args);
    util->add_option("--from", args->from, "first day, YYYY-MM-DD (default: 29 days before --to)");
    util->add_option("--to", args->to, "last day, YYYY-MM-DD (default: today)");
    util->add_option("--granularity", args->granularity,
                     "day (a row per day) or total (a row per city and class)")
        ->check(CLI::IsMember({"day", "total"}))
        ->capture_default_str();
    util->callback([args, shared_fetch, &exit_code] {
        const auto target =
            "/api/v1/reports/utilization" + query_of({{"city", args->city},
                                                      {"class", args->cls},
                                                      {"from", args->from},
                                                      {"to", args->to},
                                                      {"granularity", args->granularity},
                                                      {"format", args->format}});
        run_report(*shared_fetch, target, args->format, exit_code);
    });

    auto* gap = report->add_subcommand(
        "quota-gap",
        "per quota: quota, stock, ready, in use, in transit and gap = max(0, quota - ready - in "
        "transit)");
    add_common(*gap, *args);
    gap->callback([args, shared_fetch, &exit_code] {
        const auto target = "/api/v1/reports/quota-gap" + query_of({{"city", args->city},
                                                                    {"class", args->cls},
                                                                    {"format", args->format},
                                                                    {"limit", "5000"}});
        run_report(*shared_fetch, target, args->format, exit_code);
    });
}

}  // namespace eqm::cli
