// eqm-server: the regional dispatcher.
// - takes in every city gateway's gw/state and gw/events from the central broker, exactly once
//   in effect, and keeps the regional read model in SQLite (gateway_link, region_store);
// - sends commands to gateways through a durable outbox (registry sync, custody requests);
// - serves the REST API and the WebSocket feed (api);
// - `eqm-server user add` creates a user (password on stdin); `eqm-server routes` prints the
//   served routes.
#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <string>

#include "api.hpp"
#include "auth.hpp"
#include "eqm/http/http.hpp"
#include "eqm/runtime/cli.hpp"
#include "gateway_link.hpp"
#include "region.hpp"
#include "region_store.hpp"

namespace {

using namespace eqm;
using namespace eqm::server;

struct user_add_options {
    std::string db;
    std::string name;
    std::string role;
    std::string city;
    std::string badge;
};

int add_user(const user_add_options& o) {
    if (!init_crypto()) {
        std::cerr << "eqm-server: cannot initialise libsodium\n";
        return 1;
    }
    auto role = parse_person_role(o.role);
    if (!role) {
        std::cerr << "eqm-server: --role must be officer, custodian, dispatcher or admin\n";
        return 2;
    }
    if (!o.city.empty() && !find_city(o.city)) {
        std::cerr << "eqm-server: --city must be one of the region's 14 city codes\n";
        return 2;
    }
    if ((*role == person_role::officer || *role == person_role::custodian) && o.city.empty()) {
        std::cerr << "eqm-server: an officer or custodian needs --city\n";
        return 2;
    }
    if (!o.badge.empty() && !is_valid_id(o.badge)) {
        std::cerr << "eqm-server: --badge must match ^[A-Za-z0-9_-]{1,64}$\n";
        return 2;
    }
    if (o.name.empty() || o.name.size() > max_person_name_chars) {
        std::cerr << "eqm-server: --name must be 1..128 characters\n";
        return 2;
    }
    std::string password;
    std::getline(std::cin, password);
    while (!password.empty() && (password.back() == '\r' || password.back() == '\n'))
        password.pop_back();
    if (password.empty()) {
        std::cerr << "eqm-server: no password on stdin\n";
        return 2;
    }
    auto store = open_sqlite_region_store(o.db);
    if (!store) {
        std::cerr << "eqm-server: " << store.error().describe() << '\n';
        return 1;
    }
    auto hash = hash_password(password);
    if (!hash) {
        std::cerr << "eqm-server: " << hash.error().describe() << '\n';
        return 1;
    }
    user_account u;
    // A name that is a valid id is its own id; other names (with spaces, ...) get a random one.
    u.id = is_valid_id(o.name) ? o.name : "u-" + random_hex(6);
    u.name = o.name;
    u.role = *role;
    if (!o.city.empty()) u.city = o.city;
    if (!o.badge.empty()) u.badge = o.badge;
    u.password_hash = std::move(*hash);
    if (auto r = (*store)->insert_user(u); !r) {
        if (r.error().code == errc::conflict) {
            std::cerr << "eqm-server: a user with this name or badge exists already\n";
            return 1;
        }
        std::cerr << "eqm-server: " << r.error().describe() << '\n';
        return 1;
    }
    std::cout << "added user " << u.name << " (id " << u.id << ", role " << o.role << ")\n";
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
    std::string static_dir;
    unsigned threads = 2;
    int token_ttl_minutes = 12 * 60;
    int gateway_timeout_ms = 3000;
    gateway_link_options link;
};

int serve(const serve_options& o) {
    if (o.db.empty()) {
        std::cerr << "eqm-server: --db is required\n";
        return 2;
    }
    if (!init_crypto()) {
        std::cerr << "eqm-server: cannot initialise libsodium\n";
        return 1;
    }
    // Signals are taken by sigwait below; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto store = open_sqlite_region_store(o.db);
    if (!store) {
        std::cerr << "eqm-server: cannot open " << o.db << ": " << store.error().describe() << '\n';
        return 1;
    }
    http::ws_hub hub;
    gateway_link link(**store, hub, system_now, o.link);
    auth_options ao;
    ao.token_ttl = std::chrono::minutes{o.token_ttl_minutes};
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

    http::server_options so;
    so.listen = o.listen;
    so.threads = o.threads;
    so.server_name = "eqm-server";
    http::server web(so, std::move(routes));
    ctx.server = &web;
    if (auto r = web.start(); !r) {
        std::cerr << "eqm-server: cannot listen on " << o.listen << ": " << r.error().describe()
                  << '\n';
        return 1;
    }

    mqtt::session_options mo;
    mo.server_uri = o.mqtt;
    mo.client_id = o.mqtt_client_id;
    // A persistent session: the broker keeps gateway batches for us while we restart.
    mo.clean_session = false;
    if (!o.mqtt_user.empty()) mo.username = o.mqtt_user;
    if (!o.mqtt_password_file.empty()) {
        std::ifstream in(o.mqtt_password_file);
        std::string pw;
        if (!in || !std::getline(in, pw)) {
            std::cerr << "eqm-server: cannot read " << o.mqtt_password_file << '\n';
            return 1;
        }
        mo.password = pw;
    }
    if (!o.mqtt_ca_file.empty()) mo.tls = mqtt::tls_options{o.mqtt_ca_file, "", "", true};
    mo.log = [](std::string_view line) { std::cerr << "eqm-server: mqtt: " << line << '\n'; };
    if (auto r = link.start(std::move(mo)); !r) {
        std::cerr << "eqm-server: bad MQTT options: " << r.error().describe() << '\n';
        web.stop();
        return 1;
    }
    std::cerr << "eqm-server: listening on http://127.0.0.1:" << web.port() << " (--listen "
              << o.listen << "), broker " << o.mqtt << std::endl;

    int sig = 0;
    sigwait(&signals, &sig);
    std::cerr << "eqm-server: stopping on signal " << sig << std::endl;
    web.stop();
    link.stop();
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
    app.add_option("--mqtt-ca-file", so.mqtt_ca_file, "CA certificate (PEM) for ssl:// brokers");
    app.add_option(
        "--static-dir", so.static_dir,
        "serve the files of this directory (dashboards) at / for paths no route matches");
    app.add_option("--threads", so.threads, "HTTP I/O threads")->capture_default_str();
    app.add_option("--token-ttl-minutes", so.token_ttl_minutes, "lifetime of a login token")
        ->capture_default_str();
    app.add_option("--gateway-timeout-ms", so.gateway_timeout_ms,
                   "how long a check-out or check-in waits for the city gateway's answer")
        ->capture_default_str();

    eqm::cli::add_duration(app, "--command-resend-interval", so.link.command_resend_interval,
                           "how often a command still waiting for its gateway's result is "
                           "published again while the gateway is online (0: only after a birth)")
        ->capture_default_str();
    eqm::cli::add_duration(app, "--dead-letter-retention", so.link.dead_letter_retention,
                           "how long a dead letter (malformed, quarantined or refused message) "
                           "is kept after it was last received")
        ->capture_default_str();
    app.add_option("--dead-letter-max-rows", so.link.dead_letter_max_rows,
                   "dead letters kept at most (the oldest go first)")
        ->capture_default_str();
    app.add_option("--ingest-queue-items", so.link.queue.max_items,
                   "gateway messages waiting for the ingest thread at most; beyond it a message "
                   "is refused and its gateway sends it again")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--ingest-queue-bytes", so.link.queue.max_bytes,
                   "bytes of gateway messages waiting for the ingest thread at most")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);

    auto* user = app.add_subcommand("user", "manage users of the REST API");
    user->require_subcommand(1);
    user_add_options uo;
    auto* user_add = user->add_subcommand(
        "add", "add a user; the password is read from the first line of stdin");
    user_add->add_option("--db", uo.db, "SQLite database file")->required();
    user_add->add_option("--name", uo.name, "login name (1..128 characters)")->required();
    user_add->add_option("--role", uo.role, "officer, custodian, dispatcher or admin")->required();
    user_add->add_option("--city", uo.city,
                         "home city code (required for officer and custodian; none: region-wide)");
    user_add->add_option("--badge", uo.badge, "badge id the docks' readers read");

    auto* routes_cmd = app.add_subcommand(
        "routes", "print every route the server serves (METHOD PATH), one per line");

    CLI11_PARSE(app, argc, argv);

    if (user_add->parsed()) return add_user(uo);
    if (routes_cmd->parsed()) {
        eqm::http::router r;
        api_context ctx;
        for (const auto& [m, p] : add_routes(r, ctx)) std::cout << m << ' ' << p << '\n';
        return 0;
    }
    return serve(so);
}
