// eqm-gateway: the city gateway.
// - keeps the city's custody ledger (SQLite, WAL): registry replica, custody state, the
//   hash-chained ledger, telemetry, reservations, locks, alerts and the outbox;
// - decides check-outs and check-ins from dock events, its HTTP API and server commands, and
//   acknowledges each decision only after it is committed;
// - tracks device liveness (births and Last Wills) and raises and clears alerts;
// - forwards every change to the central server through a durable outbox, exactly once in
//   effect, with its own birth and Last Will (bd_seq) on the central broker;
// - serves /healthz, /metrics and the city custody API over HTTP.
// This file only wires the parts of gateway/src together.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "eqm/domain/payloads.hpp"
#include "eqm/http/server.hpp"
#include "eqm/mqtt/session.hpp"
#include "eqm/runtime/log.hpp"
#include "gateway_config.hpp"
#include "gateway_core.hpp"
#include "http_api.hpp"

namespace {

using namespace eqm;
using namespace eqm::gateway;

constexpr std::string_view gateway_version = EQM_VERSION;

clock_ms clock_now() {
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

mqtt::session_options broker_options(const broker_config& b, std::string client_id,
                                     std::string_view name) {
    mqtt::session_options o;
    o.server_uri = b.uri;
    o.client_id = std::move(client_id);
    o.username = b.user;
    o.password = b.password;
    if (b.ca_file || b.cert_file)
        o.tls = mqtt::tls_options{b.ca_file.value_or(""), b.cert_file.value_or(""),
                                  b.key_file.value_or(""), true};
    o.log = [name = std::string(name)](std::string_view line) {
        log_info("mqtt", name + " " + std::string(line));
    };
    return o;
}

std::string gw_state_payload(const gateway_config& c, bool online, std::uint64_t bd_seq) {
    gw_state s;
    s.ts = clock_now();
    s.online = online;
    s.bd_seq = bd_seq;
    if (online) {
        s.gw_id = c.gw_id;
        s.version = std::string(gateway_version);
    }
    return to_json_text(s);
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse_command_line(argc, argv);
    if (!parsed.config) {
        std::fputs(parsed.output.c_str(), parsed.exit_code == 0 ? stdout : stderr);
        return parsed.exit_code;
    }
    const gateway_config config = *parsed.config;
    set_log_level(config.level);

    // Signals are taken by one waiting thread; every other thread blocks them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    auto opened = gateway_core::open(config);
    if (!opened) {
        log_error("gateway", "cannot open the ledger: " + opened.error().describe());
        return 1;
    }
    gateway_core& core = **opened;

    const std::string state_topic = "eqm/v1/city/" + config.city + "/gw/state";
    auto local_opts = broker_options(config.local, config.gw_id, "local");
    local_opts.subscriptions = {{"eqm/v1/dev/+/state", 1},
                                {"eqm/v1/dev/+/telemetry", 0},
                                {"eqm/v1/dev/+/event", 1},
                                {"eqm/v1/dock/+/event", 1}};
    // One broker may serve as both in small setups; client ids must then differ.
    auto central_opts = broker_options(
        config.central,
        config.central.uri == config.local.uri ? config.gw_id + "-central" : config.gw_id,
        "central");
    central_opts.subscriptions = {{"eqm/v1/city/" + config.city + "/srv/ack", 1},
                                  {"eqm/v1/city/" + config.city + "/srv/cmd", 1}};
    central_opts.make_will = [&core, &config, state_topic] {
        return std::optional<mqtt::outgoing_message>(mqtt::outgoing_message{
            state_topic, gw_state_payload(config, false, core.next_bd_seq()), 1, true});
    };
    central_opts.make_birth = [&core, &config, state_topic] {
        return std::optional<mqtt::outgoing_message>(mqtt::outgoing_message{
            state_topic, gw_state_payload(config, true, core.current_bd_seq()), 1, true});
    };

    auto local = mqtt::session::create(std::move(local_opts));
    auto central = mqtt::session::create(std::move(central_opts));
    if (!local || !central) {
        log_error("gateway",
                  "bad broker settings: " + (local ? central.error() : local.error()).describe());
        return 2;
    }
    (*local)->on_message([&core](std::string topic, std::string payload) {
        core.on_message(false, std::move(topic), std::move(payload));
    });
    (*local)->on_connection([&core](bool up) { core.on_connection(false, up); });
    (*central)->on_message([&core](std::string topic, std::string payload) {
        core.on_message(true, std::move(topic), std::move(payload));
    });
    (*central)->on_connection([&core](bool up) { core.on_connection(true, up); });
    mqtt::session& local_session = **local;
    mqtt::session& central_session = **central;
    core.set_publishers(
        [&local_session](const std::string& t, const std::string& p) {
            return local_session.publish(t, p, 1, false).has_value();
        },
        [&central_session](const std::string& t, const std::string& p) {
            return central_session.publish(t, p, 1, false).has_value();
        });

    std::atomic<const http::server*> server_ref{nullptr};
    http::server_options http_opts;
    http_opts.listen = config.listen;
    http_opts.threads = 1;
    http_opts.server_name = "eqm-gateway";
    if (config.tls_cert_file)
        http_opts.tls = http::tls_files{*config.tls_cert_file, config.tls_key_file.value_or("")};
    http_opts.log = [](std::string_view line) { log_warn("http", line); };
    http::server server(http_opts, make_routes(core, server_ref));
    if (auto r = server.start(); !r) {
        log_error("gateway", "cannot serve HTTP: " + r.error().describe());
        return 1;
    }
    server_ref = &server;
    log_info("http", "listening on " + config.listen + " port=" + std::to_string(server.port()));

    local_session.start();
    central_session.start();

    std::thread signal_waiter([&core, &signals] {
        int signo = 0;
        sigwait(&signals, &signo);
        log_info("gateway", "signal " + std::to_string(signo) + ", stopping");
        core.stop();
    });
    signal_waiter.detach();

    core.run();

    server.stop();
    // A clean disconnect suppresses the Last Will, so say goodbye ourselves.
    (void)central_session.publish(state_topic,
                                  gw_state_payload(config, false, core.current_bd_seq()), 1, true);
    local.value().reset();
    central.value().reset();
    return 0;
}
