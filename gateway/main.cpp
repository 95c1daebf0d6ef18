// eqm-gateway: the city gateway.
// - keeps the city's custody ledger (SQLite, WAL): registry replica, custody state, the
//   hash-chained ledger, telemetry, reservations, locks, alerts and the outbox;
// - decides check-outs and check-ins from dock events, its HTTP API and server commands, and
//   acknowledges each decision only after it is committed;
// - tracks device liveness (births and Last Wills) and raises and clears alerts;
// - forwards every change to the central server through a durable outbox, exactly once in
//   effect, with its own birth and Last Will (bd_seq) on the central broker;
// - serves /healthz, /metrics and the city custody API over HTTP (and the kiosk page).
// This file only wires the parts of gateway/src together.
#include <csignal>
#include <cstdio>
#include <thread>

#include "eqm/domain/payloads.hpp"
#include "eqm/domain/try.hpp"
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
/// Matches any one id in a subscription filter.
constexpr std::string_view any_id = "+";

std::string gw_state_payload(const gateway_config& c, clock_ms now, bool online,
                             std::uint64_t bd_seq) {
    gw_state s;
    s.ts = now;
    s.online = online;
    s.bd_seq = bd_seq;
    if (online) {
        s.gw_id = c.gw_id;
        s.version = std::string(gateway_version);
    }
    return to_json_text(s);
}

mqtt::session_options broker_options(const broker_config& b, std::string client_id, broker which) {
    mqtt::session_options o;
    o.server_uri = b.uri;
    o.client_id = std::move(client_id);
    o.username = b.user;
    o.password = b.password;
    if (b.uses_tls())
        o.tls = mqtt::tls_options{b.ca_file.value_or(""), b.cert_file.value_or(""),
                                  b.key_file.value_or(""), true};
    o.log = [name = std::string(to_string(which))](std::string_view line) {
        log_info("mqtt", name + " " + std::string(line));
    };
    return o;
}

/// The two broker sessions, wired to the core (messages in, publishers out).
struct broker_sessions {
    std::unique_ptr<mqtt::session> local;
    std::unique_ptr<mqtt::session> central;
};

result<broker_sessions> connect_brokers(gateway_core& core, const gateway_config& config) {
    const std::string state_topic = format_topic({topic_kind::gw_state, config.city});
    auto local_opts = broker_options(config.local, config.gw_id, broker::local);
    for (auto kind : {topic_kind::device_state, topic_kind::device_event, topic_kind::dock_event})
        local_opts.subscriptions.push_back({format_topic({kind, std::string(any_id)}), 1});
    local_opts.subscriptions.push_back(
        {format_topic({topic_kind::device_telemetry, std::string(any_id)}), 0});
    // One broker may serve as both in small setups; client ids must then differ.
    auto central_opts = broker_options(
        config.central,
        config.central.uri == config.local.uri ? config.gw_id + "-central" : config.gw_id,
        broker::central);
    central_opts.subscriptions = {{format_topic({topic_kind::srv_ack, config.city}), 1},
                                  {format_topic({topic_kind::srv_cmd, config.city}), 1}};
    central_opts.make_will = [&core, &config, state_topic] {
        return std::optional<mqtt::outgoing_message>(mqtt::outgoing_message{
            state_topic, gw_state_payload(config, core.now(), false, core.next_bd_seq()), 1, true});
    };
    central_opts.make_birth = [&core, &config, state_topic] {
        return std::optional<mqtt::outgoing_message>(mqtt::outgoing_message{
            state_topic, gw_state_payload(config, core.now(), true, core.current_bd_seq()), 1,
            true});
    };
    EQM_TRY_LET(local, mqtt::session::create(std::move(local_opts)));
    EQM_TRY_LET(central, mqtt::session::create(std::move(central_opts)));
    for (auto [which, session] :
         {std::pair{broker::local, local.get()}, std::pair{broker::central, central.get()}}) {
        session->on_message([&core, which](std::string topic, std::string payload) {
            core.on_message(which, std::move(topic), std::move(payload));
        });
        session->on_connection([&core, which](bool up) { core.on_connection(which, up); });
    }
    core.set_publishers(
        [s = local.get()](const std::string& t, const std::string& p) {
            return s->publish(t, p, 1, false).has_value();
        },
        [s = central.get()](const std::string& t, const std::string& p) {
            return s->publish(t, p, 1, false).has_value();
        });
    return broker_sessions{std::move(local), std::move(central)};
}

http::server_options http_options(const gateway_config& config) {
    http::server_options o;
    o.listen = config.listen;
    o.threads = 1;
    o.server_name = "eqm-gateway";
    if (config.https) o.tls = http::tls_files{config.https->cert_file, config.https->key_file};
    o.log = [](std::string_view line) { log_warn("http", line); };
    return o;
}

/// Blocks SIGINT and SIGTERM in every thread; one waiting thread takes them and stops the core.
void stop_on_signals(gateway_core& core) {
    static sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    std::thread([&core] {
        int signo = 0;
        sigwait(&signals, &signo);
        log_info("gateway", "signal " + std::to_string(signo) + ", stopping");
        core.stop();
    }).detach();
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

    auto opened = gateway_core::open(config);
    if (!opened) {
        log_error("gateway", "cannot open the ledger: " + opened.error().describe());
        return 1;
    }
    gateway_core& core = **opened;
    stop_on_signals(core);

    auto brokers = connect_brokers(core, config);
    if (!brokers) {
        log_error("gateway", "bad broker settings: " + brokers.error().describe());
        return 2;
    }
    std::atomic<const http::server*> server_ref{nullptr};
    login_desk logins;
    api_context api{core, server_ref, {config.http_hosts, config.http_origins}, logins};
    http::router routes = make_routes(api);
    if (config.static_dir) routes.serve_directory("/", *config.static_dir);
    http::server server(http_options(config), std::move(routes));
    if (auto r = server.start(); !r) {
        log_error("gateway", "cannot serve HTTP: " + r.error().describe());
        return 1;
    }
    server_ref = &server;
    log_info("http", "listening on " + config.listen + " port=" + std::to_string(server.port()) +
                         (config.https ? " https" : ""));

    brokers->local->start();
    brokers->central->start();
    core.run();

    server.stop();
    // A clean disconnect suppresses the Last Will, so say goodbye ourselves.
    (void)brokers->central->publish(
        format_topic({topic_kind::gw_state, config.city}),
        gw_state_payload(config, core.now(), false, core.current_bd_seq()), 1, true);
    brokers->local.reset();
    brokers->central.reset();
    return 0;
}
