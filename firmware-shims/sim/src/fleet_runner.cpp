// The live and dry runs of the fleet: steps the model on a (possibly accelerated) clock and
// hands each message to the device's SDK session, or to files in a dry run.
#include "fleet_runner.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

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
constexpr auto status_interval_tty = 250ms;
constexpr auto status_interval_plain = 10s;
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

std::string topic_of(const message& m, device_class klass) {
    switch (m.kind) {
        case message_kind::telemetry:
            return device::telemetry_topic(m.sender_id);
        case message_kind::device_event:
            return device::event_topic(m.sender_id, klass);
        case message_kind::dock_event:
            return device::event_topic(m.sender_id, device_class::dock);
    }
    return {};
}

std::string local_clock(clock_ms t, clock_ms start) {
    const auto local = t + 8h;
    const auto day = std::chrono::floor<std::chrono::days>(local);
    const std::chrono::hh_mm_ss hms{std::chrono::duration_cast<std::chrono::minutes>(local - day)};
    const auto days_in = std::chrono::duration_cast<std::chrono::days>(t - start).count() + 1;
    char buf[64];
    std::snprintf(buf, sizeof buf, "day %lld %02d:%02d+08", static_cast<long long>(days_in),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
    return buf;
}

/// What a dock is waiting to hear about: the check-outs it asked for.
struct pending_checkout {
    std::string dock_id;
    std::string device_id;
    bool checkout = false;  ///< a slot_remove with a badge: the dock beeps or refuses on the ack
};

}  // namespace

int run_fleet(const fleet_run_options& o) {
    std::vector<std::string> cities = o.cities;
    std::map<std::string, std::string> broker_of;
    for (const auto& [code, uri] : o.brokers) {
        if (!broker_of.contains(code)) cities.push_back(code);
        broker_of[code] = uri;
    }
    const clock_ms start = o.start     ? *o.start
                           : o.dry_run ? clock_ms{dry_run_default_start}
                                       : std::chrono::time_point_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now());
    fleet_model model(cities, o.fleet, o.seed, start);

    jsonl_writer capture, events_out;
    if (!capture.open(o.capture) || !events_out.open(o.events_out)) {
        std::cerr << "eqm-sim: cannot write " << (capture.enabled() ? o.events_out : o.capture)
                  << '\n';
        return 1;
    }
    std::mutex log_mutex;
    auto log = [&](std::string_view line) {
        std::lock_guard lock(log_mutex);
        std::cerr << (isatty(STDERR_FILENO) && !o.quiet ? "\r\x1b[K" : "") << line << '\n';
    };

    std::map<std::string, device_class> class_of;
    for (const auto& d : model.devices()) class_of[d.id] = d.klass;

    // Live run: one SDK session per device and dock. A full region is over a thousand sockets
    // plus outbox files: lift the soft descriptor limit to the hard one.
    if (rlimit lim{};
        !o.dry_run && ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    std::map<std::string, std::unique_ptr<device::device_session>> sessions;
    std::mutex refusals_mutex;
    std::map<std::string, pending_checkout> awaiting;  // event_id of a dock event -> what it asked
    // Acks of dock events that arrived before emit_event() returned their id. The main loop must
    // not hold refusals_mutex across emit_event(): that publishes through Paho, whose receive
    // thread holds Paho's lock while it runs the ack handler, which takes refusals_mutex.
    std::map<std::string, std::string> early_acks;  // event_id -> result
    std::vector<pending_checkout> refusals;
    // The dock's answer to a check-out request: beep and open, or refuse and keep the latch.
    const auto settle = [&](const std::string& dock_id, const std::string& event_id,
                            const std::string& result, const pending_checkout& p) {
        if (result == "ok") {
            log(dock_id + ": beep (" + event_id + " ok: latch opens for " + p.device_id + ")");
        } else {
            log(dock_id + ": refuse (" + event_id + " " + result + ": " + p.device_id +
                " stays locked)");
            refusals.push_back(p);
        }
    };
    std::atomic<std::uint64_t> acked{0}, rejected{0};
    if (!o.dry_run) {
        for (const auto& d : model.devices()) {
            device::device_options opt;
            opt.id = d.id;
            opt.klass = d.klass;
            opt.model = d.model;
            opt.fw = d.fw;
            opt.broker_uri = broker_of.at(d.city);
            if (const auto own = o.device_passwords.find(d.id); own != o.device_passwords.end()) {
                opt.username = d.id;
                opt.password = own->second;
            } else {
                opt.username = o.auth.user;
                opt.password = o.auth.password;
            }
            opt.state_dir = o.state_dir / d.city;
            opt.log = log;
            if (capture.enabled())
                opt.capture = [&capture](std::string_view t, std::string_view p) {
                    capture.write(t, p);
                };
            auto s = device::device_session::open(std::move(opt));
            if (!s) {
                std::cerr << "eqm-sim: " << d.id << ": " << s.error().describe() << '\n';
                return 1;
            }
            const bool is_dock = d.klass == device_class::dock;
            (*s)->set_ack_handler(
                [&, is_dock, id = d.id](const std::string& event_id, const std::string& result) {
                    (result == "ok" ? acked : rejected)++;
                    if (!is_dock) return;
                    std::lock_guard lock(refusals_mutex);
                    auto it = awaiting.find(event_id);
                    if (it == awaiting.end()) {
                        early_acks[event_id] = result;
                        return;
                    }
                    if (it->second.checkout) settle(id, event_id, result, it->second);
                    awaiting.erase(it);
                });
            (*s)->set_command_handler([&log, id = d.id](const nlohmann::json& cmd) {
                log(id + ": command " + cmd["type"].dump() + " " + cmd["cmd_id"].dump() +
                    (cmd["type"] == "locate" ? " (blinking and beeping)" : ""));
            });
            sessions[d.id] = std::move(*s);
        }
    } else if (capture.enabled()) {
        // A dry run still shows what each device would say when it connects.
        for (const auto& d : model.devices())
            capture.write(device::state_topic(d.id), nlohmann::json{{"ts", format_timestamp(start)},
                                                                    {"online", true},
                                                                    {"class", to_string(d.klass)},
                                                                    {"model", d.model},
                                                                    {"fw", d.fw},
                                                                    {"bd_seq", 0}}
                                                         .dump());
    }

    if (!o.dry_run) {
        // Start the clock once the fleet is on line, so the first minutes are not sent into
        // the void; a broker that is down only delays the start (devices keep retrying).
        const auto until = std::chrono::steady_clock::now() + connect_grace;
        auto online = [&] {
            return std::all_of(sessions.begin(), sessions.end(),
                               [](const auto& kv) { return kv.second->connected(); });
        };
        while (!online() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(20ms);
        if (!online())
            log("eqm-sim: not every device is connected yet; starting anyway (they keep retrying)");
    }

    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);

    const auto total_steps = static_cast<std::uint64_t>(o.days * 24 * 60);
    const auto wall_start = std::chrono::steady_clock::now();
    const bool tty = isatty(STDERR_FILENO) != 0;
    auto last_status = wall_start - 1h;
    std::map<std::string, std::uint64_t> dry_counters;
    std::uint64_t emitted = 0;

    auto status = [&](bool final_line) {
        std::size_t online = 0, pending = 0;
        for (const auto& [id, s] : sessions) {
            online += s->connected() ? 1 : 0;
            pending += s->pending_events();
        }
        const auto& st = model.stats();
        char buf[320];
        std::snprintf(
            buf, sizeof buf,
            "eqm-sim %s | %zu/%zu online | telemetry %llu | events %llu (acked %llu, refused %llu, "
            "pending %zu) | "
            "out %llu back %llu late %llu lost %llu",
            local_clock(model.now(), start).c_str(), o.dry_run ? model.devices().size() : online,
            model.devices().size(), static_cast<unsigned long long>(st.telemetry),
            static_cast<unsigned long long>(emitted), static_cast<unsigned long long>(acked.load()),
            static_cast<unsigned long long>(rejected.load()), pending,
            static_cast<unsigned long long>(st.checkouts),
            static_cast<unsigned long long>(st.returns),
            static_cast<unsigned long long>(st.late_returns),
            static_cast<unsigned long long>(st.lost));
        std::lock_guard lock(log_mutex);
        if (tty)
            std::cerr << "\r\x1b[K" << buf << (final_line ? "\n" : "") << std::flush;
        else
            std::cerr << buf << '\n';
    };

    for (std::uint64_t i = 0; i < total_steps && !stop_requested; ++i) {
        if (!o.dry_run && o.speed > 0) {
            const auto target =
                wall_start +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(60.0 * static_cast<double>(i) / o.speed));
            std::this_thread::sleep_until(target);
            std::vector<pending_checkout> refused;
            {
                std::lock_guard lock(refusals_mutex);
                refused.swap(refusals);
            }
            for (const auto& r : refused) model.checkout_refused(r.dock_id, r.device_id);
        }
        for (auto& m : model.step()) {
            const device_class klass = class_of.at(m.sender_id);
            if (o.dry_run) {
                if (m.kind != message_kind::telemetry) {
                    // The SDK's id scheme, {id}-{boot}-{n}, with boot 0 for a dry run.
                    m.body["event_id"] =
                        m.sender_id + "-0-" + std::to_string(++dry_counters[m.sender_id]);
                    ++emitted;
                }
                const auto topic = topic_of(m, klass);
                const auto text = m.body.dump();
                capture.write(topic, text);
                if (m.kind != message_kind::telemetry) events_out.write(topic, text);
                continue;
            }
            auto& s = *sessions.at(m.sender_id);
            if (m.kind == message_kind::telemetry) {
                (void)s.publish_telemetry(std::move(m.body));
                continue;
            }
            const bool checkout = m.kind == message_kind::dock_event &&
                                  m.body["type"] == "slot_remove" && m.body.contains("badge");
            const auto device_id =
                m.kind == message_kind::dock_event ? m.body["device_id"].get<std::string>() : "";
            auto id = s.emit_event(m.body);
            if (!id) {
                log(m.sender_id + ": event not stored: " + id.error().describe());
                continue;
            }
            ++emitted;
            if (klass == device_class::dock) {
                std::lock_guard lock(refusals_mutex);
                const pending_checkout p{m.sender_id, device_id, checkout};
                if (auto early = early_acks.find(*id); early != early_acks.end()) {
                    if (checkout) settle(m.sender_id, *id, early->second, p);
                    early_acks.erase(early);
                } else {
                    awaiting[*id] = p;
                }
            }
            m.body["event_id"] = *id;
            events_out.write(topic_of(m, klass), m.body.dump());
        }
        const auto now = std::chrono::steady_clock::now();
        if (!o.quiet && now - last_status >= (tty ? status_interval_tty : status_interval_plain)) {
            last_status = now;
            status(false);
        }
    }
    if (!o.dry_run) {
        // Give the gateway a moment for the last acks; whatever is left stays in the outboxes.
        const auto deadline = std::chrono::steady_clock::now() + final_ack_wait;
        auto pending = [&] {
            std::size_t n = 0;
            for (const auto& [id, s] : sessions) n += s->pending_events();
            return n;
        };
        while (pending() > 0 && std::chrono::steady_clock::now() < deadline && !stop_requested)
            std::this_thread::sleep_for(50ms);
    }
    if (!o.quiet) status(true);
    capture.flush();
    events_out.flush();
    sessions.clear();
    return 0;
}

}  // namespace eqm::sim
