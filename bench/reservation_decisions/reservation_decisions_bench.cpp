// Reservation decisions against a full store, next to the raw range query they need (see run).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "eqm/domain/region.hpp"
#include "eqm/store/database.hpp"
#include "region_store.hpp"
#include "sqlite_booking_store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using eqm::clock_ms;

struct options {
    std::size_t decisions = 5000;
    std::size_t devices = 10000;
    std::size_t bookings = 200000;
    unsigned seed = 1;
};

constexpr eqm::device_class classes[] = {eqm::device_class::body_camera, eqm::device_class::drone,
                                         eqm::device_class::analyzer};

/// A fixed instant, so runs compare: the bookings spread over 60 days after it.
const clock_ms epoch = clock_ms{milliseconds{1'800'000'000'000}};
constexpr auto span = days{60};

std::string city_of(std::size_t i) {
    return std::string(eqm::region_cities[i % eqm::region_cities.size()].code);
}

eqm::result<void> seed_devices(eqm::server::region_store& store, const options& o) {
    std::vector<eqm::device_record> devices;
    for (std::size_t i = 0; i < o.devices; ++i) {
        eqm::device_record d;
        d.id = "dev-" + std::to_string(i);
        d.cls = classes[i % 3];
        if (d.cls == eqm::device_class::analyzer) d.analyte = eqm::analyte::cod;
        d.model = "M";
        d.city = city_of(i / 3);
        devices.push_back(std::move(d));
    }
    return store.insert_devices(devices, epoch);
}

/// 200,000 held bookings (named and by class) written straight into the table, spread over the
/// cities, classes and 60 days: what months of use leave behind.
eqm::result<void> seed_bookings(const fs::path& db_path, const options& o, std::mt19937& rng) {
    auto db = eqm::store::database::open(db_path);
    if (!db) return std::unexpected(db.error());
    auto tx = eqm::store::transaction::begin(*db);
    if (!tx) return std::unexpected(tx.error());
    auto st = db->prepare(
        "INSERT INTO bookings(seq, id, person_id, city, device_id, class, analyte, start_ms, "
        "end_ms, purpose, status, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, 'seed', 'approved', ?10, ?10)");
    if (!st) return std::unexpected(st.error());
    std::uniform_int_distribution<std::int64_t> start_min(0, duration_cast<minutes>(span).count());
    std::uniform_int_distribution<std::int64_t> length_min(30, 8 * 60);
    for (std::size_t i = 0; i < o.bookings; ++i) {
        const std::size_t dev = i % o.devices;
        const auto cls = classes[dev % 3];
        const auto start = epoch + minutes{start_min(rng)};
        const auto end = start + minutes{length_min(rng)};
        std::optional<std::string> device;
        // A device booking per device and day slot keeps named bookings apart; the rest are
        // class bookings, which only the capacity sweep limits.
        if (i % 2 == 0) device = "dev-" + std::to_string(dev);
        std::optional<std::string> analyte;
        if (cls == eqm::device_class::analyzer) analyte = "cod";
        const auto seq = static_cast<std::int64_t>(i + 1);
        if (auto r = st->bind_all(seq, "r-" + std::to_string(seq), "p-" + std::to_string(i % 500),
                                  city_of(dev / 3), device, std::string(to_string(cls)), analyte,
                                  start.time_since_epoch().count(), end.time_since_epoch().count(),
                                  epoch.time_since_epoch().count());
            !r)
            return r;
        if (auto r = st->exec(); !r) return r;
    }
    if (auto r = db->execute("INSERT INTO booking_spans(city, class, max_ms) SELECT city, class, "
                             "MAX(end_ms - start_ms) FROM bookings GROUP BY city, class");
        !r)
        return r;
    return tx->commit();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

struct timing {
    std::vector<double> lat;
    std::size_t admitted = 0, refused = 0, failed = 0;
    double rate = 0;
    void print(const char* what, double baseline_rate) const {
        std::printf(
            "%s: %zu (%zu admitted, %zu refused, %zu store errors)  %.0f/s  p50 %.0f us  "
            "p99 %.0f us  ratio to the range query %.3f\n",
            what, lat.size(), admitted, refused, failed, rate, percentile(lat, 0.5),
            percentile(lat, 0.99), rate / baseline_rate);
    }
};

template <class F>
timing time_decisions(std::span<const eqm::booking_request> requests, F&& decide) {
    timing t;
    const auto t0 = steady_clock::now();
    for (const auto& r : requests) {
        const auto a = steady_clock::now();
        auto d = decide(r);
        t.lat.push_back(duration<double, std::micro>(steady_clock::now() - a).count());
        if (!d)
            ++t.failed;
        else if (*d)
            ++t.admitted;
        else
            ++t.refused;
    }
    t.rate =
        static_cast<double>(requests.size()) / duration<double>(steady_clock::now() - t0).count();
    return t;
}

eqm::booking_request random_request(std::mt19937& rng, const options& o) {
    std::uniform_int_distribution<std::size_t> dev(0, o.devices - 1);
    std::uniform_int_distribution<std::int64_t> start_min(0, duration_cast<minutes>(span).count());
    std::uniform_int_distribution<std::int64_t> length_min(30, 4 * 60);
    const auto d = dev(rng);
    eqm::booking_request r;
    r.city = city_of(d / 3);
    if (rng() % 2 == 0) {
        r.device_id = "dev-" + std::to_string(d);
    } else {
        r.cls = classes[d % 3];
        if (r.cls == eqm::device_class::analyzer) r.analyte = eqm::analyte::cod;
    }
    r.start = epoch + minutes{start_min(rng)};
    r.end = r.start + minutes{length_min(rng)};
    r.purpose = "bench";
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (argc > 1) o.decisions = std::stoul(argv[1]);
    if (argc > 2) o.devices = std::max<std::size_t>(42, std::stoul(argv[2]));
    if (argc > 3) o.bookings = std::stoul(argv[3]);
    if (argc > 4) o.seed = static_cast<unsigned>(std::stoul(argv[4]));
    std::string scratch = "eqm-bench-resv-";
    scratch += std::to_string(::getpid());
    const auto dir = fs::temp_directory_path() / scratch;
    fs::create_directories(dir);
    const auto path = dir / "region.db";
    std::mt19937 rng(o.seed);
    int status = 0;
    {
        auto store = eqm::server::open_sqlite_region_store(path);
        if (!store) {
            std::cerr << "bench: " << store.error().describe() << '\n';
            return 1;
        }
        std::cout << "seeding " << o.devices << " devices and " << o.bookings << " bookings"
                  << std::endl;
        if (auto r = seed_devices(**store, o); !r) {
            std::cerr << "bench: " << r.error().describe() << '\n';
            return 1;
        }
        if (auto r = seed_bookings(path, o, rng); !r) {
            std::cerr << "bench: " << r.error().describe() << '\n';
            return 1;
        }
        // Decisions: every request of a dispatcher (no home city), as the server makes them.
        const eqm::booking_requester who{"disp-bench", eqm::person_role::dispatcher, std::nullopt};
        const auto now = epoch - hours{1};
        std::vector<eqm::booking_request> requests;
        for (std::size_t i = 0; i < o.decisions; ++i) requests.push_back(random_request(rng, o));
        // 1. Through the store, as the server decides: one durable commit (synchronous=FULL)
        //    per decision, so the disk's fsync bounds the rate.
        const auto half = requests.size() / 2;
        const std::span<const eqm::booking_request> durable_part(requests.data(), half);
        const std::span<const eqm::booking_request> fast_part(requests.data() + half,
                                                              requests.size() - half);
        auto durable = time_decisions(durable_part, [&](const eqm::booking_request& r) {
            return (*store)->admit_reservation(r, who, now);
        });
        // 2. The same code on a connection with synchronous=NORMAL (WAL: durable against a
        //    process crash, fsync at checkpoints): the decision's own cost.
        eqm::store::database_options fast_options;
        fast_options.synchronous = eqm::store::synchronous_mode::normal;
        auto fast_db = eqm::store::database::open(path, fast_options);
        if (!fast_db) return 1;
        auto fast = time_decisions(fast_part, [&](const eqm::booking_request& r) {
            return eqm::server::booking_sql::admit(*fast_db, r, who, now);
        });
        // 3. Baseline: the range query of each decision alone.
        auto db = eqm::store::database::open(path);
        if (!db) return 1;
        std::vector<double> qlat;
        std::size_t rows = 0;
        const auto q0 = steady_clock::now();
        for (const auto& r : requests) {
            const auto cls = r.cls ? *r.cls : classes[std::stoul(r.device_id->substr(4)) % 3];
            const auto a = steady_clock::now();
            auto held = eqm::server::booking_sql::held_in_range(
                *db, r.city, cls, r.start - days{31} - (r.end - r.start), r.end + days{31});
            qlat.push_back(duration<double, std::micro>(steady_clock::now() - a).count());
            if (held) rows += held->size();
        }
        const double qrate = static_cast<double>(requests.size()) /
                             duration<double>(steady_clock::now() - q0).count();
        std::printf("baseline range query/s %.0f  p50 %.0f us  p99 %.0f us  (%.0f rows each)\n",
                    qrate, percentile(qlat, 0.5), percentile(qlat, 0.99),
                    static_cast<double>(rows) / static_cast<double>(requests.size()));
        durable.print("decisions, durable commit each (server)", qrate);
        fast.print("decisions, synchronous=NORMAL         ", qrate);
        std::printf("goal >= 2000 decisions/s: %s (synchronous=NORMAL), %s (fsync per decision)\n",
                    fast.rate >= 2000 ? "met" : "NOT met",
                    durable.rate >= 2000 ? "met" : "NOT met");
        const auto failed = durable.failed + fast.failed;
        if (failed) status = 1;
    }
    fs::remove_all(dir);
    return status;
}
