// gw_batch_load: speaks as the region's 14 city gateways on the central broker and publishes
// one-event gw_events batches (QoS 1), the way a quiet city sends them.
//
//   gw_batch_load --broker URI birth                       retained births of the 14 gateways
//   gw_batch_load --broker URI --batches N server          N batches per gateway; waits until
//                                                          eqm-server acked every one
//   gw_batch_load --broker URI --batches N publish         the same messages, no acks awaited
//                                                          (the baseline: mosquitto_sub receives)
//
// Every batch holds one telemetry_summary of the city's device `bench-<city>` (the run script
// registers them). In `server` mode each gateway behaves as eqm-gateway's outbox does: it keeps
// its batches until srv/ack covers them, resends from `resend_from` when asked, and from the
// first unacked one after 10 s without ack progress. Prints `START_NS=<epoch ns>` at the first
// publish and, at the end, `RESULT batches=... seconds=... rate=... resends=...` (server: from
// the first publish to the last srv/ack; publish: until the broker took the last one).
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eqm/domain/payloads.hpp"
#include "eqm/domain/region.hpp"
#include "eqm/mqtt/session.hpp"

namespace {

using namespace eqm;
using steady = std::chrono::steady_clock;

/// eqm-gateway's wait before resending from its first unacked event (gateway_config.hpp).
constexpr std::chrono::seconds gateway_retransmit{10};
constexpr std::chrono::milliseconds connect_timeout{10'000};

clock_ms now_ms() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

/// One city's gateway: its session, its batches and how far the server acked them.
struct gateway {
    std::string city;
    std::string gw_id;
    std::vector<std::string> batches;  ///< batch i holds seq i + 1
    std::unique_ptr<mqtt::session> session;
    std::mutex mutex;
    std::uint64_t next = 1;  ///< the seq to publish next
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint64_t> resends{0};
    std::atomic<std::uint64_t> delivered{0};  ///< publishes the broker acknowledged
    steady::time_point last_progress = steady::now();
    steady::time_point done_at{};
};

std::vector<std::string> make_batches(const std::string& city, const std::string& gw_id,
                                      std::uint64_t n) {
    std::vector<std::string> out;
    out.reserve(n);
    const auto minute = std::chrono::floor<std::chrono::minutes>(now_ms());
    for (std::uint64_t seq = 1; seq <= n; ++seq) {
        telemetry_summary_body t;
        t.device_id = "bench-" + city;
        t.minute = minute;
        t.count = seq;
        t.battery_pct_min = 80;
        t.battery_pct_last = 81;
        t.storage_free_mb_last = 20'000;
        t.temp_c_max = 31;
        gw_events b;
        b.ts = now_ms();
        b.gw_id = gw_id;
        b.bd_seq = 1;
        b.events.push_back(gw_event{seq, gw_id + "-" + std::to_string(seq), b.ts, t});
        out.push_back(to_json_text(b));
    }
    return out;
}

void on_ack(gateway& g, const std::string& payload) {
    auto a = parse_srv_ack(payload);
    if (!a) return;
    std::lock_guard lock(g.mutex);
    const auto total = g.batches.size();
    if (a->upto_seq > g.acked) {
        g.acked = std::min<std::uint64_t>(a->upto_seq, total);
        g.last_progress = steady::now();
        if (g.acked == total) g.done_at = steady::now();
        g.next = std::max(g.next, g.acked + 1);
    }
    if (a->resend_from && *a->resend_from > g.acked && *a->resend_from < g.next) {
        g.next = *a->resend_from;
        ++g.resends;
    }
}

bool connect(gateway& g, const std::string& broker, bool birth, bool acks) {
    mqtt::session_options o;
    o.server_uri = broker;
    o.client_id = "bench-" + g.gw_id;
    o.log = [](std::string_view) {};
    if (acks) o.subscriptions = {{format_topic({topic_kind::srv_ack, g.city}), 1}};
    if (birth) {
        const auto topic = format_topic({topic_kind::gw_state, g.city});
        const auto text = to_json_text(gw_state{now_ms(), true, 1, g.gw_id, "0.1.0"});
        o.make_birth = [topic, text]() -> std::optional<mqtt::outgoing_message> {
            return mqtt::outgoing_message{topic, text, 1, true};
        };
    }
    auto s = mqtt::session::create(std::move(o));
    if (!s) return false;
    g.session = std::move(*s);
    if (acks) g.session->on_message([&g](std::string, std::string payload) { on_ack(g, payload); });
    g.session->start();
    return true;
}

/// The next seq gateway `g` should publish, or 0 when it has nothing to send now.
std::uint64_t take_next(gateway& g, bool server_mode) {
    std::lock_guard lock(g.mutex);
    const auto total = g.batches.size();
    if (server_mode && g.acked < total && g.next > g.acked + 1 &&
        steady::now() - g.last_progress > gateway_retransmit) {
        g.next = g.acked + 1;  // no ack for too long: resend from the first unacked batch
        g.last_progress = steady::now();
        ++g.resends;
    }
    if (g.next > total) return 0;
    return g.next++;
}

void give_back(gateway& g, std::uint64_t seq) {
    std::lock_guard lock(g.mutex);
    g.next = std::min(g.next, seq);
}

/// Publishes round-robin over the gateways until every batch is sent (publish mode) or acked
/// (server mode). Returns the time of the first publish.
steady::time_point run(std::vector<std::unique_ptr<gateway>>& gws, bool server_mode,
                       std::int64_t& start_ns) {
    std::optional<steady::time_point> first;
    for (;;) {
        bool sent_any = false, all_done = true;
        for (auto& g : gws) {
            const auto total = g->batches.size();
            if (server_mode ? g->acked < total : true) all_done = false;
            const auto seq = take_next(*g, server_mode);
            if (seq == 0) continue;
            const auto topic = format_topic({topic_kind::gw_events, g->city});
            if (!first) {
                first = steady::now();
                start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
            }
            auto* gp = g.get();
            if (!g->session->publish(topic, g->batches[seq - 1], 1, false, [gp](result<void> r) {
                    if (r) ++gp->delivered;
                })) {
                give_back(*g, seq);  // Paho's buffer is full: try again shortly
                continue;
            }
            sent_any = true;
        }
        if (server_mode && all_done) break;
        if (!server_mode) {
            bool left = false;
            for (auto& g : gws) {
                std::lock_guard lock(g->mutex);
                left = left || g->next <= g->batches.size();
            }
            if (!left) break;
        }
        if (!sent_any) std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
    return *first;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"gw_batch_load: one-event gw_events batches from the 14 city gateways"};
    std::string broker;
    std::uint64_t batches = 2000;
    app.add_option("--broker", broker, "central broker URI")->required();
    app.add_option("--batches", batches, "batches per gateway")->capture_default_str();
    auto* birth_cmd = app.add_subcommand("birth", "publish the gateways' retained births");
    auto* server_cmd = app.add_subcommand("server", "publish and wait for eqm-server's acks");
    auto* publish_cmd = app.add_subcommand("publish", "publish only (baseline)");
    app.require_subcommand(1);
    CLI11_PARSE(app, argc, argv);

    const bool server_mode = server_cmd->parsed();
    std::vector<std::unique_ptr<gateway>> gws;
    for (const auto& c : region_cities) {
        auto g = std::make_unique<gateway>();
        g->city = std::string(c.code);
        g->gw_id = "gw-" + g->city;
        if (!birth_cmd->parsed()) g->batches = make_batches(g->city, g->gw_id, batches);
        if (!connect(*g, broker, birth_cmd->parsed(), server_mode)) return 2;
        gws.push_back(std::move(g));
    }
    for (auto& g : gws)
        if (!g->session->wait_connected(connect_timeout)) {
            std::fprintf(stderr, "gw_batch_load: %s cannot connect to %s\n", g->gw_id.c_str(),
                         broker.c_str());
            return 1;
        }
    if (birth_cmd->parsed()) return 0;

    std::int64_t start_ns = 0;
    const auto first = run(gws, server_mode, start_ns);
    std::printf("START_NS=%lld\n", static_cast<long long>(start_ns));
    auto last = steady::now();
    std::uint64_t resends = 0;
    if (server_mode) {
        last = first;
        for (auto& g : gws) {
            last = std::max(last, g->done_at);
            resends += g->resends;
        }
    }
    if (!server_mode) {
        // The baseline is done when the broker has taken every message (mosquitto_sub then
        // receives the rest); the sessions must not close before.
        for (auto& g : gws)
            while (g->delivered < g->batches.size())
                std::this_thread::sleep_for(std::chrono::milliseconds{1});
        last = steady::now();
    }
    const double seconds = std::chrono::duration<double>(last - first).count();
    const auto total = batches * gws.size();
    std::printf("RESULT batches=%llu seconds=%.3f rate=%.0f resends=%llu\n",
                static_cast<unsigned long long>(total), seconds,
                seconds > 0 ? double(total) / seconds : 0.0,
                static_cast<unsigned long long>(resends));
    (void)publish_cmd;
    return 0;
}
