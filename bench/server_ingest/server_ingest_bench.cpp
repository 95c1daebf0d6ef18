// server_ingest_bench: gateway events applied per second by eqm-server's real ingest path, next
// to raw batched SQLite inserts of the same rows, in the same run.
//
//   server_ingest_bench [EVENTS] [BATCH] [DEVICES]        (defaults 200000 1000 2000)
//
// 1. Builds EVENTS gw_events for city 450100 (half custody records, sealed into one valid hash
//    chain with eqm::seal, alternating checkout/checkin per device; half telemetry_summary),
//    serialized as the gateway would publish them, in batches of BATCH.
// 2. Server: opens a fresh SQLite region store (the server's own engine: WAL,
//    synchronous=FULL), registers DEVICES body cameras, feeds a gateway birth, then times
//    gateway_link::handle_message over every batch: JSON parse, contract checks, idempotency by
//    msg_id, seq tracking, hash-chain verification, one transaction per batch, device updates
//    and WebSocket fan-out (no client connected). No broker: the in-process path.
// 3. Baseline: a second fresh file with the same journal settings, the same custody and
//    telemetry tables, the same rows from already-built values, inserted with reused prepared
//    statements in one transaction per BATCH rows.
// Prints events/s of each and the ratio; exits 1 when the server did not apply every event or
// its chain did not verify.
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "eqm/domain/ledger.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/http/ws_hub.hpp"
#include "gateway_link.hpp"
#include "region_store.hpp"

namespace {

using namespace eqm;
using namespace eqm::server;

constexpr std::string_view bench_city = "450100";
constexpr std::string_view bench_gw = "gw-450100";
constexpr std::string_view bench_holder = "bench-officer";
constexpr std::size_t default_events = 200'000;
constexpr std::size_t default_batch = 1'000;
constexpr std::size_t default_devices = 2'000;
/// The contract's limit of events in one gw_events batch.
constexpr std::size_t max_events_per_batch = 1'000;

/// A scratch folder removed on every exit path.
class scratch_dir {
  public:
    scratch_dir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/eqm-ingest-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

std::string device_id(std::size_t d) {
    return "cam-" + std::to_string(d);
}

/// The rows the baseline inserts: what the events carry, already in column form.
struct custody_row {
    std::int64_t idx = 0;
    std::string hash, device_id, ts, record;
};
struct telemetry_row {
    std::string device_id, minute;
    std::int64_t count = 0;
    double battery_min = 0, battery_last = 0, storage = 0, temp = 0;
};

struct workload {
    std::vector<std::string> batches;  ///< gw_events JSON texts
    std::vector<std::vector<custody_row>> custody;
    std::vector<std::vector<telemetry_row>> telemetry;
};

workload build(std::size_t events, std::size_t batch, std::size_t devices) {
    workload w;
    const clock_ms start = std::chrono::floor<std::chrono::minutes>(
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
    std::string head(genesis_prev_hash);
    std::uint64_t index = 0;
    std::size_t telemetry_n = 0;
    for (std::size_t first = 0; first < events; first += batch) {
        gw_events b;
        b.gw_id = std::string(bench_gw);
        b.bd_seq = 1;
        std::vector<custody_row> crows;
        std::vector<telemetry_row> trows;
        for (std::size_t n = first; n < std::min(events, first + batch); ++n) {
            gw_event e;
            e.seq = n + 1;
            e.msg_id = std::string(bench_gw) + "-" + std::to_string(e.seq);
            e.ts = start + std::chrono::milliseconds(n);
            if (n % 2 == 0) {
                // Custody: device d's k-th record alternates checkout / checkin.
                const std::size_t k = index / devices;
                custody_record r;
                r.device_id = device_id(index % devices);
                const bool out = k % 2 == 0;
                r.action = out ? custody_action::checkout : custody_action::checkin;
                r.from_state = out ? custody_state::available : custody_state::checked_out;
                r.to_state = out ? custody_state::checked_out : custody_state::available;
                if (out) r.holder = std::string(bench_holder);
                r.actor = std::string(bench_holder);
                r.source = custody_source::api;
                r.ts = e.ts;
                r = seal(std::move(r), head, index);
                head = r.hash;
                ++index;
                crows.push_back(custody_row{static_cast<std::int64_t>(r.index), r.hash, r.device_id,
                                            format_timestamp(r.ts), to_json(r).dump()});
                e.body = std::move(r);
            } else {
                telemetry_summary_body t;
                t.device_id = device_id(telemetry_n % devices);
                t.minute = start + std::chrono::minutes(telemetry_n / devices);
                t.count = 12;
                t.battery_pct_min = 81;
                t.battery_pct_last = 82.5;
                t.storage_free_mb_last = 30'000;
                t.temp_c_max = 31.5;
                ++telemetry_n;
                trows.push_back(telemetry_row{
                    t.device_id, format_timestamp(t.minute), static_cast<std::int64_t>(t.count),
                    t.battery_pct_min, t.battery_pct_last, t.storage_free_mb_last, t.temp_c_max});
                e.body = std::move(t);
            }
            b.events.push_back(std::move(e));
        }
        b.ts = b.events.back().ts;
        w.batches.push_back(to_json_text(b));
        w.custody.push_back(std::move(crows));
        w.telemetry.push_back(std::move(trows));
    }
    return w;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// CPU time of the calling thread: on a shared machine the wall-clock rate depends on what
/// else runs, the CPU cost per event much less.
double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// What one side measured.
struct measurement {
    double per_second = -1;  ///< negative: it failed
    double cpu_seconds = 0;
};

/// The server's ingest path: events/s (negative when it went wrong) and its CPU time.
measurement run_server(const workload& w, std::size_t events, std::size_t devices,
                       const std::filesystem::path& db) {
    auto store = open_sqlite_region_store(db);
    if (!store) {
        std::fprintf(stderr, "server_ingest: %s\n", store.error().describe().c_str());
        return {};
    }
    std::vector<device_record> registry;
    for (std::size_t d = 0; d < devices; ++d)
        registry.push_back(device_record{device_id(d),
                                         device_class::body_camera,
                                         "DSJ-A9",
                                         std::string(bench_city),
                                         {},
                                         {},
                                         {},
                                         {},
                                         {},
                                         {},
                                         {}});
    if (auto r = (*store)->insert_devices(registry, system_now()); !r) {
        std::fprintf(stderr, "server_ingest: %s\n", r.error().describe().c_str());
        return {};
    }
    http::ws_hub hub;
    gateway_link link(**store, hub, system_now);
    const std::string city(bench_city);
    gw_state birth{system_now(), true, 1, std::string(bench_gw), std::string("bench")};
    link.handle_message("eqm/v1/city/" + city + "/gw/state", to_json_text(birth));

    const std::string topic = "eqm/v1/city/" + city + "/gw/events";
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = thread_cpu_seconds();
    for (const auto& payload : w.batches) link.handle_message(topic, payload);
    const double cpu = thread_cpu_seconds() - cpu0;
    const double secs = seconds_since(t0);

    const auto s = link.stats();
    auto gw = (*store)->gateway(city);
    auto alerts = (*store)->list_alerts(eqm::server::alert_filter{std::nullopt, false},
                                        eqm::server::page_query{});
    const std::uint64_t applied_seq = gw && *gw ? (*gw)->applied_seq : 0;
    std::fprintf(
        stderr,
        "server_ingest: server applied %llu events in %zu batches, applied_seq %llu, "
        "duplicates %llu, gaps %llu, dead letters %llu, store errors %llu, alerts %zu\n",
        static_cast<unsigned long long>(s.events_applied), w.batches.size(),
        static_cast<unsigned long long>(applied_seq), static_cast<unsigned long long>(s.duplicates),
        static_cast<unsigned long long>(s.gaps), static_cast<unsigned long long>(s.dead_letters),
        static_cast<unsigned long long>(s.store_errors), alerts ? alerts->items.size() : 0);
    if (s.events_applied != events || applied_seq != events || s.gaps != 0 || s.dead_letters != 0 ||
        s.store_errors != 0 || !alerts || !alerts->items.empty()) {
        std::fprintf(stderr, "server_ingest: the server did not apply every event cleanly\n");
        return {};
    }
    // Spot check: the last device's history is in the store and verified.
    auto history = (*store)->custody_of_device(device_id(devices - 1),
                                               eqm::server::custody_query{{1, std::nullopt}, {}});
    if (!history || history->items.empty() || !history->items.front().verified) {
        std::fprintf(stderr, "server_ingest: custody history missing or unverified\n");
        return {};
    }
    return {static_cast<double>(events) / secs, cpu};
}

bool exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
    std::fprintf(stderr, "server_ingest: baseline: %s: %s\n", sql, message ? message : "?");
    sqlite3_free(message);
    return false;
}

/// Raw batched inserts of the same rows: rows/s (negative on failure) and the CPU time.
measurement run_baseline(const workload& w, std::size_t events, const std::filesystem::path& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return {};
    struct closer {
        sqlite3* db;
        ~closer() { sqlite3_close_v2(db); }
    } close_db{db};
    // Same journal settings as the server's store (eqm_store with synchronous_mode::full).
    if (!exec(db, "PRAGMA journal_mode=WAL") || !exec(db, "PRAGMA synchronous=FULL") ||
        !exec(db,
              "CREATE TABLE custody (city TEXT NOT NULL, idx INTEGER NOT NULL, hash TEXT NOT "
              "NULL, device_id TEXT NOT NULL, ts TEXT NOT NULL, record TEXT NOT NULL, verified "
              "INTEGER NOT NULL, PRIMARY KEY (city, idx, hash));"
              "CREATE INDEX custody_by_device ON custody(device_id, ts);"
              "CREATE TABLE telemetry (device_id TEXT PRIMARY KEY, city TEXT NOT NULL, minute "
              "TEXT NOT NULL, count INTEGER NOT NULL, battery_pct_min REAL NOT NULL, "
              "battery_pct_last REAL NOT NULL, storage_free_mb_last REAL NOT NULL, temp_c_max "
              "REAL NOT NULL, gps TEXT);"))
        return {};
    sqlite3_stmt* ins_custody = nullptr;
    sqlite3_stmt* ins_telemetry = nullptr;
    sqlite3_prepare_v2(db,
                       "INSERT INTO custody(city, idx, hash, device_id, ts, record, verified) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
                       -1, &ins_custody, nullptr);
    // Latest summary per device, as the read model keeps it.
    sqlite3_prepare_v2(db,
                       "INSERT OR REPLACE INTO telemetry(device_id, city, minute, count, "
                       "battery_pct_min, battery_pct_last, storage_free_mb_last, temp_c_max) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                       -1, &ins_telemetry, nullptr);
    struct finalizer {
        sqlite3_stmt* a;
        sqlite3_stmt* b;
        ~finalizer() {
            sqlite3_finalize(a);
            sqlite3_finalize(b);
        }
    } finalize{ins_custody, ins_telemetry};
    if (ins_custody == nullptr || ins_telemetry == nullptr) return {};

    const std::string city(bench_city);
    std::size_t rows = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = thread_cpu_seconds();
    for (std::size_t b = 0; b < w.batches.size(); ++b) {
        if (!exec(db, "BEGIN")) return {};
        for (const auto& r : w.custody[b]) {
            sqlite3_bind_text(ins_custody, 1, city.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins_custody, 2, r.idx);
            sqlite3_bind_text(ins_custody, 3, r.hash.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_custody, 4, r.device_id.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_custody, 5, r.ts.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_custody, 6, r.record.c_str(), -1, SQLITE_STATIC);
            if (sqlite3_step(ins_custody) != SQLITE_DONE) return {};
            sqlite3_reset(ins_custody);
            ++rows;
        }
        for (const auto& r : w.telemetry[b]) {
            sqlite3_bind_text(ins_telemetry, 1, r.device_id.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_telemetry, 2, city.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_telemetry, 3, r.minute.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins_telemetry, 4, r.count);
            sqlite3_bind_double(ins_telemetry, 5, r.battery_min);
            sqlite3_bind_double(ins_telemetry, 6, r.battery_last);
            sqlite3_bind_double(ins_telemetry, 7, r.storage);
            sqlite3_bind_double(ins_telemetry, 8, r.temp);
            if (sqlite3_step(ins_telemetry) != SQLITE_DONE) return {};
            sqlite3_reset(ins_telemetry);
            ++rows;
        }
        if (!exec(db, "COMMIT")) return {};
    }
    const double cpu = thread_cpu_seconds() - cpu0;
    const double secs = seconds_since(t0);
    if (rows != events) return {};
    return {static_cast<double>(events) / secs, cpu};
}

std::size_t arg_or(int argc, char** argv, int i, std::size_t fallback) {
    if (argc <= i) return fallback;
    return static_cast<std::size_t>(std::stoul(argv[i]));
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::size_t events = arg_or(argc, argv, 1, default_events);
        const std::size_t batch = arg_or(argc, argv, 2, default_batch);
        const std::size_t devices = arg_or(argc, argv, 3, default_devices);
        if (events == 0 || batch == 0 || batch > max_events_per_batch || devices == 0) {
            std::fprintf(stderr, "usage: server_ingest_bench [EVENTS] [BATCH 1..1000] [DEVICES]\n");
            return 2;
        }
        scratch_dir dir;
        std::fprintf(stderr,
                     "server_ingest: building %zu events (%zu custody, hash-chained) in "
                     "batches of %zu over %zu devices\n",
                     events, (events + 1) / 2, batch, devices);
        const workload w = build(events, batch, devices);
        std::fprintf(stderr,
                     "server_ingest: server ingest path (gateway_link::handle_message, "
                     "in process)\n");
        const auto server = run_server(w, events, devices, dir.path() / "region.db");
        if (server.per_second < 0) return 1;
        std::fprintf(stderr, "server_ingest: baseline: raw batched SQLite inserts\n");
        const auto baseline = run_baseline(w, events, dir.path() / "baseline.db");
        if (baseline.per_second < 0) {
            std::fprintf(stderr, "server_ingest: the baseline failed\n");
            return 1;
        }
        const auto n = static_cast<double>(events);
        std::printf(
            "server_ingest: server applied %zu events in batches of %zu: %.0f events/s "
            "(goal >= 50000); %.2f s CPU, %.0f events per CPU-second\n",
            events, batch, server.per_second, server.cpu_seconds, n / server.cpu_seconds);
        std::printf(
            "server_ingest: baseline raw batched SQLite inserts of the same rows (WAL, "
            "synchronous=FULL): %.0f rows/s; %.2f s CPU, %.0f rows per CPU-second\n",
            baseline.per_second, baseline.cpu_seconds, n / baseline.cpu_seconds);
        std::printf("server_ingest: ratio server/baseline = %.2f (goal >= 0.3)\n",
                    server.per_second / baseline.per_second);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "server_ingest: %s\n", e.what());
        return 1;
    }
}
