#pragma once
/// The fleet simulation, without I/O: a region's devices, docks and officers advanced one
/// simulated minute at a time from a seed. Every random draw comes from a per-device stream
/// (seeded from the run seed and the device id), and the clock is the simulated clock, so the
/// same seed, start and fleet always give the same sequence of messages: eqm-sim's dry run and
/// its live run produce the same events until a dock refuses a check-out.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/vocabulary.hpp"

namespace eqm::sim {

/// Simulated time per step.
inline constexpr std::chrono::minutes step_length{1};
/// Steps between two telemetry messages of one device.
inline constexpr int telemetry_every_steps = 5;
/// Battery level under which a device emits `low_battery`.
inline constexpr double low_battery_threshold_pct = 15.0;

/// A deterministic pseudo-random stream (xoshiro256**, seeded by splitmix64). Unlike the
/// standard distributions, its output is the same with every compiler and library.
class rng {
  public:
    explicit rng(std::uint64_t seed = 0);
    std::uint64_t next();
    /// Uniform in [0, 1).
    double uniform();
    /// Uniform in [lo, hi).
    double range(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Uniform integer in [0, n); 0 when n is 0.
    std::uint64_t below(std::uint64_t n);
    /// True with probability p.
    bool chance(double p) { return uniform() < p; }

  private:
    std::uint64_t s_[4];
};

/// The seed of a named stream within a run: distinct names give independent streams.
std::uint64_t stream_seed(std::uint64_t run_seed, std::string_view name);

/// The region's cities come from libs/domain (eqm/domain/region.hpp).
using eqm::city_info;
using eqm::find_city;

/// How many of each thing a city has.
struct fleet_size {
    int body_cameras = 60;
    int drones = 6;
    int analyzers = 12;
    int docks = 4;
    int officers = 0;  ///< 0: one per body camera
    bool operator==(const fleet_size&) const = default;
};

/// Fleet sizes: defaults plus per-city overrides. JSON form (the `--fleet FILE`):
/// `{"defaults": {"body_cameras": 60, ...}, "cities": {"450100": {"drones": 10}}}`;
/// any key may be left out.
struct fleet_config {
    fleet_size defaults;
    std::map<std::string, fleet_size> per_city;
    fleet_size for_city(const std::string& code) const;
};
/// Parses the JSON form; errors name the field (unknown keys, negative or too large counts).
result<fleet_config> parse_fleet_config(const nlohmann::json& j);

/// What a message is.
enum class message_kind { telemetry, device_event, dock_event };

/// One payload the fleet wants to send. Events carry no event_id: the SDK assigns it.
struct message {
    message_kind kind{};
    std::string sender_id;  ///< device or dock id
    std::string city;       ///< city code (picks the broker)
    nlohmann::json body;    ///< the payload, with ts
};

/// A device the runner must open a session for.
struct device_spec {
    std::string id;
    device_class cls{};
    std::string model;
    std::string fw;
    std::string city;
};

/// A person with a badge.
struct officer {
    std::string id;
    std::string badge;
    std::string city;
};

/// Counters for the status line.
struct model_stats {
    std::uint64_t telemetry = 0;
    std::uint64_t device_events = 0;
    std::uint64_t dock_events = 0;
    std::uint64_t checkouts = 0;
    std::uint64_t returns = 0;
    std::uint64_t late_returns = 0;
    std::uint64_t lost = 0;
    std::uint64_t dropouts = 0;
    std::uint64_t unauthorised_removals = 0;
    std::uint64_t refused = 0;
    std::uint64_t locked_left_in_dock = 0;  ///< planned check-outs skipped: the device is locked
    std::uint64_t located = 0;              ///< positions reported on a locate command
};

/// The region's fleet. Not thread-safe; pure apart from its own state.
class fleet_model {
  public:
    /// Builds the fleet of `cities` (codes, in the order given). `start` is the simulated
    /// clock's first instant.
    fleet_model(const std::vector<std::string>& cities, const fleet_config& config,
                std::uint64_t seed, clock_ms start);
    ~fleet_model();
    fleet_model(fleet_model&&) noexcept;
    fleet_model& operator=(fleet_model&&) noexcept;

    /// Every device and dock, in a stable order.
    const std::vector<device_spec>& devices() const noexcept;
    /// Every officer.
    const std::vector<officer>& officers() const noexcept;
    /// The simulated clock.
    clock_ms now() const noexcept;
    /// Advances the clock by step_length and returns what the fleet sent in that minute, in a
    /// deterministic order.
    std::vector<message> step();
    /// The gateway refused a check-out at a dock: the latch never opened, so the device is
    /// back in its slot and its officer goes out without it. Unknown ids are ignored.
    void checkout_refused(std::string_view dock_id, std::string_view device_id);
    /// A command from the gateway (`eqm/v1/dev/{id}/cmd`): `lock` keeps a docked device in its
    /// dock (no officer takes it out) until `unlock`; `locate` makes the device report its
    /// position (a telemetry message with gps) in the next step; `config` changes nothing here.
    /// Unknown ids and docks are ignored.
    void apply_command(std::string_view device_id, device_cmd_type type);
    /// Counters so far.
    const model_stats& stats() const noexcept;

    struct state;

  private:
    std::unique_ptr<state> state_;
};

}  // namespace eqm::sim
