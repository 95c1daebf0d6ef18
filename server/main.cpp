// eqm-server: the regional dispatcher.
// - takes in every city gateway's gw/state and gw/events from the central broker, exactly once
//   in effect, and keeps the regional read model in SQLite (gateway_link, region_store);
// - sends commands to gateways through a durable outbox (registry sync, custody requests);
// - serves the REST API and the WebSocket feed (api), closing feed connections whose login
//   ended (event_feed);
// - `eqm-server user add` creates a user (password on stdin); `eqm-server routes` prints the
//   served routes.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <string>

#include "api.hpp"
#include "auth.hpp"
#include "eqm/domain/people.hpp"
#include "eqm/domain/try.hpp"
#include "eqm/http/http.hpp"
#include "eqm/runtime/cli.hpp"
#include "eqm/runtime/log.hpp"
#include "eqm/runtime/secret_file.hpp"
#include "event_feed.hpp"
#include "gateway_link.hpp"
#include "region_store.hpp"
#include "reservations_api.hpp"

namespace {

using namespace eqm;
using namespace eqm::server;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

struct user_add_options {
    std::string db;
    std::string name;
    std::string role;
    std::string city;
    std::string badge;
};

std::optional<std::string> given(const std::string& s) {
    return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

/// The first line of stdin, without its line end.
std::string read_password_line() {
    std::string password;
    std::getline(std::cin, password);
    while (!password.empty() && (password.back() == '\r' || password.back() == '\n'))
        password.pop_back();
    return password;
}

/// `eqm-server user add`: the person rules of libs/domain, then the store.
int add_user(const user_add_options& o) {
    auto person = make_person(o.name, o.role, given(o.city), given(o.badge));
    if (!person) {
        std::cerr << "eqm-server: --" << person.error().field << ' ' << person.error().message
                  << '\n';
        return exit_usage;
    }
    const auto password = read_password_line();
    if (password.empty()) {
        std::cerr << "eqm-server: no password on stdin\n";
        return exit_usage;
    }
    if (!init_crypto()) {
        std::cerr << "eqm-server: cannot initialise libsodium\n";
        return exit_failure;
    }
    auto store = open_sqlite_region_store(o.db);
    auto user = store ? new_user(*person, password) : std::unexpected(store.error());
    auto stored = user ? (*store)->insert_user(*user) : std::unexpected(user.error());
    if (!stored) {
        if (stored.error().code == errc::conflict)
            std::cerr << "eqm-server: a user with this name or badge exists already\n";
        else
            std::cerr << "eqm-server: " << stored.error().describe() << '\n';
        return exit_failure;
    }
    std::cout << "added user " << user->name << " (id " << user->id << ", role " << o.role << ")\n";
    return 0;
}

struct serve_options {
    std::string listen = "127.0.0.1:8080";
    std::string mqtt = "tcp://127.0.0.1:1883";
    std::string db;
    std::string mqtt_user;
    std::string mqtt_password_file;
    std::string mqtt_client_id = "eqm-server";
    std::string mqtt_ca_file;
    std::string mqtt_cert_file;
    std::string mqtt_key_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string static_dir;
    unsigned threads = 2;
    std::chrono::milliseconds token_ttl = std::chrono::hours{12};
    int gateway_timeout_ms = 3000;
    std::string log_level = "info";
    gateway_link_options link;
};

/// The central broker session of the options (password file read, TLS files passed on).
result<mqtt::session_options> mqtt_options(const serve_options& o) {
    mqtt::session_options mo;
    mo.server_uri = o.mqtt;
    mo.client_id = o.mqtt_client_id;
    // A persistent session: the broker keeps gateway batches for us while we restart.
    mo.clean_session = false;
    if (!o.mqtt_user.empty()) mo.username = o.mqtt_user;
    if (!o.mqtt_password_file.empty()) {
        EQM_TRY_LET(pw, read_secret_file(o.mqtt_password_file, "--mqtt-password-file"));
        mo.password = std::move(pw);
    }
    if (!o.mqtt_ca_file.empty() || !o.mqtt_cert_file.empty() || !o.mqtt_key_file.empty())
        mo.tls = mqtt::tls_options{o.mqtt_ca_file, o.mqtt_cert_file, o.mqtt_key_file, true};
    mo.log = log_sink(log_level::info, "mqtt");
    return mo;
}

http::server_options http_options(const serve_options& o) {
    http::server_options so;
    so.listen = o.listen;
    so.threads = o.threads;
    so.server_name = "eqm-server";
    if (!o.tls_cert_file.empty()) so.tls = http::tls_files{o.tls_cert_file, o.tls_key_file};
    so.log = log_sink(log_level::warn, "http");
    return so;
}

/// SIGINT and SIGTERM, blocked before any thread starts so sigwait takes them.
sigset_t block_stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    return signals;
}

int fail_with(std::string_view what, const error& e) {
    log_error("server", std::string(what) + " error=" + log_value(e.describe()));
    return exit_failure;
}

int serve(const serve_options& o) {
    if (!init_crypto()) return fail_with("cannot start", error{errc::internal, "", "libsodium"});
    const auto signals = block_stop_signals();
    auto mo = mqtt_options(o);
    if (!mo) return fail_with("bad MQTT options", mo.error());
    auto store = open_sqlite_region_store(o.db);
    if (!store) return fail_with("cannot open db=" + log_value(o.db), store.error());

    http::ws_hub hub;
    gateway_link link(**store, hub, eqm::system_now, o.link);
    auth_options ao;
    ao.token_ttl = o.token_ttl;
    auth_service auth(**store, ao);
    api_context ctx;
    ctx.store = store->get();
    ctx.link = &link;
    ctx.auth = &auth;
    ctx.hub = &hub;
    ctx.gateway_timeout = std::chrono::milliseconds{o.gateway_timeout_ms};
    http::router routes;
    add_routes(routes, ctx);
    if (!o.static_dir.empty()) routes.serve_directory("/", o.static_dir);
    http::server web(http_options(o), std::move(routes));
    ctx.server = &web;
    if (auto r = web.start(); !r) return fail_with("cannot listen on " + o.listen, r.error());
    if (auto r = link.start(std::move(*mo)); !r) {
        web.stop();
        return fail_with("bad MQTT options", r.error());
    }
    feed_guard guard(hub, **store, eqm::system_now);
    guard.start();
    booking_clerk clerk(ctx);
    clerk.start();
    log_info("http", std::string("listening on ") + (o.tls_cert_file.empty() ? "http" : "https") +
                         "://127.0.0.1:" + std::to_string(web.port()) + " listen=" + o.listen +
                         " broker=" + log_value(o.mqtt));

    int sig = 0;
    sigwait(&signals, &sig);
    log_info("server", "stopping signal=" + std::to_string(sig));
    clerk.stop();
    guard.stop();
    web.stop();
    link.stop();
    return 0;
}

void add_serve_options(CLI::App& app, serve_options& so) {
    app.add_option("--listen", so.listen, "HTTP listen address HOST:PORT (port 0: any free port)")
        ->capture_default_str();
    app.add_option("--mqtt", so.mqtt, "central MQTT broker URI (tcp://HOST:PORT or ssl://...)")
        ->capture_default_str();
    app.add_option("--db", so.db,
                   "SQLite database file of the regional read model (created when missing)");
    app.add_option("--mqtt-user", so.mqtt_user, "MQTT user name (anonymous when empty)");
    app.add_option("--mqtt-password-file", so.mqtt_password_file,
                   "file whose first line is the MQTT password");
    app.add_option("--mqtt-client-id", so.mqtt_client_id,
                   "MQTT client id; keep it stable so the broker holds messages across restarts")
        ->capture_default_str();
    app.add_option("--mqtt-ca-file", so.mqtt_ca_file,
                   "CA certificate (PEM) the ssl:// broker's certificate must chain to");
    app.add_option("--mqtt-cert-file", so.mqtt_cert_file,
                   "client certificate (PEM) for the ssl:// broker (its CN is the MQTT user)");
    app.add_option("--mqtt-key-file", so.mqtt_key_file, "private key (PEM) of --mqtt-cert-file");
    auto* cert =
        app.add_option("--tls-cert-file", so.tls_cert_file,
                       "serve HTTPS and WSS with this certificate chain (PEM); plain HTTP without");
    auto* key =
        app.add_option("--tls-key-file", so.tls_key_file, "private key (PEM) of --tls-cert-file");
    cert->needs(key);
    key->needs(cert);
    app.add_option("--static-dir", so.static_dir,
                   "serve the files of this directory (dashboards) at / for paths no route "
                   "matches");
    app.add_option("--threads", so.threads, "HTTP I/O threads")->capture_default_str();
    cli::add_duration(app, "--token-ttl", so.token_ttl, "lifetime of a login token", "m");
    app.add_option_function<int>(
        "--token-ttl-minutes", [&so](int m) { so.token_ttl = std::chrono::minutes{m}; },
        "lifetime of a login token in minutes (the same as --token-ttl Nm)");
    app.add_option("--gateway-timeout-ms", so.gateway_timeout_ms,
                   "how long a check-out or check-in waits for the city gateway's answer")
        ->capture_default_str();
    app.add_option("--log-level", so.log_level, "debug, info, warn or error")
        ->capture_default_str()
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
}

/// How the ingest treats gateways: command resends, dead letters, the ingest queue's bounds.
void add_link_options(CLI::App& app, gateway_link_options& link) {
    cli::add_duration(app, "--command-resend-interval", link.command_resend_interval,
                      "how often a command still waiting for its gateway's result is "
                      "published again while the gateway is online (0: only after a birth)")
        ->capture_default_str();
    cli::add_duration(app, "--dead-letter-retention", link.dead_letter_retention,
                      "how long a dead letter (malformed, quarantined or refused message) "
                      "is kept after it was last received")
        ->capture_default_str();
    app.add_option("--dead-letter-max-rows", link.dead_letter_max_rows,
                   "dead letters kept at most (the oldest go first)")
        ->capture_default_str();
    app.add_option("--ingest-queue-items", link.queue.max_items,
                   "gateway messages waiting for the ingest thread at most; beyond it a message "
                   "is refused and its gateway sends it again")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--ingest-queue-bytes", link.queue.max_bytes,
                   "bytes of gateway messages waiting for the ingest thread at most")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
}

CLI::App* add_user_command(CLI::App& app, user_add_options& uo) {
    auto* user = app.add_subcommand("user", "manage users of the REST API");
    user->require_subcommand(1);
    auto* add = user->add_subcommand(
        "add", "add a user; the password is read from the first line of stdin");
    add->add_option("--db", uo.db, "SQLite database file")->required();
    add->add_option("--name", uo.name, "login name (1..128 characters)")->required();
    add->add_option("--role", uo.role, "officer, custodian, dispatcher or admin")->required();
    add->add_option("--city", uo.city,
                    "home city code (required for officer and custodian; none: region-wide)");
    add->add_option("--badge", uo.badge, "badge id the docks' readers read");
    return add;
}

int print_routes() {
    http::router r;
    api_context ctx;
    for (const auto& [m, p] : add_routes(r, ctx)) std::cout << m << ' ' << p << '\n';
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "eqm-server: the regional dispatcher. Takes in every city gateway's events from the "
        "central MQTT broker, keeps the regional read model in SQLite, and serves the REST API "
        "(/api/v1), the WebSocket feed (/api/v1/events), /healthz and /metrics."};
    app.set_config("--config", "",
                   "read options from this TOML or INI file (key = value, e.g. listen = "
                   "\"127.0.0.1:8080\"); command-line flags override it");
    serve_options so;
    add_serve_options(app, so);
    add_link_options(app, so.link);
    user_add_options uo;
    auto* user_add = add_user_command(app, uo);
    auto* routes_cmd = app.add_subcommand(
        "routes", "print every route the server serves (METHOD PATH), one per line");
    CLI11_PARSE(app, argc, argv);

    if (user_add->parsed()) return add_user(uo);
    if (routes_cmd->parsed()) return print_routes();
    if (so.db.empty()) {
        std::cerr << "eqm-server: --db is required\n";
        return exit_usage;
    }
    set_log_level(parse_log_level(so.log_level).value_or(log_level::info));
    return serve(so);
}
