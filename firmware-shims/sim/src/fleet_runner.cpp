// The live and dry runs of the fleet: steps the model on a (possibly accelerated) clock and
// hands each message to the device's SDK session, or to files in a dry run. The gateway's
// answers come back on Paho's thread: docks' check-out answers and device commands are queued
// there and applied to the model between two steps.
#include "fleet_runner.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "console.hpp"
#include "eqm/device/device.hpp"

namespace eqm::sim {
namespace {

using namespace std::chrono_literals;

std::atomic<bool> stop_requested{false};
extern "C" void on_stop_signal(int) {
    stop_requested = true;
}

/// Default start of a dry run: Monday 2026-03-02 07:00 in Guangxi (+08), before check-outs.
constexpr auto dry_run_default_start =
    std::chrono::sys_days{std::chrono::year{2026} / 3 / 2} + 23h - 24h;
constexpr auto status_interval_in_place = 250ms;
constexpr auto status_interval_logged = 10s;
constexpr auto final_ack_wait = 3s;
constexpr auto connect_grace = 10s;

/// A thread-safe JSON-lines writer of {topic, payload} objects.
class jsonl_writer {
  public:
    bool open(const std::filesystem::path& p) {
        if (p.empty()) return true;
        out_.open(p, std::ios::trunc);
        return static_cast<bool>(out_);
    }
    bool enabled() const { return out_.is_open(); }
    void write(std::string_view topic, std::string_view payload) {
        if (!out_.is_open()) return;
        auto parsed = nlohmann::json::parse(payload, nullptr, false);
        const nlohmann::json line{
            {"topic", topic},
            {"payload", parsed.is_discarded() ? nlohmann::json(payload) : parsed}};
        std::lock_guard lock(mutex_);
        out_ << line.dump() << '\n';
    }
    void flush() {
        std::lock_guard lock(mutex_);
        if (out_.is_open()) out_.flush();
    }

  private:
    std::mutex mutex_;
    std::ofstream out_;
};

std::string topic_of(const message& m, device_class cls) {
    switch (m.kind) {
        case message_kind::telemetry:
            return device::telemetry_topic(m.sender_id);
        case message_kind::device_event:
            return device::event_topic(m.sender_id, cls);
        case message_kind::dock_event:
            return device::event_topic(m.sender_id, device_class::dock);
    }
    return {};
}

/// `day=1 time=09:31+08`: the simulated local time and the day of the run.
std::string local_clock(clock_ms t, clock_ms start) {
    const auto local = t + 8h;
    const auto day = std::chrono::floor<std::chrono::days>(local);
    const std::chrono::hh_mm_ss hms{std::chrono::duration_cast<std::chrono::minutes>(local - day)};
    const auto days_in = std::chrono::duration_cast<std::chrono::days>(t - start).count() + 1;
    char buf[64];
    std::snprintf(buf, sizeof buf, "day=%lld time=%02d:%02d+08", static_cast<long long>(days_in),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
    return buf;
}

/// What a dock asked with one event.
struct dock_request {
    std::string dock_id;
    std::string device_id;
    bool checkout = false;  ///< a slot_remove with a badge: the dock beeps or refuses on the ack
};

/// The docks' side of the gateway's final answers. An ack may arrive (on Paho's thread) before
/// emit_event() has returned its event id, so both orders are handled. The main loop never
/// holds mutex_ across emit_event(): that publishes through Paho, whose receive thread holds
/// Paho's lock while it runs the ack handler, which takes mutex_.
class dock_answers {
  public:
    explicit dock_answers(console& out) : out_(out) {}

    /// The dock sent `event_id` asking `r`.
    void sent(const std::string& event_id, const dock_request& r) {
        std::lock_guard lock(mutex_);
        if (auto early = early_.find(event_id); early != early_.end()) {
            settle(event_id, early->second, r);
            early_.erase(early);
        } else {
            awaiting_[event_id] = r;
        }
    }
    /// The gateway's final answer to a dock's event.
    void answered(const std::string& event_id, const std::string& result) {
        std::lock_guard lock(mutex_);
        auto it = awaiting_.find(event_id);
        if (it == awaiting_.end()) {
            early_[event_id] = result;
            return;
        }
        settle(event_id, result, it->second);
        awaiting_.erase(it);
    }
    /// The check-outs refused since the last call.
    std::vector<dock_request> take_refusals() {
        std::lock_guard lock(mutex_);
        return std::exchange(refusals_, {});
    }

  private:
    /// The dock's answer to a check-out request: beep and open, or refuse and keep the latch.
    void settle(const std::string& event_id, const std::string& result, const dock_request& r) {
        if (!r.checkout) return;
        const std::string fields =
            "dock=" + log_value(r.dock_id) + " event=" + log_value(event_id) +
            " device=" + log_value(r.device_id) + " result=" + log_value(result);
        if (result == "ok") {
            out_.log(log_level::info, "dock", "beep " + fields + " latch=open");
        } else {
            out_.log(log_level::info, "dock", "refuse " + fields + " latch=closed");
            refusals_.push_back(r);
        }
    }

    console& out_;
    std::mutex mutex_;
    std::map<std::string, dock_request> awaiting_;  ///< event_id -> what it asked
    std::map<std::string, std::string> early_;      ///< event_id -> result, ack before sent()
    std::vector<dock_request> refusals_;
};

/// Commands from the gateway, received on Paho's thread, applied to the model between steps.
class command_inbox {
  public:
    void push(std::string device_id, device_cmd_type type) {
        std::lock_guard lock(mutex_);
        commands_.emplace_back(std::move(device_id), type);
    }
    std::vector<std::pair<std::string, device_cmd_type>> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(commands_, {});
    }

  private:
    std::mutex mutex_;
    std::vector<std::pair<std::string, device_cmd_type>> commands_;
};

/// What a simulated device does on a command, for its log line.
std::string_view command_action(device_cmd_type type) {
    switch (type) {
        case device_cmd_type::locate:
            return "blink_beep_report_position";
        case device_cmd_type::lock:
            return "stay_in_dock";
        case device_cmd_type::unlock:
            return "release";
        case device_cmd_type::config:
            return "none";
    }
    return "none";
}

/// One run of eqm-sim, live or dry.
class fleet_run {
  public:
    explicit fleet_run(const fleet_run_options& o)
        : o_(o), out_(isatty(STDERR_FILENO) != 0 && !o.quiet), answers_(out_) {}

    int run() {
        const auto cities = pick_cities();
        start_ = o_.start     ? *o_.start
                 : o_.dry_run ? clock_ms{dry_run_default_start}
                              : std::chrono::time_point_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now());
        model_ = std::make_unique<fleet_model>(cities, o_.fleet, o_.seed, start_);
        for (const auto& d : model_->devices()) class_of_[d.id] = d.cls;
        if (!capture_.open(o_.capture) || !events_out_.open(o_.events_out)) {
            out_.log(log_level::error, "sim",
                     "cannot_write file=" +
                         log_value((capture_.enabled() ? o_.events_out : o_.capture).string()));
            return 1;
        }
        if (o_.dry_run) {
            capture_births();
        } else {
            if (!open_sessions()) return 1;
            wait_online();
        }
        std::signal(SIGINT, on_stop_signal);
        std::signal(SIGTERM, on_stop_signal);
        play();
        if (!o_.dry_run) wait_final_acks();
        if (!o_.quiet) show_status(true);
        capture_.flush();
        events_out_.flush();
        sessions_.clear();
        return 0;
    }

  private:
    /// The cities of --city, then those of --broker (the last URI of a city wins).
    std::vector<std::string> pick_cities() {
        std::vector<std::string> cities = o_.cities;
        for (const auto& [code, uri] : o_.brokers) {
            if (!broker_of_.contains(code)) cities.push_back(code);
            broker_of_[code] = uri;
        }
        return cities;
    }

    // ---- live sessions -------------------------------------------------------------------

    /// One SDK session per device and dock. A full region is over a thousand sockets plus
    /// outbox files: the soft descriptor limit is lifted to the hard one first.
    bool open_sessions() {
        if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
            lim.rlim_cur = lim.rlim_max;
            ::setrlimit(RLIMIT_NOFILE, &lim);
        }
        for (const auto& d : model_->devices()) {
            auto s = device::device_session::open(session_options(d));
            if (!s) {
                out_.log(log_level::error, "sim",
                         "session_failed device=" + log_value(d.id) +
                             " error=" + log_value(s.error().describe()));
                return false;
            }
            wire_answers(**s, d);
            sessions_[d.id] = std::move(*s);
        }
        return true;
    }

    device::device_options session_options(const device_spec& d) {
        device::device_options opt;
        opt.id = d.id;
        opt.cls = d.cls;
        opt.model = d.model;
        opt.fw = d.fw;
        opt.broker_uri = broker_of_.at(d.city);
        if (const auto own = o_.device_passwords.find(d.id); own != o_.device_passwords.end()) {
            opt.username = d.id;  // a deployed device logs in as itself
            opt.password = own->second;
        } else {
            opt.username = o_.auth.user;
            opt.password = o_.auth.password;
        }
        opt.state_dir = o_.state_dir / d.city;
        opt.log = [this](log_level level, std::string_view line) {
            out_.log(level, "device", line);
        };
        if (capture_.enabled())
            opt.capture = [this](std::string_view t, std::string_view p) { capture_.write(t, p); };
        return opt;
    }

    /// Acks and commands run on Paho's thread: count, queue, and leave the model alone.
    void wire_answers(device::device_session& s, const device_spec& d) {
        const bool is_dock = d.cls == device_class::dock;
        s.set_ack_handler([this, is_dock](const std::string& event_id, const std::string& result) {
            (result == "ok" ? acked_ : rejected_)++;
            if (is_dock) answers_.answered(event_id, result);
        });
        s.set_command_handler([this, id = d.id](const nlohmann::json& cmd) {
            // The SDK has checked the command against the contract: the type is one of ours.
            const auto type = parse_device_cmd_type(cmd["type"].get<std::string>());
            if (!type) return;
            out_.log(log_level::info, "device",
                     "command device=" + log_value(id) + " type=" + cmd["type"].get<std::string>() +
                         " cmd_id=" + log_value(cmd["cmd_id"].get<std::string>()) +
                         " action=" + std::string(command_action(*type)));
            commands_.push(id, *type);
        });
    }

    /// Starts the clock once the fleet is on line, so the first minutes are not sent into the
    /// void; a broker that is down only delays the start (devices keep retrying).
    void wait_online() {
        const auto until = std::chrono::steady_clock::now() + connect_grace;
        auto online = [&] {
            return std::all_of(sessions_.begin(), sessions_.end(),
                               [](const auto& kv) { return kv.second->connected(); });
        };
        while (!online() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(20ms);
        if (!online())
            out_.log(log_level::warn, "sim",
                     "starting_anyway reason=\"not every device is connected yet\"");
    }

    /// A dry run still shows what each device would say when it connects.
    void capture_births() {
        if (!capture_.enabled()) return;
        for (const auto& d : model_->devices())
            capture_.write(device::state_topic(d.id),
                           nlohmann::json{{"ts", format_timestamp(start_)},
                                          {"online", true},
                                          {"class", to_string(d.cls)},
                                          {"model", d.model},
                                          {"fw", d.fw},
                                          {"bd_seq", 0}}
                               .dump());
    }

    // ---- the steps -------------------------------------------------------------------------

    void play() {
        const auto total_steps = static_cast<std::uint64_t>(o_.days * 24 * 60);
        wall_start_ = std::chrono::steady_clock::now();
        auto last_status = wall_start_ - 1h;
        const auto status_every =
            out_.in_place() ? status_interval_in_place : status_interval_logged;
        for (std::uint64_t i = 0; i < total_steps && !stop_requested; ++i) {
            if (!o_.dry_run) {
                pace(i);
                apply_answers();
            }
            for (auto& m : model_->step()) {
                if (o_.dry_run)
                    send_dry(m);
                else
                    send_live(m);
            }
            const auto now = std::chrono::steady_clock::now();
            if (!o_.quiet && now - last_status >= status_every) {
                last_status = now;
                show_status(false);
            }
        }
    }

    /// Waits until step `i` is due on the accelerated clock (speed 0: never waits).
    void pace(std::uint64_t i) const {
        if (o_.speed <= 0) return;
        std::this_thread::sleep_until(
            wall_start_ +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(60.0 * static_cast<double>(i) / o_.speed)));
    }

    /// What the gateway said since the last step: refused check-outs and device commands.
    void apply_answers() {
        for (const auto& r : answers_.take_refusals())
            model_->checkout_refused(r.dock_id, r.device_id);
        for (const auto& [id, type] : commands_.take()) model_->apply_command(id, type);
    }

    void send_dry(message& m) {
        const device_class cls = class_of_.at(m.sender_id);
        if (m.kind != message_kind::telemetry) {
            // The SDK's id scheme, {id}-{boot}-{n}, with boot 0 for a dry run.
            m.body["event_id"] = m.sender_id + "-0-" + std::to_string(++dry_counters_[m.sender_id]);
            ++emitted_;
        }
        const auto topic = topic_of(m, cls);
        const auto text = m.body.dump();
        capture_.write(topic, text);
        if (m.kind != message_kind::telemetry) events_out_.write(topic, text);
    }

    void send_live(message& m) {
        auto& s = *sessions_.at(m.sender_id);
        if (m.kind == message_kind::telemetry) {
            (void)s.publish_telemetry(std::move(m.body));
            return;
        }
        const bool dock = m.kind == message_kind::dock_event;
        const dock_request request{
            m.sender_id, dock ? m.body["device_id"].get<std::string>() : "",
            dock && m.body["type"] == "slot_remove" && m.body.contains("badge")};
        auto id = s.emit_event(m.body);
        if (!id) {
            out_.log(log_level::error, "sim",
                     "event_not_stored device=" + log_value(m.sender_id) +
                         " error=" + log_value(id.error().describe()));
            return;
        }
        ++emitted_;
        if (dock) answers_.sent(*id, request);
        m.body["event_id"] = *id;
        events_out_.write(topic_of(m, class_of_.at(m.sender_id)), m.body.dump());
    }

    // ---- the end -------------------------------------------------------------------------

    std::size_t pending_events() const {
        std::size_t n = 0;
        for (const auto& [id, s] : sessions_) n += s->pending_events();
        return n;
    }

    /// Gives the gateway a moment for the last acks; whatever is left stays in the outboxes.
    void wait_final_acks() const {
        const auto deadline = std::chrono::steady_clock::now() + final_ack_wait;
        while (pending_events() > 0 && std::chrono::steady_clock::now() < deadline &&
               !stop_requested)
            std::this_thread::sleep_for(50ms);
    }

    void show_status(bool final_line) {
        std::size_t online = 0;
        for (const auto& [id, s] : sessions_) online += s->connected() ? 1 : 0;
        const auto& st = model_->stats();
        const auto n = [](auto v) { return std::to_string(v); };
        out_.status(local_clock(model_->now(), start_) +
                        " online=" + n(o_.dry_run ? model_->devices().size() : online) + "/" +
                        n(model_->devices().size()) + " telemetry=" + n(st.telemetry) +
                        " events=" + n(emitted_) + " acked=" + n(acked_.load()) +
                        " refused=" + n(rejected_.load()) + " pending=" + n(pending_events()) +
                        " out=" + n(st.checkouts) + " back=" + n(st.returns) +
                        " late=" + n(st.late_returns) + " lost=" + n(st.lost),
                    final_line);
    }

    const fleet_run_options& o_;
    console out_;
    clock_ms start_{};
    std::unique_ptr<fleet_model> model_;
    std::map<std::string, std::string> broker_of_;
    std::map<std::string, device_class> class_of_;
    jsonl_writer capture_, events_out_;
    dock_answers answers_;
    command_inbox commands_;
    std::atomic<std::uint64_t> acked_{0}, rejected_{0};
    std::uint64_t emitted_ = 0;
    std::map<std::string, std::uint64_t> dry_counters_;
    std::chrono::steady_clock::time_point wall_start_;
    // Last, so they are closed first: no ack or command handler runs into a destroyed member.
    std::map<std::string, std::unique_ptr<device::device_session>> sessions_;
};

}  // namespace

int run_fleet(const fleet_run_options& options) {
    fleet_run run(options);
    return run.run();
}

}  // namespace eqm::sim
