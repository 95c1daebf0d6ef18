// plan_bench: the allocation plan's optimiser (eqm_allocation, LEMON's network simplex) next to
// GLPK's glpsol on the same linear program, in the same run.
//
//   plan_bench --cities N --classes K [--seed S] [--region] [--reps R] [--goal X]
//              --eqm PATH [--glpsol PATH] [--keep DIR]
//
// 1. Builds a seeded instance: N cities (--region: the region's 14 cities with their road-time
//    estimates; else synthetic cities at random points of a 700 km square, travel estimated the
//    same way: great-circle-like distance x 1.3 at 80 km/h, whole minutes, full matrix) and K
//    classes, random stock, bookings, quota gaps and forecast per city and class.
// 2. Writes it as the `eqm plan` input (JSON) and as the LP of the optimiser's own network in
//    CPLEX LP format (eqm::allocation::write_cplex_lp, candidate moves: the same program).
// 3. Times eqm::allocation::solve in process (median of R runs), `eqm plan --any-names FILE`
//    as a whole process, and `glpsol --dual --lp FILE -w SOL` as a whole process (reading the
//    LP included, as a user would run it), wall clock and CPU; glpsol's own "Time used" too.
//    --dual is glpsol's fastest setting here: every cost is >= 0, so its dual simplex starts
//    from a dual-feasible basis (its default primal simplex is several times slower).
// 4. Prints the sizes, each time, total_cost next to glpsol's optimum, and the ratios. Exits 1
//    when the costs differ (relative 1e-9), or when --goal is given and the whole glpsol process
//    is not that many times slower than the whole `eqm plan` process.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "eqm/allocation/lp_format.hpp"
#include "eqm/allocation/solver.hpp"
#include "eqm/domain/allocation.hpp"
#include "eqm/domain/region.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct options {
    std::size_t cities = 14;
    std::size_t classes = 12;
    std::uint64_t seed = 1;
    bool region = false;
    int reps = 5;
    double goal = 0;
    std::string eqm;
    std::string glpsol = "glpsol";
    std::string keep;
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "plan_bench: %s\nusage: plan_bench --cities N --classes K [--seed S] [--region] "
                 "[--reps R] [--goal X] --eqm PATH [--glpsol PATH] [--keep DIR]\n",
                 why.c_str());
    std::exit(2);
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--cities")
            o.cities = std::stoul(value());
        else if (a == "--classes")
            o.classes = std::stoul(value());
        else if (a == "--seed")
            o.seed = std::stoull(value());
        else if (a == "--region")
            o.region = true;
        else if (a == "--reps")
            o.reps = std::stoi(value());
        else if (a == "--goal")
            o.goal = std::stod(value());
        else if (a == "--eqm")
            o.eqm = value();
        else if (a == "--glpsol")
            o.glpsol = value();
        else if (a == "--keep")
            o.keep = value();
        else
            usage("unknown argument " + a);
    }
    if (o.eqm.empty()) usage("--eqm is required");
    if (o.region && o.cities > eqm::region_city_count) usage("--region has 14 cities at most");
    if (o.cities < 2 || o.classes < 1 || o.reps < 1) usage("sizes must be positive");
    return o;
}

/// Road time in whole minutes for a distance in km, as region.hpp estimates it.
eqm::micros road_minutes(double km) {
    return std::lround(km * eqm::road_factor / eqm::road_speed_kmh * 60.0) * eqm::micros_per_unit;
}

eqm::allocation_input make_instance(const options& o) {
    std::mt19937_64 rng(o.seed);
    std::vector<std::string> cities, classes;
    for (std::size_t i = 0; i < o.cities; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "c%03zu", i);
        cities.emplace_back(o.region ? std::string(eqm::region_cities[i].code) : name);
    }
    for (std::size_t k = 0; k < o.classes; ++k) {
        char name[32];
        std::snprintf(name, sizeof name, "class%02zu", k);
        classes.emplace_back(name);
    }
    auto in = eqm::allocation_input::empty(cities, classes);
    std::uniform_real_distribution<double> km(0, 700);
    std::vector<std::pair<double, double>> at(o.cities);
    for (auto& p : at) p = {km(rng), km(rng)};
    const std::size_t n = o.cities;
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            if (i == j) continue;
            in.travel[i * n + j] =
                o.region ? eqm::road_time(eqm::region_cities[i], eqm::region_cities[j]).count() *
                               eqm::micros_per_unit
                         : road_minutes(
                               std::hypot(at[i].first - at[j].first, at[i].second - at[j].second));
        }
    }
    const auto uniform = [&](int lo, int hi) {
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    };
    for (auto& s : in.stock) s = uniform(0, 12);
    for (auto& d : in.demand) {
        d[eqm::demand_kind::reserved] = uniform(0, 4) < 2 ? 0 : uniform(1, 3);
        d[eqm::demand_kind::quota] = uniform(0, 6);
        d[eqm::demand_kind::forecast] = uniform(0, 4);
    }
    return in;
}

struct process_run {
    int status = -1;
    double seconds = 0;      ///< wall clock
    double cpu_seconds = 0;  ///< user + system, of the process alone
};

/// Runs argv to completion with stdout and stderr in files; wall time of the whole process.
process_run run_process(const std::vector<std::string>& argv, const fs::path& out,
                        const fs::path& err) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const auto start = clock_type::now();
    const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    process_run r;
    r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    r.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The optimiser's network sizes (= the LP's columns and rows with candidate moves).
struct lp_size {
    std::size_t moves = 0, unmet = 0, rows = 0;
};

lp_size size_of(const eqm::allocation_input& in) {
    lp_size s;
    const std::size_t n = in.city_count();
    for (std::size_t k = 0; k < in.class_count(); ++k) {
        for (std::size_t i = 0; i < n; ++i) {
            const bool source = in.spare(i, k) > 0;
            bool any = false;
            for (std::size_t j = 0; source && j < n; ++j) {
                if (i == j || in.demand_of(j, k).total() == 0) continue;
                ++s.moves;
                any = true;
            }
            s.rows += any ? 1 : 0;
            const auto& d = in.demand_of(i, k);
            s.rows += d.total() > 0 ? 1 : 0;
            for (const auto kind : eqm::demand_kinds) s.unmet += d[kind] > 0 ? 1 : 0;
        }
    }
    return s;
}

double cpu_now() {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

struct solve_time {
    double seconds = 0;      ///< median wall clock
    double cpu_seconds = 0;  ///< median CPU
    double total_cost = 0;
};

solve_time median_solve(const eqm::allocation_input& in, int reps) {
    std::vector<double> wall, cpu;
    solve_time out;
    for (int r = 0; r < reps; ++r) {
        const auto start = clock_type::now();
        const double cpu_start = cpu_now();
        const auto plan = eqm::allocation::solve(in);
        cpu.push_back(cpu_now() - cpu_start);
        wall.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
        if (!plan) throw std::runtime_error("solve: " + plan.error().describe());
        out.total_cost = plan->total_cost;
    }
    std::sort(wall.begin(), wall.end());
    std::sort(cpu.begin(), cpu.end());
    out.seconds = wall[wall.size() / 2];
    out.cpu_seconds = cpu[cpu.size() / 2];
    return out;
}

/// glpsol's own "Time used:   12.3 secs" (its solver alone), or -1.
double glpsol_time_used(const std::string& log) {
    const auto at = log.rfind("Time used:");
    if (at == std::string::npos) return -1;
    return std::strtod(log.c_str() + at + 10, nullptr);
}

/// The scratch folder, removed on every exit path unless --keep names it.
class scratch {
  public:
    explicit scratch(const std::string& keep)
        : path_(keep.empty()
                    ? fs::temp_directory_path() / ("eqm-plan-bench-" + std::to_string(::getpid()))
                    : fs::path(keep)),
          keep_(!keep.empty()) {
        fs::create_directories(path_);
    }
    ~scratch() {
        std::error_code ec;
        if (!keep_) fs::remove_all(path_, ec);
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    fs::path operator/(const std::string& name) const { return path_ / name; }

  private:
    fs::path path_;
    bool keep_;
};

bool same(double a, double b) {
    return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::max(std::fabs(a), std::fabs(b)));
}

}  // namespace

int main(int argc, char** argv) try {
    const auto o = parse_options(argc, argv);
    const scratch dir(o.keep);
    const auto in = make_instance(o);
    const auto size = size_of(in);
    std::printf(
        "allocation_plan: %zu cities x %zu classes (%s, seed %llu), full %zux%zu travel "
        "matrix; network/LP: %zu move + %zu unmet columns, %zu rows\n",
        o.cities, o.classes, o.region ? "the region's cities" : "synthetic cities",
        static_cast<unsigned long long>(o.seed), o.cities, o.cities, size.moves, size.unmet,
        size.rows);
    std::fflush(stdout);

    const auto input_file = dir / "input.json", lp_file = dir / "plan.lp";
    std::ofstream(input_file) << eqm::to_json(in).dump() << '\n';
    {
        std::ofstream lp(lp_file);
        if (!eqm::allocation::write_cplex_lp(in, lp, eqm::allocation::lp_columns::candidate_moves))
            throw std::runtime_error("cannot write the LP");
    }
    std::printf("  files: input %.1f MB, LP %.1f MB\n",
                static_cast<double>(fs::file_size(input_file)) / 1e6,
                static_cast<double>(fs::file_size(lp_file)) / 1e6);

    const auto solved = median_solve(in, o.reps);
    std::printf("  %-44s %9.4f s wall %9.4f s CPU   total_cost %.10g\n",
                ("eqm_allocation in process (median of " + std::to_string(o.reps) + "):").c_str(),
                solved.seconds, solved.cpu_seconds, solved.total_cost);
    std::fflush(stdout);

    const auto cli = run_process({o.eqm, "plan", "--any-names", "--compact", input_file.string()},
                                 dir / "plan.json", dir / "plan.err");
    if (cli.status != 0)
        throw std::runtime_error("eqm plan failed: " + read_text(dir / "plan.err"));
    const double cli_cost = nlohmann::json::parse(read_text(dir / "plan.json"))["total_cost"];
    std::printf("  %-44s %9.4f s wall %9.4f s CPU   total_cost %.10g\n",
                "eqm plan FILE, whole process:", cli.seconds, cli.cpu_seconds, cli_cost);
    std::printf("  glpsol --dual --lp FILE, whole process: running on %zu columns ...\n",
                size.moves + size.unmet);
    std::fflush(stdout);

    const auto glp = run_process(
        {o.glpsol, "--dual", "--lp", lp_file.string(), "-w", (dir / "plan.sol").string()},
        dir / "glpsol.log", dir / "glpsol.err");
    if (glp.status != 0)
        throw std::runtime_error("glpsol failed: " + read_text(dir / "glpsol.log"));
    const auto optimum = eqm::allocation::read_glpk_objective(read_text(dir / "plan.sol"));
    if (!optimum) throw std::runtime_error("glpsol: " + optimum.error().describe());
    std::printf("  %-44s %9.4f s wall %9.4f s CPU   optimum    %.10g\n",
                "glpsol --dual --lp FILE, whole process:", glp.seconds, glp.cpu_seconds, *optimum);
    std::printf("  %-44s %9.1f s (glpsol's own \"Time used\", after reading the LP)\n", "",
                glpsol_time_used(read_text(dir / "glpsol.log")));

    const bool equal = same(solved.total_cost, *optimum) && same(cli_cost, *optimum);
    const double ratio = glp.seconds / cli.seconds;
    std::printf("  costs equal: %s\n", equal ? "yes" : "NO");
    const char* verdict = o.goal <= 0       ? ""
                          : ratio >= o.goal ? "   (goal met)"
                                            : "   (goal NOT met)";
    std::printf("  ratio, wall clock, whole glpsol process / whole eqm plan process: %8.1fx%s\n",
                ratio, verdict);
    std::printf("  ratio, CPU time,   whole glpsol process / whole eqm plan process: %8.1fx\n",
                glp.cpu_seconds / cli.cpu_seconds);
    std::printf("  ratio, wall clock, whole glpsol process / in-process solve:       %8.1fx\n",
                glp.seconds / solved.seconds);
    return equal && (o.goal <= 0 || ratio >= o.goal) ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "plan_bench: %s\n", e.what());
    return 1;
}
