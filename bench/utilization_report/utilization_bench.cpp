// The utilization report (GET /api/v1/reports/utilization, year, whole region, per day) over a
// region store holding N custody records, next to one SQLite GROUP BY over the same rows, timed
// in the same run: median of the runs, and the ratio.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "eqm/store/database.hpp"
#include "region_store.hpp"
#include "utilization.hpp"

namespace {

using namespace std::chrono;
using eqm::clock_ms;

constexpr int devices = 2000;
constexpr int runs = 5;
constexpr std::string_view classes[] = {"body_camera", "drone", "analyzer", "dock"};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <class F>
double time_ms(F&& f) {
    const auto t0 = steady_clock::now();
    f();
    return duration<double, std::milli>(steady_clock::now() - t0).count();
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "utilization_bench: %s failed\n", what);
        std::exit(1);
    }
}

/// N custody records spread over the devices: a year of check-outs and check-ins.
void fill(const std::filesystem::path& db_path, long records, clock_ms start) {
    auto db = eqm::store::database::open(db_path);
    check(db.has_value(), "open");
    check(db->execute("BEGIN").has_value(), "begin");
    auto dev = db->prepare(
        "INSERT INTO devices(id, class, model, city, created_at, updated_at) "
        "VALUES (?1, ?2, 'M', ?3, ?4, ?4)");
    auto cus = db->prepare(
        "INSERT INTO custody(city, idx, hash, device_id, ts, record, verified) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)");
    check(dev && cus, "prepare");
    const auto created = eqm::format_timestamp(start);
    const long per_device = records / devices;
    const auto step = milliseconds(365LL * 24 * 3600 * 1000 / per_device);
    long idx = 0;
    for (int d = 0; d < devices; ++d) {
        const std::string id = "dev-" + std::to_string(d);
        const std::string city = std::to_string(450100 + 100 * (d % 14));
        check(dev->bind_all(id, std::string(classes[d % 4]), city, created).has_value(), "bind");
        check(dev->exec().has_value(), "device");
        for (long r = 0; r < per_device; ++r) {
            const clock_ms ts = start + step * r + milliseconds(d * 1000);
            const bool out = r % 2 == 0;
            std::string rec =
                std::string("{\"to_state\":\"") + (out ? "checked_out" : "available") + "\"";
            if (out) rec += ",\"due\":\"" + eqm::format_timestamp(ts + hours(8)) + "\"";
            rec += "}";
            check(cus->bind_all(city, idx, std::to_string(idx), id, eqm::format_timestamp(ts), rec)
                      .has_value(),
                  "bind");
            check(cus->exec().has_value(), "custody");
            ++idx;
        }
    }
    check(db->execute("COMMIT").has_value(), "commit");
    std::fprintf(stderr, "  %ld custody records of %d devices written\n", idx, devices);
}

}  // namespace

int main(int argc, char** argv) {
    const long records = argc > 1 ? std::atol(argv[1]) : 1'000'000;
    const auto dir = std::filesystem::temp_directory_path() /
                     ("eqm-utilization-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "region.db";
    const clock_ms start = clock_ms(sys_days(year{2025} / 12 / 1).time_since_epoch());
    {
        auto store = eqm::server::open_sqlite_region_store(path);  // creates the schema
        check(store.has_value(), "open_sqlite_region_store");
    }
    fill(path, records, start);
    auto store = eqm::server::open_sqlite_region_store(path);
    check(store.has_value(), "open_sqlite_region_store");
    auto db = eqm::store::database::open(path);
    check(db.has_value(), "open");

    eqm::server::utilization_query q;
    q.from = floor<days>(start);
    q.to = q.from + days{364};
    q.now = start + days{400};
    const clock_ms before = clock_ms(sys_days(q.to + days{1}).time_since_epoch());
    std::vector<double> report_ms, group_ms, report_cpu_ms;
    std::size_t groups = 0;
    long grouped = 0;
    for (int i = 0; i < runs; ++i) {
        const std::clock_t cpu0 = std::clock();
        report_ms.push_back(time_ms([&] {
            auto briefs = (*store)->device_briefs();
            check(briefs.has_value(), "device_briefs");
            eqm::server::utilization_builder b(q, *briefs);
            check((*store)
                      ->scan_custody_states(
                          before, [&](const eqm::server::custody_state_row& r) { b.add(r); })
                      .has_value(),
                  "scan");
            auto out = b.finish();
            groups = out.size();
            auto body = eqm::server::utilization_json(q, out).dump();
            check(!body.empty(), "json");
        }));
        report_cpu_ms.push_back(1000.0 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC);
        group_ms.push_back(time_ms([&] {
            auto st = db->prepare(
                "SELECT city, json_extract(record, '$.to_state'), COUNT(*) FROM custody "
                "WHERE ts < ?1 GROUP BY 1, 2");
            check(st && st->bind(1, eqm::format_timestamp(before)).has_value(), "prepare");
            grouped = 0;
            for (;;) {
                auto more = st->step();
                check(more.has_value(), "step");
                if (!*more) break;
                grouped += st->column_int64(2);
            }
        }));
    }
    // The same GROUP BY as the sqlite3 shell runs it, process start included.
    std::vector<double> shell_ms;
    const std::string shell = "sqlite3 " + path.string() +
                              " \"SELECT city, json_extract(record, '$.to_state'), COUNT(*) FROM "
                              "custody GROUP BY 1, 2\" > /dev/null 2>&1";
    const bool have_shell = std::system("command -v sqlite3 > /dev/null 2>&1") == 0;
    for (int i = 0; have_shell && i < runs; ++i)
        shell_ms.push_back(time_ms([&] { check(std::system(shell.c_str()) == 0, "sqlite3"); }));
    const double r = median(report_ms), g = median(group_ms);
    std::printf(
        "utilization report, 365 days x %zu city/class groups over %ld custody records: "
        "%.0f ms wall, %.0f ms CPU (median of %d)\n",
        groups, grouped, r, median(report_cpu_ms), runs);
    std::printf("baseline, one SQLite GROUP BY (city, to_state) over the same rows: %.0f ms\n", g);
    std::printf("ratio report / GROUP BY: %.2f\n", r / g);
    if (have_shell)
        std::printf(
            "the same GROUP BY in the sqlite3 shell (process included): %.0f ms, "
            "ratio report / shell: %.2f\n",
            median(shell_ms), r / median(shell_ms));
    std::filesystem::remove_all(dir);
    return 0;
}
