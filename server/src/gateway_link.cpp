// Ingest from the central broker and commands to gateways (see gateway_link.hpp).
#include "gateway_link.hpp"

#include <iostream>
#include <vector>

#include "auth.hpp"
#include "event_feed.hpp"
#include "views.hpp"

namespace eqm::server {

using nlohmann::json;

clock_ms system_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

namespace {
constexpr std::size_t cmd_id_random_bytes = 8;
/// A queue item that is not a message: the session just came up.
constexpr std::string_view connected_marker = "$eqm/connected";

}  // namespace

gateway_link::gateway_link(region_store& store, http::ws_hub& hub, clock_fn clock)
    : store_(store), hub_(hub), clock_(std::move(clock)) {}

gateway_link::~gateway_link() {
    stop();
}

result<void> gateway_link::start(mqtt::session_options options) {
    options.subscriptions.push_back({"eqm/v1/city/+/gw/state", 1});
    options.subscriptions.push_back({"eqm/v1/city/+/gw/events", 1});
    auto s = mqtt::session::create(std::move(options));
    if (!s) return std::unexpected(s.error());
    session_ = std::move(*s);
    session_->on_message([this](std::string topic, std::string payload) {
        queue_.push(mqtt::inbound_message{std::move(topic), std::move(payload)});
    });
    session_->on_connection([this](bool up) {
        if (up) queue_.push(mqtt::inbound_message{std::string(connected_marker), {}});
    });
    thread_ = std::thread([this] { run(); });
    session_->start();
    return {};
}

void gateway_link::stop() {
    session_.reset();  // no more messages; the destructor disconnects cleanly
    stopping_ = true;
    queue_.close();
    if (thread_.joinable()) thread_.join();
    std::map<std::string, waiter, std::less<>> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(waiters_);
    }
    for (auto& [id, w] : left) w.done(fail(errc::unavailable, "", "the server is shutting down"));
}

bool gateway_link::connected() const noexcept {
    return session_ && session_->connected();
}

ingest_stats gateway_link::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void gateway_link::log(std::string_view line) const {
    std::cerr << "eqm-server: " << line << '\n';
}

void gateway_link::run() {
    constexpr std::chrono::milliseconds tick{50};
    while (!stopping_) {
        if (auto m = queue_.pop(tick)) handle_message(m->topic, m->payload);
        expire_waiters();
        sync_after_external_change();
    }
}

void gateway_link::sync_after_external_change() {
    constexpr std::chrono::seconds external_check_interval{2};
    const auto now = std::chrono::steady_clock::now();
    if (now < next_external_check_) return;
    next_external_check_ = now + external_check_interval;
    auto v = store_.external_version();
    if (!v) return log("cannot read the store's data version: " + v.error().describe());
    const bool changed = external_version_ && *external_version_ != *v;
    external_version_ = *v;
    if (!changed) return;
    auto gws = store_.gateways();
    if (!gws) return log("cannot list gateways: " + gws.error().describe());
    for (const auto& g : *gws) {
        if (!g.online) continue;
        log("the registry changed outside this server (eqm-server user add?): full registry sync "
            "to the gateway of " +
            g.city);
        if (auto r = sync_registry(g.city); !r)
            log("registry sync of " + g.city + " failed: " + r.error().describe());
    }
}

void gateway_link::handle_message(const std::string& topic, const std::string& payload) {
    try {
        if (topic == connected_marker) return flush_after_connect();
        auto t = parse_topic(topic);
        if (!t) return dead_letter(topic, payload, t.error().describe());
        if (t->kind == topic_kind::gw_state) return on_gateway_state(t->id, payload);
        if (t->kind == topic_kind::gw_events) return on_gateway_events(t->id, payload);
        dead_letter(topic, payload, "topic: not a gateway-to-server topic");
    } catch (const std::exception& e) {
        log(std::string("ingest error on ") + topic + ": " + e.what());
        std::lock_guard lock(mutex_);
        ++stats_.store_errors;
    }
}

void gateway_link::flush_after_connect() {
    for (auto it = unsent_acks_.begin(); it != unsent_acks_.end();) {
        if (!publish(it->first, it->second)) return;
        it = unsent_acks_.erase(it);
    }
    auto gws = store_.gateways();
    if (!gws) return;
    for (const auto& g : *gws) {
        if (!g.online) continue;
        auto pending = store_.pending_commands(g.city);
        if (!pending) continue;
        for (const auto& e : *pending) publish_command(e);
    }
}

void gateway_link::dead_letter(std::string_view topic, std::string_view payload,
                               std::string_view reason) {
    {
        std::lock_guard lock(mutex_);
        ++stats_.dead_letters;
    }
    log("dead letter on " + std::string(topic) + ": " + std::string(reason));
    if (auto r = store_.record_dead_letter(topic, payload, reason, clock_()); !r)
        log("cannot store dead letter: " + r.error().describe());
}

bool gateway_link::publish(std::string_view topic, std::string_view payload) {
    if (!session_) return false;
    return session_->publish(topic, payload, 1, false).has_value();
}

void gateway_link::on_gateway_state(const std::string& city, const std::string& payload) {
    if (payload.empty()) return;  // a retained state being cleared
    auto s = parse_gw_state(payload);
    if (!s)
        return dead_letter(format_topic({topic_kind::gw_state, city}), payload,
                           s.error().describe());
    auto t = store_.apply_gateway_state(city, *s, clock_());
    if (!t) {
        log("cannot apply gateway state of " + city + ": " + t.error().describe());
        std::lock_guard lock(mutex_);
        ++stats_.store_errors;
        return;
    }
    switch (*t) {
        case gateway_transition::stale_will:
            log("ignored a stale Last Will of city " + city + " (bd_seq " +
                std::to_string(s->bd_seq) + ")");
            return;
        case gateway_transition::went_offline:
            log("gateway of city " + city + " went offline");
            broadcast_gateway(city);
            fail_waiters_of(city, "the gateway of city " + city + " went offline");
            return;
        case gateway_transition::came_online: {
            log("gateway of city " + city + " is online (bd_seq " + std::to_string(s->bd_seq) +
                ")");
            broadcast_gateway(city);
            auto pending = store_.pending_commands(city);
            if (pending) {
                for (const auto& e : *pending) {
                    // The full sync sent below supersedes any older one still pending.
                    if (e.type == "registry_upsert" &&
                        e.payload.find("\"full_sync\":true") != std::string::npos) {
                        (void)store_.abandon_command(e.cmd_id, "superseded", clock_());
                        continue;
                    }
                    publish_command(e);
                }
            }
            if (auto r = sync_registry(city); !r)
                log("cannot sync the registry of " + city + ": " + r.error().describe());
            return;
        }
    }
}

void gateway_link::on_gateway_events(const std::string& city, const std::string& payload) {
    const auto topic = format_topic({topic_kind::gw_events, city});
    auto batch = parse_gw_events(payload);
    if (!batch) {
        // An oversized payload is kept only in part: the reason says what was wrong with it.
        const bool huge = batch.error().code == errc::too_large;
        return dead_letter(topic, huge ? payload.substr(0, 1024) : payload,
                           batch.error().describe());
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> skipped;
    for (const auto& r : batch->skipped.value_or(std::vector<seq_range>{}))
        skipped.emplace_back(r.from_seq, r.to_seq);

    batch_input in{city, std::move(*batch), std::move(skipped), clock_()};
    auto out = store_.apply_batch(in);
    if (!out) {
        // Nothing is acked, so the gateway keeps the events and sends them again.
        log("cannot apply a batch of " + city + ": " + out.error().describe());
        std::lock_guard lock(mutex_);
        ++stats_.store_errors;
        return;
    }

    srv_ack ack;
    ack.ts = clock_();
    ack.upto_seq = out->upto_seq;
    {
        std::lock_guard lock(mutex_);
        ++stats_.batches;
        stats_.events_applied += out->applied;
        stats_.duplicates += out->duplicates;
        if (out->resend_from) {
            ++stats_.gaps;
            const auto now = std::chrono::steady_clock::now();
            auto& asked = resend_asked_[in.batch.gw_id];
            if (asked.first != *out->resend_from || now - asked.second >= resend_request_interval) {
                asked = {*out->resend_from, now};
                ack.resend_from = out->resend_from;
            }
        }
    }
    const auto ack_topic = format_topic({topic_kind::srv_ack, city});
    const auto ack_text = to_json_text(ack);
    if (publish(ack_topic, ack_text)) {
        unsent_acks_.erase(ack_topic);
        std::lock_guard lock(mutex_);
        ++stats_.acks_sent;
    } else {
        // Sent once the session is up again; a newer ack for the city replaces it.
        unsent_acks_[ack_topic] = ack_text;
    }
    // Rendering a device costs a query and a JSON document; with no dashboard connected
    // nobody would receive it (a client connecting later starts from GET /devices).
    if (hub_.stats().connections > 0) broadcast_devices(out->changed_devices);
    for (const auto& a : out->alerts) broadcast_alert(a);
    for (const auto& r : out->command_results) resolve(r);
}

result<outbox_entry> gateway_link::make_command(std::string_view city, srv_cmd_body body) {
    srv_cmd cmd;
    cmd.cmd_id = "srv-" + random_hex(cmd_id_random_bytes);
    cmd.ts = clock_();
    cmd.body = std::move(body);
    outbox_entry e;
    e.cmd_id = cmd.cmd_id;
    e.city = std::string(city);
    e.type = std::string(to_string(cmd.type()));
    e.payload = to_json_text(cmd);
    if (e.payload.size() > max_payload_bytes)
        return fail(errc::too_large, "", "the command is over 256 KiB");
    return e;
}

void gateway_link::publish_command(const outbox_entry& e) {
    if (!publish(format_topic({topic_kind::srv_cmd, e.city}), e.payload)) return;
    (void)store_.mark_command_sent(e.cmd_id, clock_());
    std::lock_guard lock(mutex_);
    ++stats_.commands_sent;
}

result<std::string> gateway_link::send_command(std::string_view city, srv_cmd_body body) {
    auto e = make_command(city, std::move(body));
    if (!e) return std::unexpected(e.error());
    if (auto r = store_.enqueue_command(*e, clock_()); !r) return std::unexpected(r.error());
    publish_command(*e);
    return e->cmd_id;
}

void gateway_link::request(std::string_view city, srv_cmd_body body,
                           std::chrono::milliseconds timeout, command_callback done) {
    auto e = make_command(city, std::move(body));
    if (!e) return done(std::unexpected(e.error()));
    if (auto r = store_.enqueue_command(*e, clock_()); !r) return done(std::unexpected(r.error()));
    {
        std::lock_guard lock(mutex_);
        waiters_[e->cmd_id] =
            waiter{std::string(city), std::chrono::steady_clock::now() + timeout, std::move(done)};
    }
    publish_command(*e);
}

void gateway_link::resolve(const command_result_body& r) {
    command_callback done;
    {
        std::lock_guard lock(mutex_);
        auto it = waiters_.find(r.cmd_id);
        if (it == waiters_.end()) return;
        done = std::move(it->second.done);
        waiters_.erase(it);
    }
    done(r);
}

void gateway_link::expire_waiters() {
    std::vector<std::pair<std::string, waiter>> expired;
    {
        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            if (it->second.deadline <= now) {
                expired.emplace_back(it->first, std::move(it->second));
                it = waiters_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& [id, w] : expired) {
        (void)store_.abandon_command(id, "timeout", clock_());
        w.done(fail(errc::unavailable, "",
                    "the gateway of city " + w.city + " did not answer in time"));
    }
}

void gateway_link::fail_waiters_of(std::string_view city, std::string_view why) {
    std::vector<std::pair<std::string, waiter>> failed;
    {
        std::lock_guard lock(mutex_);
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            if (it->second.city == city) {
                failed.emplace_back(it->first, std::move(it->second));
                it = waiters_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& [id, w] : failed) {
        (void)store_.abandon_command(id, "gateway_offline", clock_());
        w.done(fail(errc::unavailable, "", std::string(why)));
    }
}

result<void> gateway_link::sync_registry(std::string_view city) {
    auto devices = store_.registry_of_city(city);
    if (!devices) return std::unexpected(devices.error());
    auto people = store_.people_for_city(city);
    if (!people) return std::unexpected(people.error());
    registry_upsert_cmd cmd;
    cmd.devices = std::move(*devices);
    cmd.people = std::move(*people);
    cmd.full_sync = true;
    auto id = send_command(city, std::move(cmd));
    if (!id) return std::unexpected(id.error());
    return {};
}

void gateway_link::broadcast_devices(const std::vector<std::string>& ids) {
    if (ids.empty()) return;
    auto devices = store_.find_devices(ids);
    if (!devices) return log("cannot read changed devices: " + devices.error().describe());
    const auto now = clock_();
    for (const auto& d : *devices) publish_device(hub_, d, now);
}

void gateway_link::broadcast_alert(const alert_view& a) {
    json msg{{"type", "alert"}, {"alert", alert_json(a)}};
    hub_.broadcast(msg.dump(), {{"city", a.city}, {"kind", "alert"}});
}

void gateway_link::broadcast_gateway(const std::string& city) {
    auto info = find_city(city);
    auto g = store_.gateway(city);
    if (!g) return;
    json c = info ? city_json(*info, *g) : json{{"code", city}};
    json msg{{"type", "gateway"}, {"city", std::move(c)}};
    hub_.broadcast(msg.dump(), {{"city", city}, {"kind", "gateway"}});
}

void gateway_link::write_metrics(http::prometheus_writer& out) const {
    const auto s = stats();
    out.counter("eqm_ingest_batches_total", "gw/events batches applied", double(s.batches));
    out.counter("eqm_ingest_events_applied_total", "gateway events applied",
                double(s.events_applied));
    out.counter("eqm_ingest_duplicates_total", "replayed gateway events ignored",
                double(s.duplicates));
    out.counter("eqm_ingest_gaps_total", "batches that revealed a seq gap", double(s.gaps));
    out.counter("eqm_dead_letters_total", "malformed messages put in the dead-letter table",
                double(s.dead_letters));
    out.counter("eqm_srv_acks_sent_total", "srv/ack messages published", double(s.acks_sent));
    out.counter("eqm_commands_sent_total", "srv/cmd messages published", double(s.commands_sent));
    out.counter("eqm_ingest_store_errors_total", "batches or states the store could not apply",
                double(s.store_errors));
    out.gauge("eqm_mqtt_connected", "1 while connected to the central broker",
              connected() ? 1.0 : 0.0);
    std::size_t waiting = 0;
    {
        std::lock_guard lock(mutex_);
        waiting = waiters_.size();
    }
    out.gauge("eqm_commands_awaiting_result", "commands an HTTP client waits on", double(waiting));
}

}  // namespace eqm::server
