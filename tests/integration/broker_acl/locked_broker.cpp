#include "locked_broker.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "eqm/test/net.hpp"
#include "eqm/test/wait.hpp"

namespace eqm::test {
namespace {

constexpr std::chrono::milliseconds broker_start_timeout{10000};
constexpr std::chrono::milliseconds subscribe_timeout{10000};

std::string read_all(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/// The shipped config with only what must differ in a test replaced: the first listener (its
/// port, on 127.0.0.1), the lines whose first word is a key of `paths` (auth files, certificates,
/// persistence folder), and the log destination.
std::string test_config(const std::filesystem::path& shipped, std::uint16_t port,
                        const std::map<std::string, std::string>& paths) {
    std::ifstream in(shipped);
    if (!in) throw std::runtime_error("cannot read " + shipped.string());
    std::ostringstream conf;
    // As root, mosquitto would drop to the `mosquitto` user, who cannot read our 0700 temp dir.
    if (::geteuid() == 0) conf << "user root\n";
    std::string line;
    bool saw_listener = false;
    while (std::getline(in, line)) {
        const auto word = line.substr(0, line.find(' '));
        if (word == "listener" && !saw_listener) {
            saw_listener = true;
            conf << "listener " << port << " 127.0.0.1\n";
        } else if (const auto it = paths.find(word); it != paths.end()) {
            conf << word << " " << it->second << "\n";
        } else if (word == "log_dest") {
            conf << "log_dest stdout\n";
        } else {
            conf << line << "\n";
        }
    }
    if (!saw_listener) throw std::runtime_error(shipped.string() + " has no listener");
    conf << "log_type debug\n";
    return conf.str();
}

/// Starts mosquitto on `config`, its log in `log`, and waits until it listens on `port`.
std::unique_ptr<child_process> start_mosquitto(const std::filesystem::path& config,
                                               const std::filesystem::path& log,
                                               std::uint16_t port) {
    auto broker = std::make_unique<child_process>(process_options{
        // Line-buffered, so the log can be watched while the broker runs.
        .argv = {"stdbuf", "-oL", "/usr/sbin/mosquitto", "-c", config.string()},
        .env = {},
        .stdout_path = log,
        .stderr_path = {},
        .working_dir = config.parent_path(),
    });
    const bool up = wait_until([&] { return !broker->running() || port_accepts(port); },
                               broker_start_timeout, std::chrono::milliseconds{20});
    if (!up || !broker->running()) {
        throw std::runtime_error("the locked-down broker did not start; log:\n" + read_all(log));
    }
    return broker;
}

/// Sends SIGHUP and waits until the broker logged one more reload than before.
void reload(child_process& broker, const std::filesystem::path& log) {
    const auto before = count_in_file(log, "Reloading config");
    broker.signal(SIGHUP);
    if (!wait_until([&] { return count_in_file(log, "Reloading config") > before; },
                    broker_start_timeout)) {
        throw std::runtime_error("the broker did not reload its config");
    }
}

/// The mosquitto_sub / mosquitto_pub options for a login.
std::vector<std::string> login_args(const mqtt_login& login) {
    std::vector<std::string> args;
    if (!login.user.empty()) args.insert(args.end(), {"-u", login.user, "-P", login.password});
    if (!login.ca_file.empty()) args.insert(args.end(), {"--cafile", login.ca_file.string()});
    if (!login.cert_file.empty())
        args.insert(args.end(),
                    {"--cert", login.cert_file.string(), "--key", login.key_file.string()});
    if (!login.client_id.empty()) args.insert(args.end(), {"-i", login.client_id});
    return args;
}

}  // namespace

run_result run_program(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                       std::chrono::milliseconds timeout) {
    static std::atomic<int> counter{0};
    const auto out = scratch / ("run-" + std::to_string(counter++) + ".out");
    child_process child(process_options{
        .argv = argv, .env = {}, .stdout_path = out, .stderr_path = {}, .working_dir = {}});
    const auto code = child.wait_for_exit(timeout);
    return run_result{code.value_or(-1), read_all(out)};
}

mqtt_login password_login(std::string user, std::string password, std::string client_id) {
    mqtt_login l;
    l.user = std::move(user);
    l.password = std::move(password);
    l.client_id = std::move(client_id);
    return l;
}

std::size_t count_in_file(const std::filesystem::path& file, std::string_view needle) {
    const auto text = read_all(file);
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++count;
    return count;
}

locked_city_broker::locked_city_broker(std::string gateway_id,
                                       const std::vector<registry_entry>& devices)
    : gateway_id_(std::move(gateway_id)), dir_("eqm-broker-acl"), port_(free_port()) {
    generate(devices);
    {
        std::ofstream conf(dir_ / "city.conf");
        conf << test_config(std::filesystem::path(EQM_SOURCE_DIR) / "deploy/mosquitto/city.conf",
                            port_,
                            {{"password_file", (dir_ / "auth" / "passwd").string()},
                             {"acl_file", (dir_ / "auth" / "acl").string()},
                             {"persistence_location", dir_.path().string() + "/"}});
    }
    broker_ = start_mosquitto(dir_ / "city.conf", log_path(), port_);
}

locked_city_broker::~locked_city_broker() {
    if (broker_) broker_->stop(std::chrono::milliseconds{3000});
}

std::string locked_city_broker::uri() const {
    return "tcp://127.0.0.1:" + std::to_string(port_);
}

const std::string& locked_city_broker::password(const std::string& id) const {
    const auto it = passwords_.find(id);
    if (it == passwords_.end()) throw std::runtime_error("no generated password for " + id);
    return it->second;
}

void locked_city_broker::generate(const std::vector<registry_entry>& devices) {
    std::ostringstream registry;
    registry
        << R"({"cmd_id":"c-1","ts":"2026-01-01T00:00:00.000Z","type":"registry_upsert","devices":[)";
    for (std::size_t i = 0; i < devices.size(); ++i) {
        registry << (i ? "," : "") << R"({"id":")" << devices[i].id << R"(","class":")"
                 << devices[i].device_class << R"(","model":"m","city":"450100"})";
    }
    registry << R"(],"people":[]})";
    {
        std::ofstream out(dir_ / "registry.json");
        out << registry.str();
    }
    const auto result = run_program(
        {std::string(EQM_SOURCE_DIR) + "/scripts/gen-broker-auth", "--gateway-id", gateway_id_,
         "--registry", (dir_ / "registry.json").string(), "--out", auth_dir().string()},
        dir_.path());
    if (result.exit_code != 0) {
        throw std::runtime_error("gen-broker-auth failed (" + std::to_string(result.exit_code) +
                                 "): " + result.output);
    }
    load_credentials();
}

void locked_city_broker::load_credentials() {
    passwords_.clear();
    std::ifstream in(auth_dir() / "credentials.csv");
    std::string line;
    while (std::getline(in, line)) {
        const auto comma = line.find(',');
        if (comma == std::string::npos) continue;
        passwords_[line.substr(0, comma)] = line.substr(comma + 1);
    }
}

void locked_city_broker::regenerate(const std::vector<registry_entry>& devices) {
    generate(devices);
    reload(*broker_, log_path());
}

locked_central_broker::locked_central_broker(const std::vector<std::string>& cities)
    : cities_(cities), dir_("eqm-central-tls"), port_(free_port()) {
    run_pki({});
    std::vector<std::string> acl = {std::string(EQM_SOURCE_DIR) + "/scripts/gen-broker-auth",
                                    "--central",
                                    "--server-id",
                                    "eqm-server",
                                    "--out",
                                    (dir_ / "auth").string()};
    for (const auto& c : cities_) acl.insert(acl.end(), {"--gateway", c + "=gw-" + c});
    if (const auto r = run_program(acl, dir_.path()); r.exit_code != 0)
        throw std::runtime_error("gen-broker-auth --central failed: " + r.output);
    {
        std::ofstream conf(dir_ / "central.conf");
        conf << test_config(std::filesystem::path(EQM_SOURCE_DIR) / "deploy/mosquitto/central.conf",
                            port_,
                            {{"cafile", (pki() / "ca.crt").string()},
                             {"certfile", (pki() / "central-broker.crt").string()},
                             {"keyfile", (pki() / "central-broker.key").string()},
                             {"crlfile", (pki() / "ca.crl").string()},
                             {"acl_file", (dir_ / "auth" / "acl").string()},
                             {"persistence_location", dir_.path().string() + "/"}});
    }
    broker_ = start_mosquitto(dir_ / "central.conf", log_path(), port_);
}

locked_central_broker::~locked_central_broker() {
    if (broker_) broker_->stop(std::chrono::milliseconds{3000});
}

std::string locked_central_broker::uri() const {
    return "ssl://127.0.0.1:" + std::to_string(port_);
}

mqtt_login locked_central_broker::login(const std::string& identity) const {
    mqtt_login l;
    l.ca_file = pki() / "ca.crt";
    l.cert_file = pki() / (identity + ".crt");
    l.key_file = pki() / (identity + ".key");
    return l;
}

mqtt_login locked_central_broker::without_certificate() const {
    mqtt_login l;
    l.ca_file = pki() / "ca.crt";
    return l;
}

void locked_central_broker::run_pki(const std::vector<std::string>& extra_args) {
    std::string list;
    for (const auto& c : cities_) list += (list.empty() ? "" : ",") + c;
    std::vector<std::string> argv = {std::string(EQM_SOURCE_DIR) + "/scripts/gen-region-pki",
                                     pki().string(), "--cities", list};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    if (const auto r = run_program(argv, dir_.path()); r.exit_code != 0)
        throw std::runtime_error("gen-region-pki failed: " + r.output);
}

void locked_central_broker::reissue(const std::vector<std::string>& extra_args) {
    run_pki(extra_args);
    reload(*broker_, log_path());
}

subscriber::subscriber(const broker_endpoint& broker, const mqtt_login& login,
                       const std::vector<std::string>& topics, int count,
                       std::chrono::seconds timeout) {
    static std::atomic<int> counter{0};
    out_ = broker.scratch / ("sub-" + std::to_string(counter++) + ".out");
    // Line-buffered, so the SUBACK line shows as soon as it arrives.
    std::vector<std::string> argv = {
        "stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker.port)};
    const auto auth = login_args(login);
    argv.insert(argv.end(), auth.begin(), auth.end());
    argv.insert(argv.end(), {"-q", "1", "-v", "-d", "-C", std::to_string(count), "-W",
                             std::to_string(timeout.count())});
    for (const auto& topic : topics) {
        argv.push_back("-t");
        argv.push_back(topic);
    }
    process_ = std::make_unique<child_process>(process_options{
        .argv = argv, .env = {}, .stdout_path = out_, .stderr_path = {}, .working_dir = {}});
}

subscriber::subscriber(const locked_city_broker& broker, const std::string& user,
                       const std::string& password, const std::vector<std::string>& topics,
                       int count, std::chrono::seconds timeout)
    : subscriber(broker.endpoint(), password_login(user, password), topics, count, timeout) {}

std::string subscriber::wait_subscribed() {
    if (!wait_for_log_line(out_, "Subscribed (mid", subscribe_timeout)) {
        throw std::runtime_error("mosquitto_sub did not get a SUBACK:\n" + read_all(out_));
    }
    const auto text = read_all(out_);
    const auto at = text.find("Subscribed (mid");
    return text.substr(at, text.find('\n', at) - at);
}

std::vector<std::string> subscriber::messages() {
    process_->wait_for_exit(client_timeout + std::chrono::seconds{30});
    std::vector<std::string> lines;
    std::istringstream in(read_all(out_));
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("eqm/")) lines.push_back(line);
    }
    return lines;
}

std::string subscriber::raw() const {
    return read_all(out_);
}

int publish(const broker_endpoint& broker, const mqtt_login& login, const std::string& topic,
            const std::string& payload, bool retain) {
    std::vector<std::string> argv = {"mosquitto_pub", "-h", "127.0.0.1", "-p",
                                     std::to_string(broker.port)};
    const auto auth = login_args(login);
    argv.insert(argv.end(), auth.begin(), auth.end());
    argv.insert(argv.end(), {"-q", "1", "-t", topic, "-m", payload});
    if (retain) argv.push_back("-r");
    return run_program(argv, broker.scratch).exit_code;
}

run_result request_reply(const broker_endpoint& broker, const mqtt_login& login,
                         const std::string& topic, const std::string& payload,
                         const std::string& response_topic, std::chrono::seconds timeout) {
    std::vector<std::string> argv = {"mosquitto_rr", "-h", "127.0.0.1", "-p",
                                     std::to_string(broker.port)};
    const auto auth = login_args(login);
    argv.insert(argv.end(), auth.begin(), auth.end());
    argv.insert(argv.end(), {"-q", "1", "-t", topic, "-m", payload, "-e", response_topic, "-W",
                             std::to_string(timeout.count())});
    return run_program(argv, broker.scratch, timeout + client_timeout);
}

int publish(const locked_city_broker& broker, const std::string& user, const std::string& password,
            const std::string& topic, const std::string& payload, bool retain) {
    return publish(broker.endpoint(), password_login(user, password), topic, payload, retain);
}

}  // namespace eqm::test
