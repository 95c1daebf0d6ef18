#include "eqm/device/device.hpp"

#include <fcntl.h>
#include <mqtt/async_client.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <unordered_map>

#include "eqm/device/outbox.hpp"
#include "eqm/domain/custody.hpp"
#include "eqm/domain/payloads.hpp"
#include "eqm/domain/time.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"
#include "timer_queue.hpp"

namespace eqm::device {
namespace {

constexpr int event_qos = 1;
constexpr auto keep_alive = std::chrono::seconds(20);
constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr auto close_wait = std::chrono::milliseconds(2000);

std::string now_ts() {
    return format_timestamp(
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

}  // namespace

std::string state_topic(std::string_view id) {
    return format_topic({topic_kind::device_state, std::string(id)});
}
std::string telemetry_topic(std::string_view id) {
    return format_topic({topic_kind::device_telemetry, std::string(id)});
}
std::string event_topic(std::string_view id, device_class cls) {
    return format_topic(
        {cls == device_class::dock ? topic_kind::dock_event : topic_kind::device_event,
         std::string(id)});
}
std::string ack_topic(std::string_view id) {
    return format_topic({topic_kind::ack, std::string(id)});
}
std::string command_topic(std::string_view id) {
    return format_topic({topic_kind::device_cmd, std::string(id)});
}

/// The session's state, shared with timer tasks (which hold it weakly) and Paho (which calls
/// the mqtt::callback and action-listener overrides on its own thread).
class device_session::impl : public mqtt::callback,
                             public mqtt::iaction_listener,
                             public std::enable_shared_from_this<device_session::impl> {
  public:
    explicit impl(device_options o) : options_(std::move(o)) {
        std::seed_seq seq{static_cast<unsigned>(std::hash<std::string>{}(options_.id)),
                          std::random_device{}()};
        jitter_.seed(seq);
        backoff_ = options_.reconnect_min;
    }

    ~impl() override {
        std::unique_ptr<mqtt::async_client> c;
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
            c = std::move(client_);
        }
        if (!c) return;
        try {
            if (c->is_connected()) {
                auto death =
                    nlohmann::json{{"ts", now_ts()}, {"online", false}, {"bd_seq", bd_seq_.load()}}
                        .dump();
                capture(state_topic(options_.id), death);
                c->publish(state_topic(options_.id), death, 1, true)->wait_for(close_wait);
                c->disconnect()->wait_for(close_wait);
            }
            c->disable_callbacks();
        } catch (...) {
            // Closing is best effort: the Will covers a connection we could not end cleanly.
        }
    }

    result<void> init() {
        std::error_code ec;
        std::filesystem::create_directories(options_.state_dir, ec);
        if (ec) return fail(errc::unavailable, "state_dir", ec.message());
        state_path_ = options_.state_dir / (options_.id + ".state");
        load_state();
        ++boot_;  // a new process run: event ids of this run never collide with earlier ones
        EQM_TRY(save_state());
        EQM_TRY_LET(box, outbox::open(options_.state_dir / (options_.id + ".outbox"),
                                      outbox_options{.durable = options_.durable}));
        outbox_ = std::move(box);
        if (outbox_->recovery().torn_lines > 0)
            log(log_level::warn, "outbox_recovered",
                "torn_lines=" + std::to_string(outbox_->recovery().torn_lines) +
                    " truncated_bytes=" + std::to_string(outbox_->recovery().truncated_bytes));
        try {
            client_ =
                std::make_unique<mqtt::async_client>(options_.broker_uri, options_.id, nullptr);
        } catch (const std::exception& e) {
            return fail(errc::bad_field, "broker_uri", e.what());
        }
        client_->set_callback(*this);
        return {};
    }

    void start() {
        connect();
        schedule_resend();
    }

    // ---- public operations -------------------------------------------------------------

    result<void> publish_telemetry(nlohmann::json body) {
        if (!body.is_object()) return fail(errc::bad_field, "telemetry", "must be a JSON object");
        {
            std::lock_guard lock(mutex_);
            if (!body.contains("seq")) body["seq"] = telemetry_seq_++;
        }
        if (!body.contains("ts")) body["ts"] = now_ts();
        const auto text = body.dump();
        const auto topic = telemetry_topic(options_.id);
        bool sent = false;
        if (connected_ && client_) {
            try {
                capture(topic, text);
                client_->publish(topic, text, 0, false);
                sent = true;
            } catch (const std::exception&) {
                sent = false;
            }
        }
        std::lock_guard lock(mutex_);
        ++(sent ? stats_.telemetry_sent : stats_.telemetry_dropped);
        return {};
    }

    result<std::string> emit_event(nlohmann::json body) {
        if (!body.is_object()) return fail(errc::bad_field, "event", "must be a JSON object");
        outbox_entry e;
        {
            std::lock_guard lock(mutex_);
            if (!body.contains("event_id")) body["event_id"] = next_event_id();
            if (!body.contains("ts")) body["ts"] = now_ts();
            if (!body["event_id"].is_string())
                return fail(errc::bad_field, "event_id", "must be a string");
            e = outbox_entry{body["event_id"].get<std::string>(),
                             event_topic(options_.id, options_.cls), body.dump()};
            EQM_TRY(outbox_->put(e));
            ++stats_.events_emitted;
        }
        publish_events({e});
        return e.event_id;
    }

    void set_command_handler(command_handler h) {
        std::lock_guard lock(mutex_);
        on_command_ = std::move(h);
    }
    void set_ack_handler(ack_handler h) {
        std::lock_guard lock(mutex_);
        on_ack_ = std::move(h);
    }
    bool connected() const noexcept { return connected_.load(); }
    std::size_t pending_events() const {
        std::lock_guard lock(mutex_);
        return outbox_->pending_count();
    }
    std::uint64_t bd_seq() const noexcept { return bd_seq_.load(); }
    device_stats stats() const {
        std::lock_guard lock(mutex_);
        return stats_;
    }
    const std::string& id() const noexcept { return options_.id; }

  private:
    // ---- Paho callbacks (Paho's thread; never let an exception out) ----------------------

    void connection_lost(const std::string& cause) override {
        try {
            connected_ = false;
            log(log_level::warn, "disconnected", "cause=" + log_value(cause));
            schedule_reconnect();
        } catch (...) {
        }
    }

    void message_arrived(mqtt::const_message_ptr msg) override {
        try {
            if (msg->get_topic() == ack_topic(options_.id))
                handle_ack(msg->to_string());
            else if (msg->get_topic() == command_topic(options_.id))
                handle_command(msg->to_string());
        } catch (const std::exception& e) {
            log(log_level::error, "message_failed", "error=" + log_value(e.what()));
        } catch (...) {
        }
    }

    void delivery_complete(mqtt::delivery_token_ptr) override {}

    // Connect succeeded / failed (the only action we attach this listener to).
    void on_success(const mqtt::token&) override {
        try {
            on_connected();
        } catch (const std::exception& e) {
            log(log_level::error, "birth_failed", "error=" + log_value(e.what()));
        } catch (...) {
        }
    }
    void on_failure(const mqtt::token& tok) override {
        try {
            connected_ = false;
            log(log_level::warn, "connect_failed",
                "broker=" + log_value(options_.broker_uri) +
                    " rc=" + std::to_string(tok.get_return_code()));
            schedule_reconnect();
        } catch (...) {
        }
    }

    // ---- connection management ---------------------------------------------------------

    void connect() {
        std::unique_lock lock(mutex_);
        if (closing_ || !client_) return;
        ++bd_seq_;
        (void)save_state();  // a failed write only risks reusing a bd_seq; keep connecting
        const auto will =
            nlohmann::json{{"ts", now_ts()}, {"online", false}, {"bd_seq", bd_seq_.load()}}.dump();
        capture(state_topic(options_.id), will);
        auto builder = mqtt::connect_options_builder()
                           .clean_session(true)
                           .keep_alive_interval(keep_alive)
                           .connect_timeout(connect_timeout)
                           .will(mqtt::message(state_topic(options_.id), will, 1, true));
        if (!options_.username.empty()) builder.user_name(options_.username);
        if (!options_.password.empty()) builder.password(options_.password);
        lock.unlock();
        try {
            client_->connect(builder.finalize(), nullptr, *this);
        } catch (const std::exception& e) {
            log(log_level::warn, "connect_failed",
                "broker=" + log_value(options_.broker_uri) + " error=" + log_value(e.what()));
            schedule_reconnect();
        }
    }

    void on_connected() {
        std::vector<outbox_entry> pending;
        {
            std::lock_guard lock(mutex_);
            // Paho may report one connect's success more than once; one birth per bd_seq.
            if (closing_ || !client_ || born_bd_seq_ == bd_seq_.load()) return;
            born_bd_seq_ = bd_seq_.load();
            backoff_ = options_.reconnect_min;
            ++stats_.connects;
            // Everything not yet acked goes out again, oldest first.
            last_sent_.clear();
            pending = outbox_->pending();
        }
        connected_ = true;
        const auto birth =
            nlohmann::json{
                {"ts", now_ts()},          {"online", true},    {"class", to_string(options_.cls)},
                {"model", options_.model}, {"fw", options_.fw}, {"bd_seq", bd_seq_.load()}}
                .dump();
        capture(state_topic(options_.id), birth);
        client_->publish(state_topic(options_.id), birth, 1, true);
        client_->subscribe(ack_topic(options_.id), 1);
        client_->subscribe(command_topic(options_.id), 1);
        publish_events(pending);
    }

    void schedule_reconnect() {
        std::lock_guard lock(mutex_);
        schedule_reconnect_locked();
    }

    void schedule_reconnect_locked() {
        if (closing_) return;
        // Full jitter over [backoff/2, backoff]: a city's devices do not all come back at once.
        const auto base = backoff_.count();
        std::uniform_int_distribution<long long> pick(base / 2, base);
        const auto delay = std::chrono::milliseconds(pick(jitter_));
        backoff_ = std::min(options_.reconnect_max, backoff_ * 2);
        std::weak_ptr<impl> weak = weak_from_this();
        detail::timer_queue::instance().after(delay, [weak] {
            if (auto self = weak.lock()) self->connect();
        });
    }

    void schedule_resend() {
        std::weak_ptr<impl> weak = weak_from_this();
        detail::timer_queue::instance().after(options_.resend_interval, [weak] {
            if (auto self = weak.lock()) {
                self->resend_due();
                self->schedule_resend();
            }
        });
    }

    void resend_due() {
        std::vector<outbox_entry> due;
        {
            std::lock_guard lock(mutex_);
            if (!connected_ || closing_) return;
            const auto now = std::chrono::steady_clock::now();
            // Rebuilt from what is still pending: an ack that overtook its own publish leaves
            // no stale entry behind.
            std::unordered_map<std::string, std::chrono::steady_clock::time_point> still_pending;
            for (const auto& e : outbox_->pending()) {
                auto it = last_sent_.find(e.event_id);
                if (is_due(e.event_id, it, now))
                    due.push_back(e);
                else if (it != last_sent_.end())
                    still_pending.emplace(it->first, it->second);
            }
            last_sent_ = std::move(still_pending);
        }
        publish_events(due);
    }

    /// An event waiting out a `rejected:unavailable` backoff is due when its delay is over;
    /// any other when it was never sent or its last send is a resend interval old.
    bool is_due(
        const std::string& event_id,
        std::unordered_map<std::string, std::chrono::steady_clock::time_point>::iterator sent,
        std::chrono::steady_clock::time_point now) const {
        if (auto r = retry_.find(event_id); r != retry_.end() && r->second.not_before)
            return now >= *r->second.not_before;
        return sent == last_sent_.end() || now - sent->second >= options_.resend_interval;
    }

    /// The gateway could not commit its decision on `event_id`: keep the event and send it
    /// again after the next backoff step. Called with mutex_ held.
    void retry_later_locked(const std::string& event_id) {
        if (!outbox_->is_pending(event_id)) return;
        auto& r = retry_[event_id];
        r.backoff = r.backoff.count() == 0
                        ? options_.unavailable_retry_min
                        : std::min(options_.unavailable_retry_max, r.backoff * 2);
        std::uniform_int_distribution<long long> pick(r.backoff.count() / 2, r.backoff.count());
        const auto delay = std::chrono::milliseconds(pick(jitter_));
        r.not_before = std::chrono::steady_clock::now() + delay;
        ++stats_.events_unavailable;
        log(log_level::info, "retry_later",
            "event=" + log_value(event_id) +
                " result=rejected:unavailable delay_ms=" + std::to_string(delay.count()));
        std::weak_ptr<impl> weak = weak_from_this();
        detail::timer_queue::instance().after(delay, [weak] {
            if (auto self = weak.lock()) self->resend_due();
        });
    }

    /// Publishes events without holding mutex_: Paho's receive thread holds Paho's own lock while
    /// it runs message_arrived(), which takes mutex_ (handle_ack), so calling Paho under mutex_
    /// would invert the lock order and deadlock a device whose ack arrives mid-publish.
    void publish_events(const std::vector<outbox_entry>& events) {
        for (const auto& e : events) {
            if (!connected_ || !client_) return;
            try {
                capture(e.topic, e.payload);
                client_->publish(e.topic, e.payload, event_qos, false);
            } catch (const std::exception& ex) {
                log(log_level::warn, "publish_failed",
                    "event=" + log_value(e.event_id) + " error=" + log_value(ex.what()));
                continue;
            }
            std::lock_guard lock(mutex_);
            last_sent_[e.event_id] = std::chrono::steady_clock::now();
            if (auto r = retry_.find(e.event_id); r != retry_.end()) r->second.not_before.reset();
            ++stats_.events_published;
        }
    }

    // ---- inbound ------------------------------------------------------------------------

    void handle_ack(const std::string& text) {
        // The typed parser enforces the whole contract (ids, results, ts), not just the shape.
        const auto parsed = parse_ack(text);
        if (!parsed) {
            bad_message("ack", text, parsed.error().describe());
            return;
        }
        std::vector<std::pair<std::string, std::string>> done;
        ack_handler handler;
        {
            std::lock_guard lock(mutex_);
            for (const auto& key : parsed->event_ids) {
                auto it = parsed->results.find(key);
                const std::string result =
                    it == parsed->results.end() ? "ok" : to_string(it->second);
                if (!is_final_result(result)) {
                    retry_later_locked(key);
                    continue;
                }
                auto acked = outbox_->ack(key, result);
                if (!acked) {
                    log(log_level::error, "outbox_failed",
                        "event=" + log_value(key) +
                            " error=" + log_value(acked.error().describe()));
                    continue;
                }
                if (!*acked) continue;  // a duplicate ack: the event is already done
                last_sent_.erase(key);
                retry_.erase(key);
                ++stats_.events_acked;
                if (result != "ok") ++stats_.events_rejected;
                done.emplace_back(key, result);
            }
            handler = on_ack_;
        }
        if (handler)
            for (const auto& [id, result] : done) handler(id, result);
    }

    void handle_command(const std::string& text) {
        if (const auto cmd = parse_device_cmd(text); !cmd) {
            bad_message("command", text, cmd.error().describe());
            return;
        }
        const auto j = nlohmann::json::parse(text, nullptr, false);
        command_handler handler;
        {
            std::lock_guard lock(mutex_);
            handler = on_command_;
        }
        if (handler)
            handler(j);
        else
            log(log_level::info, "command",
                "type=" + log_value(j["type"].get<std::string>()) +
                    " cmd_id=" + log_value(j["cmd_id"].get<std::string>()) + " handler=none");
    }

    void bad_message(std::string_view what, const std::string& text, const std::string& why) {
        {
            std::lock_guard lock(mutex_);
            ++stats_.bad_messages;
        }
        constexpr std::size_t shown = 80;
        log(log_level::warn, "unparseable",
            "kind=" + std::string(what) + " reason=" + log_value(why) +
                " payload=" + log_value(text.substr(0, shown)));
    }

    // ---- state file ---------------------------------------------------------------------

    void load_state() {
        std::ifstream in(state_path_);
        if (!in) return;
        std::stringstream ss;
        ss << in.rdbuf();
        const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            log(log_level::warn, "state_unreadable",
                "file=" + log_value(state_path_.string()) + " bd_seq=0");
            return;
        }
        if (j.contains("bd_seq") && j["bd_seq"].is_number_unsigned())
            bd_seq_ = j["bd_seq"].get<std::uint64_t>();
        if (j.contains("boot") && j["boot"].is_number_unsigned())
            boot_ = j["boot"].get<std::uint64_t>();
    }

    result<void> save_state() {
        const auto text = nlohmann::json{{"bd_seq", bd_seq_.load()}, {"boot", boot_}}.dump() + "\n";
        auto tmp = state_path_;
        tmp += ".tmp";
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return fail(errc::unavailable, "state_dir", "cannot write " + tmp.string());
        const bool ok =
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            (!options_.durable || ::fsync(fd) == 0);
        ::close(fd);
        if (!ok || ::rename(tmp.c_str(), state_path_.c_str()) != 0)
            return fail(errc::unavailable, "state_dir", "cannot write " + state_path_.string());
        return {};
    }

    std::string next_event_id() {
        std::string suffix = "-";
        suffix.append(std::to_string(boot_)).append("-").append(std::to_string(++event_counter_));
        const std::size_t room = max_id_chars - suffix.size();
        return options_.id.substr(0, room) + suffix;
    }

    void capture(std::string_view topic, std::string_view payload) {
        if (options_.capture) options_.capture(topic, payload);
    }

    /// One line `verb device=<id> fields`, to the caller's sink or else the process logger.
    void log(log_level level, std::string_view verb, const std::string& fields) const {
        std::string line(verb);
        line += " device=" + log_value(options_.id);
        if (!fields.empty()) line += " " + fields;
        if (options_.log)
            options_.log(level, line);
        else
            log_line(level, "device", line);
    }

    device_options options_;
    mutable std::mutex mutex_;
    std::filesystem::path state_path_;
    std::atomic<std::uint64_t> bd_seq_{0};
    std::uint64_t boot_ = 0;
    std::uint64_t event_counter_ = 0;
    std::uint64_t telemetry_seq_ = 0;
    std::atomic<bool> connected_{false};
    bool closing_ = false;
    std::uint64_t born_bd_seq_ = 0;  ///< bd_seq of the last birth sent (0: none yet)
    std::chrono::milliseconds backoff_{};
    std::minstd_rand jitter_;
    std::unique_ptr<outbox> outbox_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_sent_;
    /// Backoff of the events the gateway answered `rejected:unavailable`.
    struct retry_state {
        std::chrono::milliseconds backoff{0};
        std::optional<std::chrono::steady_clock::time_point> not_before;  ///< empty once resent
    };
    std::unordered_map<std::string, retry_state> retry_;
    device_stats stats_;
    command_handler on_command_;
    ack_handler on_ack_;
    // Last, so it is destroyed first: no Paho callback can run into a half-destroyed impl.
    std::unique_ptr<mqtt::async_client> client_;

    friend class device_session;
};

device_session::device_session(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
device_session::~device_session() = default;

result<std::unique_ptr<device_session>> device_session::open(device_options options) {
    if (!is_valid_id(options.id))
        return fail(errc::bad_field, "id", "must match ^[A-Za-z0-9_-]{1,64}$");
    if (options.model.empty() || options.model.size() > max_model_chars)
        return fail(errc::bad_field, "model", "must be 1..64 characters");
    if (options.fw.empty() || options.fw.size() > max_model_chars)
        return fail(errc::bad_field, "fw", "must be 1..64 characters");
    if (options.broker_uri.empty()) return fail(errc::bad_field, "broker_uri", "is required");
    auto p = std::make_shared<impl>(std::move(options));
    EQM_TRY(p->init());
    p->start();
    return std::unique_ptr<device_session>(new device_session(std::move(p)));
}

result<void> device_session::publish_telemetry(nlohmann::json body) {
    return impl_->publish_telemetry(std::move(body));
}
result<std::string> device_session::emit_event(nlohmann::json body) {
    return impl_->emit_event(std::move(body));
}
void device_session::set_command_handler(command_handler h) {
    impl_->set_command_handler(std::move(h));
}
void device_session::set_ack_handler(ack_handler h) {
    impl_->set_ack_handler(std::move(h));
}
bool device_session::connected() const noexcept {
    return impl_->connected();
}
std::size_t device_session::pending_events() const {
    return impl_->pending_events();
}
std::uint64_t device_session::bd_seq() const noexcept {
    return impl_->bd_seq();
}
device_stats device_session::stats() const {
    return impl_->stats();
}
const std::string& device_session::id() const noexcept {
    return impl_->id();
}

}  // namespace eqm::device
