// Ingest from the central broker and commands to gateways (see gateway_link.hpp).
#include "gateway_link.hpp"

#include <vector>

#include "auth.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/runtime/log.hpp"
#include "event_feed.hpp"
#include "views.hpp"

#ifndef EQM_VERSION
#define EQM_VERSION "0.0.0"
#endif

namespace eqm::server {

using nlohmann::json;

namespace {

constexpr std::size_t cmd_id_random_bytes = 8;
constexpr std::size_t sync_id_random_bytes = 6;
constexpr std::chrono::milliseconds ingest_tick{50};
constexpr std::chrono::seconds external_check_interval{2};
constexpr std::chrono::seconds resend_check_interval{1};
constexpr std::chrono::minutes prune_interval{10};
/// Commands published again per resend check, at most (the rest wait for the next one).
constexpr std::size_t resend_batch_limit = 500;
/// Room left in a registry part for the command envelope (cmd_id, ts, type, sync fields).
constexpr std::size_t registry_envelope_bytes = 512;

std::string_view component = "ingest";

/// The major version of "1.4.2" ("1"); empty when the text does not start with digits and a dot.
std::string_view major_of(std::string_view version) {
    const auto dot = version.find('.');
    if (dot == 0 || dot == std::string_view::npos) return {};
    const auto major = version.substr(0, dot);
    for (const char c : major)
        if (c < '0' || c > '9') return {};
    return major;
}

/// A full registry sync cut into parts that each stay under registry_part_bytes.
std::vector<registry_upsert_cmd> split_full_sync(std::vector<device_record> devices,
                                                 std::vector<person_record> people) {
    constexpr std::size_t budget = registry_part_bytes - registry_envelope_bytes;
    std::vector<registry_upsert_cmd> parts(1);
    std::size_t used = 0;
    const auto room_for = [&](std::size_t bytes) {
        if (used > 0 && used + bytes > budget) {
            parts.emplace_back();
            used = 0;
        }
        used += bytes;
    };
    for (auto& d : devices) {
        room_for(to_json(d).dump().size() + 1);
        parts.back().devices.push_back(std::move(d));
    }
    for (auto& p : people) {
        room_for(to_json(p).dump().size() + 1);
        parts.back().people.push_back(std::move(p));
    }
    const std::string sync_id = "sync-" + random_hex(sync_id_random_bytes);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        parts[i].full_sync = true;
        // One part is the plain full sync every gateway reads; parts only when needed.
        if (parts.size() == 1) break;
        parts[i].sync_id = sync_id;
        parts[i].part = i + 1;
        parts[i].parts = parts.size();
    }
    return parts;
}

bool is_full_sync(const outbox_entry& e) {
    if (e.type != to_string(srv_cmd_type::registry_upsert)) return false;
    auto cmd = parse_srv_cmd(e.payload);
    if (!cmd) return false;
    const auto* r = std::get_if<registry_upsert_cmd>(&cmd->body);
    return r && r->full_sync.value_or(false);
}

}  // namespace

gateway_link::gateway_link(region_store& store, http::ws_hub& hub, clock_fn clock,
                           gateway_link_options options)
    : store_(store),
      hub_(hub),
      clock_(std::move(clock)),
      options_(std::move(options)),
      queue_(options_.queue, mqtt::overflow_policy::reject,
             [](const arrival& a) { return mqtt::weigh(a.message); }),
      states_(mqtt::queue_limits{state_queue_limit, state_queue_bytes},
              mqtt::overflow_policy::reject,
              [](const arrival& a) { return mqtt::weigh(a.message); }) {
    if (options_.version.empty()) options_.version = EQM_VERSION;
    load_city_gateways();
}

gateway_link::~gateway_link() {
    stop();
}

void gateway_link::load_city_gateways() {
    auto gws = store_.gateways();
    if (!gws) return log_error(component, "cannot read gateways: " + gws.error().describe());
    for (const auto& g : *gws) {
        if (!g.gw_id) continue;
        city_gateways_[g.city] = city_gateway{*g.gw_id, g.version.value_or("")};
        applied_[*g.gw_id] = g.applied_seq;
    }
}

result<void> gateway_link::start(mqtt::session_options options) {
    abandon_custody_requests("server_restart");
    options.subscriptions.push_back({format_topic({topic_kind::gw_state, "+"}), 1});
    options.subscriptions.push_back({format_topic({topic_kind::gw_events, "+"}), 1});
    EQM_TRY_LET(s, mqtt::session::create(std::move(options)));
    session_ = std::move(s);
    session_->on_message([this](std::string topic, std::string payload) {
        // Never waits: a full queue refuses (counted) and the gateway sends the batch again,
        // asked to as soon as the queue has room (ask_refused_to_resend). A gateway never sends
        // its birth or will again, so states have their own queue that batches cannot fill.
        auto t = parse_topic(topic);
        arrival a{arrivals_++, mqtt::inbound_message{std::move(topic), std::move(payload)}};
        if (t && t->kind == topic_kind::gw_state) {
            states_.push(std::move(a));
            return;
        }
        if (queue_.push(std::move(a))) return;
        if (!t || t->kind != topic_kind::gw_events) return;
        std::lock_guard lock(mutex_);
        refused_cities_.insert(std::move(t->id));
    });
    session_->on_connection([this](bool up) {
        if (up) reconnected_ = true;
    });
    thread_ = std::thread([this] { run(); });
    session_->start();
    return {};
}

void gateway_link::stop() {
    session_.reset();  // no more messages; the destructor disconnects cleanly
    stopping_ = true;
    queue_.close();
    states_.close();
    if (thread_.joinable()) thread_.join();
    std::map<std::string, waiter, std::less<>> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(waiters_);
    }
    for (auto& [id, w] : left) {
        (void)store_.abandon_command(id, "server_stopping", clock_());
        w.done(fail(errc::unavailable, "", "the server is shutting down"));
    }
    // Nobody waits for a custody request any more: a restart must never run one.
    abandon_custody_requests("server_stopping");
}

void gateway_link::abandon_custody_requests(std::string_view reason) {
    auto n = store_.abandon_pending(to_string(srv_cmd_type::custody_request), reason, clock_());
    if (!n)
        return log_error("commands",
                         "cannot abandon pending custody requests: " + n.error().describe());
    if (*n == 0) return;
    count(&ingest_stats::custody_requests_abandoned, *n);
    log_warn("commands", "abandoned custody requests nobody waits for count=" + std::to_string(*n) +
                             " reason=" + std::string(reason));
}

bool gateway_link::connected() const noexcept {
    return session_ && session_->connected();
}

ingest_stats gateway_link::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void gateway_link::count(std::uint64_t ingest_stats::*counter, std::uint64_t n) {
    std::lock_guard lock(mutex_);
    stats_.*counter += n;
}

void gateway_link::run() {
    while (!stopping_) {
        std::vector<arrival> taken;
        if (auto first = queue_.pop(ingest_tick)) {
            std::size_t bytes = mqtt::weigh(first->message);
            taken.push_back(std::move(*first));
            while (taken.size() < max_round_messages && bytes < max_round_bytes) {
                auto m = queue_.try_pop();
                if (!m) break;
                bytes += mqtt::weigh(m->message);
                taken.push_back(std::move(*m));
            }
        }
        // States are merged in by order of arrival: a birth binds the gw_id of the batches after
        // it, a Last Will comes after the last batch of its session.
        std::vector<arrival> states;
        states_.drain(states);
        std::vector<mqtt::inbound_message> round;
        round.reserve(taken.size() + states.size());
        auto e = taken.begin();
        auto st = states.begin();
        while (e != taken.end() || st != states.end()) {
            const bool state_first = st != states.end() && (e == taken.end() || st->n < e->n);
            round.push_back(std::move(state_first ? (st++)->message : (e++)->message));
        }
        if (reconnected_.exchange(false)) flush_after_connect();
        if (!unsent_acks_.empty()) flush_unsent_acks();
        if (!round.empty()) handle_messages(std::move(round));
        if (queue_.size() == 0) ask_refused_to_resend();
        housekeeping();
    }
}

void gateway_link::housekeeping() {
    expire_waiters();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_resend_check_) {
        next_resend_check_ = now + resend_check_interval;
        resend_due_commands();
    }
    if (now >= next_prune_) {
        next_prune_ = now + prune_interval;
        prune_dead_letters();
    }
    if (now >= next_external_check_) {
        next_external_check_ = now + external_check_interval;
        sync_after_external_change();
    }
    for (const auto& observe : housekeeping_observers_) observe();
}

void gateway_link::sync_after_external_change() {
    auto v = store_.external_version();
    if (!v)
        return log_error("registry",
                         "cannot read the store's data version: " + v.error().describe());
    const bool changed = external_version_ && *external_version_ != *v;
    external_version_ = *v;
    if (!changed) return;
    auto gws = store_.gateways();
    if (!gws) return log_error("registry", "cannot list gateways: " + gws.error().describe());
    for (const auto& g : *gws) {
        if (!g.online) continue;
        log_info("registry",
                 "changed outside this server (eqm-server user add?): full sync city=" + g.city);
        if (auto r = sync_registry(g.city); !r)
            log_error("registry",
                      "sync failed city=" + g.city + " error=" + log_value(r.error().describe()));
    }
}

void gateway_link::resend_due_commands() {
    if (!connected() || options_.command_resend_interval.count() <= 0) return;
    auto due =
        store_.commands_to_resend(clock_() - options_.command_resend_interval, resend_batch_limit);
    if (!due) return log_error("commands", "cannot read the outbox: " + due.error().describe());
    for (const auto& e : *due) {
        if (e.type == to_string(srv_cmd_type::custody_request)) {
            bool waited_for = false;
            {
                std::lock_guard lock(mutex_);
                waited_for = waiters_.contains(e.cmd_id);
            }
            // Nobody waits for it any more: it must never run late.
            if (!waited_for) {
                (void)store_.abandon_command(e.cmd_id, "abandoned", clock_());
                continue;
            }
        }
        publish_command(e);
        count(&ingest_stats::commands_resent);
    }
}

void gateway_link::prune_dead_letters() {
    auto n = store_.prune_dead_letters(clock_() - options_.dead_letter_retention,
                                       options_.dead_letter_max_rows);
    if (!n) return log_error(component, "cannot prune dead letters: " + n.error().describe());
    if (*n == 0) return;
    count(&ingest_stats::dead_letters_pruned, *n);
    log_info(component, "pruned dead letters count=" + std::to_string(*n));
}

void gateway_link::flush_after_connect() {
    flush_unsent_acks();
    auto gws = store_.gateways();
    if (!gws) return;
    for (const auto& g : *gws) {
        if (!g.online) continue;
        auto pending = store_.pending_commands(g.city);
        if (!pending) continue;
        for (const auto& e : *pending) publish_command(e);
    }
}

void gateway_link::handle_message(const std::string& topic, const std::string& payload) {
    std::vector<mqtt::inbound_message> one;
    one.push_back(mqtt::inbound_message{topic, payload});
    handle_messages(std::move(one));
}

void gateway_link::handle_messages(std::vector<mqtt::inbound_message> messages) {
    std::vector<batch_input> round;
    for (auto& m : messages) {
        try {
            take(m, round);
        } catch (const std::exception& e) {
            log_error(component, "error topic=" + m.topic + " error=" + log_value(e.what()));
            count(&ingest_stats::store_errors);
        }
    }
    try {
        apply_round(round);
    } catch (const std::exception& e) {
        log_error(component, "round failed error=" + log_value(e.what()));
        count(&ingest_stats::store_errors);
    }
}

void gateway_link::take(mqtt::inbound_message& m, std::vector<batch_input>& round) {
    auto t = parse_topic(m.topic);
    std::optional<unread_batch> unread;
    if (t && t->kind == topic_kind::gw_events) {
        auto in = read_batch(t->id, m.payload);
        if (in) return round.push_back(std::move(*in));
        unread = std::move(in.error());
    }
    // Anything else is handled after the batches before it, so each city's order holds.
    apply_round(round);
    if (!t)
        return record(dead_letter{
            dead_letter_kind::malformed, m.topic, m.payload, t.error().describe(), {}, {}, {}, {}});
    if (unread) return reject_batch(t->id, m.payload, std::move(*unread));
    if (t->kind == topic_kind::gw_state) return on_gateway_state(t->id, m.payload);
    record(dead_letter{dead_letter_kind::malformed,
                       m.topic,
                       m.payload,
                       "topic: not a gateway-to-server topic",
                       {},
                       {},
                       {},
                       {}});
}

bool gateway_link::lenient_for(const std::string& city) const {
    auto it = city_gateways_.find(city);
    if (it == city_gateways_.end()) return false;
    const auto theirs = major_of(it->second.version);
    return !theirs.empty() && theirs == major_of(options_.version);
}

std::expected<batch_input, gateway_link::unread_batch> gateway_link::read_batch(
    const std::string& city, const std::string& payload) {
    std::vector<std::string> ignored;
    auto batch =
        lenient_for(city) ? parse_gw_events_lenient(payload, ignored) : parse_gw_events(payload);
    if (!batch)
        return std::unexpected(unread_batch{dead_letter_kind::malformed, batch.error().describe()});
    auto bound = city_gateways_.find(city);
    if (bound == city_gateways_.end() || bound->second.gw_id != batch->gw_id)
        return std::unexpected(unread_batch{
            dead_letter_kind::refused,
            "gw_id: " + batch->gw_id + " is not the gateway of city " + city +
                (bound == city_gateways_.end() ? " (no birth seen)"
                                               : " (" + bound->second.gw_id + " is)")});
    if (!ignored.empty()) {
        count(&ingest_stats::lenient_batches);
        for (const auto& field : ignored) {
            if (!logged_unknown_.insert(batch->gw_id + " " + field).second) continue;
            log_warn(component, "ignored a member of a newer version gw_id=" + batch->gw_id +
                                    " version=" + log_value(bound->second.version) +
                                    " field=" + field);
        }
    }
    return batch_input{city, std::move(*batch), clock_()};
}

void gateway_link::reject_batch(const std::string& city, const std::string& payload,
                                unread_batch why) {
    const auto topic = format_topic({topic_kind::gw_events, city});
    if (why.kind == dead_letter_kind::refused) {
        count(&ingest_stats::refused_batches);
        return record(
            dead_letter{dead_letter_kind::refused, topic, payload, why.reason, city, {}, {}, {}});
    }
    // A batch that cannot be read stalls its city unless it is acked: when its sender and seqs
    // can be read, it is kept for an operator and counted as delivered.
    auto range = read_gw_events_range(payload);
    auto bound = city_gateways_.find(city);
    if (range && bound != city_gateways_.end() && bound->second.gw_id == range->gw_id)
        return quarantine(city, payload, why.reason, *range);
    record(dead_letter{dead_letter_kind::malformed, topic, payload, why.reason, city, {}, {}, {}});
}

void gateway_link::quarantine(const std::string& city, const std::string& payload,
                              const std::string& reason, const gw_events_range& range) {
    dead_letter d{dead_letter_kind::quarantined,
                  format_topic({topic_kind::gw_events, city}),
                  payload,
                  reason,
                  city,
                  range.gw_id,
                  range.from_seq,
                  range.to_seq};
    auto q = store_.quarantine_batch(d, clock_());
    if (!q) {
        log_error(component, "cannot quarantine a batch city=" + city +
                                 " error=" + log_value(q.error().describe()));
        return count(&ingest_stats::store_errors);
    }
    if (q->quarantined) {
        {
            std::lock_guard lock(mutex_);
            ++stats_.quarantined;
            ++stats_.dead_letters;
        }
        log_warn(component, "quarantined an unreadable batch city=" + city + " gw_id=" +
                                range.gw_id + " seq=" + std::to_string(range.from_seq) + ".." +
                                std::to_string(range.to_seq) + " reason=" + log_value(reason));
    }
    applied_[range.gw_id] = q->upto_seq;
    srv_ack ack;
    ack.ts = clock_();
    ack.upto_seq = q->upto_seq;
    if (q->resend_from && may_ask_resend(range.gw_id, *q->resend_from))
        ack.resend_from = q->resend_from;
    send_ack(city, ack);
}

void gateway_link::record(dead_letter d) {
    {
        std::lock_guard lock(mutex_);
        ++stats_.dead_letters;
        if (d.kind == dead_letter_kind::malformed) ++stats_.malformed;
    }
    log_warn(component, "dead letter kind=" + std::string(to_string(d.kind)) +
                            " topic=" + log_value(d.topic) + " reason=" + log_value(d.reason));
    if (auto r = store_.record_dead_letter(d, clock_()); !r)
        log_error(component, "cannot store a dead letter: " + r.error().describe());
}

void gateway_link::apply_round(std::vector<batch_input>& round) {
    if (round.empty()) return;
    auto outcomes = store_.apply_batches(round);
    count(&ingest_stats::rounds);
    // After the one commit, one srv/ack per city covers all of its batches of the round, as the
    // gateway acks a round of decisions with one ack per device.
    struct city_ack {
        std::string gw_id;
        std::uint64_t upto_seq = 0;
        bool gap = false;
    };
    std::map<std::string, city_ack, std::less<>> acks;
    for (std::size_t i = 0; i < round.size(); ++i) {
        if (!outcomes[i]) {
            // Nothing of it is acked, so the gateway keeps the events and sends them again.
            log_error(component, "cannot apply a batch city=" + round[i].city +
                                     " error=" + log_value(outcomes[i].error().describe()));
            count(&ingest_stats::store_errors);
            continue;
        }
        count_batch(round[i], *outcomes[i]);
        auto& a = acks[round[i].city];
        a.gw_id = round[i].batch.gw_id;
        a.upto_seq = outcomes[i]->upto_seq;  // the city's last batch has its final seq
        a.gap = a.gap || outcomes[i]->resend_from.has_value();
    }
    for (const auto& [city, a] : acks) {
        srv_ack ack;
        ack.ts = clock_();
        ack.upto_seq = a.upto_seq;
        // A batch past a gap was dropped: the gateway resends from the first seq not applied.
        if (a.gap && may_ask_resend(a.gw_id, a.upto_seq + 1)) ack.resend_from = a.upto_seq + 1;
        send_ack(city, ack);
    }
    for (auto& o : outcomes)
        if (o) after_commit(*o);
    round.clear();
}

void gateway_link::flush_unsent_acks() {
    for (auto it = unsent_acks_.begin(); it != unsent_acks_.end();) {
        if (!publish(it->first, it->second)) return;
        it = unsent_acks_.erase(it);
        count(&ingest_stats::acks_sent);
    }
}

void gateway_link::ask_refused_to_resend() {
    std::set<std::string, std::less<>> cities;
    {
        std::lock_guard lock(mutex_);
        cities.swap(refused_cities_);
    }
    for (const auto& city : cities) {
        auto bound = city_gateways_.find(city);
        if (bound == city_gateways_.end()) {
            // Its birth is not in yet: ask once it is, rather than forget the refusal.
            std::lock_guard lock(mutex_);
            refused_cities_.insert(city);
            continue;
        }
        const auto applied = applied_[bound->second.gw_id];
        if (!may_ask_resend(bound->second.gw_id, applied + 1)) {
            std::lock_guard lock(mutex_);
            refused_cities_.insert(city);  // asked a moment ago: ask again later
            continue;
        }
        srv_ack ack;
        ack.ts = clock_();
        ack.upto_seq = applied;
        ack.resend_from = applied + 1;
        send_ack(city, ack);
    }
}

bool gateway_link::may_ask_resend(const std::string& gw_id, std::uint64_t seq) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    auto& asked = resend_asked_[gw_id];
    if (asked.first == seq && now - asked.second < resend_request_interval) return false;
    asked = {seq, now};
    ++stats_.resend_requests;
    return true;
}

void gateway_link::count_batch(const batch_input& in, const batch_outcome& out) {
    applied_[in.batch.gw_id] = out.upto_seq;
    for (const auto& r : out.refused)
        log_warn(component, "refused an event city=" + in.city + " gw_id=" + in.batch.gw_id +
                                " seq=" + std::to_string(r.seq) + " kind=" +
                                std::string(to_string(r.kind)) + " reason=" + log_value(r.reason));
    {
        std::lock_guard lock(mutex_);
        ++stats_.batches;
        stats_.events_applied += out.applied;
        stats_.duplicates += out.duplicates;
        stats_.refused_events += out.refused.size();
        stats_.dead_letters += out.refused.size();
        if (out.resend_from) ++stats_.gaps;
    }
}

void gateway_link::send_ack(const std::string& city, const srv_ack& ack) {
    const auto topic = format_topic({topic_kind::srv_ack, city});
    auto text = to_json_text(ack);
    if (publish(topic, text)) {
        unsent_acks_.erase(topic);
        return count(&ingest_stats::acks_sent);
    }
    // Sent as soon as Paho takes it (it refuses while its buffer is full or the link is
    // down); a newer ack for the city replaces it.
    unsent_acks_[topic] = std::move(text);
}

void gateway_link::after_commit(const batch_outcome& out) {
    // Rendering a device costs a query and a JSON document; with no dashboard connected
    // nobody would receive it (a client connecting later starts from GET /devices).
    if (hub_.stats().connections > 0) broadcast_devices(out.changed_devices);
    for (const auto& a : out.alerts) broadcast_alert(a);
    for (const auto& r : out.command_results) resolve(r);
    for (const auto& observe : commit_observers_) observe(out);
}

void gateway_link::on_commit(std::function<void(const batch_outcome&)> observer) {
    commit_observers_.push_back(std::move(observer));
}

void gateway_link::on_housekeeping(std::function<void()> observer) {
    housekeeping_observers_.push_back(std::move(observer));
}

bool gateway_link::publish(std::string_view topic, std::string_view payload) {
    if (!session_) return false;
    return session_->publish(topic, payload, 1, false).has_value();
}

void gateway_link::on_gateway_state(const std::string& city, const std::string& payload) {
    if (payload.empty()) return;  // a retained state being cleared
    auto s = parse_gw_state(payload);
    const auto topic = format_topic({topic_kind::gw_state, city});
    if (!s)
        return record(dead_letter{
            dead_letter_kind::malformed, topic, payload, s.error().describe(), city, {}, {}, {}});
    auto t = store_.apply_gateway_state(city, *s, clock_());
    if (!t && t.error().code == errc::conflict) {
        count(&ingest_stats::refused_births);
        return record(dead_letter{dead_letter_kind::refused,
                                  topic,
                                  payload,
                                  t.error().describe(),
                                  city,
                                  s->gw_id,
                                  {},
                                  {}});
    }
    if (!t) {
        log_error(component, "cannot apply a gateway state city=" + city +
                                 " error=" + log_value(t.error().describe()));
        return count(&ingest_stats::store_errors);
    }
    switch (*t) {
        case gateway_transition::stale_will:
            log_info(component, "ignored a stale Last Will city=" + city +
                                    " bd_seq=" + std::to_string(s->bd_seq));
            return;
        case gateway_transition::went_offline:
            log_info(component, "gateway offline city=" + city);
            broadcast_gateway(city);
            fail_waiters_of(city, "the gateway of city " + city + " went offline");
            return;
        case gateway_transition::came_online:
            return on_birth(city, *s);
    }
}

void gateway_link::on_birth(const std::string& city, const gw_state& s) {
    city_gateways_[city] = city_gateway{s.gw_id.value_or(""), s.version.value_or("")};
    log_info(component, "gateway online city=" + city + " gw_id=" + s.gw_id.value_or("") +
                            " bd_seq=" + std::to_string(s.bd_seq) +
                            " version=" + log_value(s.version.value_or("")));
    broadcast_gateway(city);
    // Older commands first; the full sync sent last supersedes any older one still pending.
    if (auto pending = store_.pending_commands(city)) {
        for (const auto& e : *pending)
            if (!is_full_sync(e)) publish_command(e);
    }
    if (auto r = sync_registry(city); !r)
        log_error("registry",
                  "cannot sync city=" + city + " error=" + log_value(r.error().describe()));
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
    count(&ingest_stats::commands_sent);
}

result<std::string> gateway_link::send_command(std::string_view city, srv_cmd_body body) {
    EQM_TRY_LET(e, make_command(city, std::move(body)));
    EQM_TRY(store_.enqueue_command(e, clock_()));
    publish_command(e);
    return e.cmd_id;
}

void gateway_link::request(std::string_view city, srv_cmd_body body,
                           std::chrono::milliseconds timeout, command_callback done) {
    // The gateway refuses a custody request it sees after the requester stopped waiting.
    if (auto* c = std::get_if<custody_request_cmd>(&body)) c->expires_at = clock_() + timeout;
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
    EQM_TRY_LET(devices, store_.registry_of_city(city));
    EQM_TRY_LET(people, store_.people_for_city(city));
    std::vector<outbox_entry> parts;
    for (auto& cmd : split_full_sync(std::move(devices), std::move(people))) {
        EQM_TRY_LET(e, make_command(city, std::move(cmd)));
        parts.push_back(std::move(e));
    }
    EQM_TRY(store_.enqueue_full_sync(city, parts, clock_()));
    if (parts.size() > 1)
        log_info("registry", "full sync in parts city=" + std::string(city) +
                                 " parts=" + std::to_string(parts.size()));
    for (const auto& e : parts) publish_command(e);
    return {};
}

void gateway_link::broadcast_devices(const std::vector<std::string>& ids) {
    if (ids.empty()) return;
    auto devices = store_.find_devices(ids);
    if (!devices)
        return log_error(component, "cannot read changed devices: " + devices.error().describe());
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
    const auto c = [&](std::string_view name, std::string_view help, std::uint64_t v) {
        out.counter(name, help, static_cast<double>(v));
    };
    c("eqm_ingest_batches_total", "gw/events batches applied", s.batches);
    c("eqm_ingest_events_applied_total", "gateway events applied", s.events_applied);
    c("eqm_ingest_duplicates_total", "replayed gateway events ignored", s.duplicates);
    c("eqm_ingest_gaps_total", "batches that revealed a seq gap", s.gaps);
    c("eqm_ingest_resend_requests_total",
      "srv/acks asking a gateway to resend (after a gap or a refusal by the full queue)",
      s.resend_requests);
    c("eqm_ingest_rounds_total", "ingest transactions, each committing one or more batches",
      s.rounds);
    c("eqm_ingest_queue_refused_total",
      "messages the full ingest queue refused (their gateways send them again)",
      queue_.rejected() + states_.rejected());
    c("eqm_ingest_quarantined_total", "unreadable batches kept as dead letters and acked",
      s.quarantined);
    c("eqm_ingest_refused_batches_total",
      "batches or states whose gw_id is not their city's gateway", s.refused_batches);
    c("eqm_ingest_refused_events_total",
      "events about another city's devices, commands or alerts, or the server's alerts",
      s.refused_events);
    c("eqm_ingest_refused_births_total", "births naming another city's gateway id",
      s.refused_births);
    c("eqm_ingest_lenient_batches_total",
      "batches read with members of a newer minor version ignored", s.lenient_batches);
    c("eqm_dead_letters_total", "messages written to (or counted again in) the dead-letter table",
      s.dead_letters);
    c("eqm_dead_letters_malformed_total", "messages that could not be read at all", s.malformed);
    c("eqm_dead_letters_pruned_total", "dead letters deleted for age or the row cap",
      s.dead_letters_pruned);
    c("eqm_srv_acks_sent_total", "srv/ack messages published", s.acks_sent);
    c("eqm_commands_sent_total", "srv/cmd messages published", s.commands_sent);
    c("eqm_commands_resent_total", "srv/cmd messages published again while awaiting a result",
      s.commands_resent);
    c("eqm_custody_requests_abandoned_total",
      "custody requests taken out of the outbox because nobody waited for them any more",
      s.custody_requests_abandoned);
    c("eqm_ingest_store_errors_total", "batches or states the store could not apply",
      s.store_errors);
    out.gauge("eqm_ingest_queue_depth", "messages waiting for the ingest thread",
              static_cast<double>(queue_.size() + states_.size()));
    out.gauge("eqm_ingest_queue_bytes", "bytes waiting for the ingest thread",
              static_cast<double>(queue_.bytes()));
    out.gauge("eqm_mqtt_connected", "1 while connected to the central broker",
              connected() ? 1.0 : 0.0);
    std::size_t waiting = 0;
    {
        std::lock_guard lock(mutex_);
        waiting = waiters_.size();
    }
    out.gauge("eqm_commands_awaiting_result", "commands an HTTP client waits on",
              static_cast<double>(waiting));
}

}  // namespace eqm::server
