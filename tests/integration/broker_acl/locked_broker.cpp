#include "locked_broker.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
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

/// The shipped config with only what must differ in a test replaced: the listener's port,
/// the auth files, the persistence folder and the log destination.
std::string test_config(const std::filesystem::path& shipped, std::uint16_t port,
                        const std::filesystem::path& dir) {
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
        } else if (word == "password_file") {
            conf << "password_file " << (dir / "auth" / "passwd").string() << "\n";
        } else if (word == "acl_file") {
            conf << "acl_file " << (dir / "auth" / "acl").string() << "\n";
        } else if (word == "persistence_location") {
            conf << "persistence_location " << dir.string() << "/\n";
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

locked_city_broker::locked_city_broker(std::string gateway_id,
                                       const std::vector<registry_entry>& devices)
    : gateway_id_(std::move(gateway_id)), dir_("eqm-broker-acl"), port_(free_port()) {
    generate(devices);
    {
        std::ofstream conf(dir_ / "city.conf");
        conf << test_config(std::filesystem::path(EQM_SOURCE_DIR) / "deploy/mosquitto/city.conf",
                            port_, dir_.path());
    }
    broker_ = std::make_unique<child_process>(process_options{
        // Line-buffered, so the log can be watched while the broker runs.
        .argv = {"stdbuf", "-oL", "/usr/sbin/mosquitto", "-c", (dir_ / "city.conf").string()},
        .env = {},
        .stdout_path = log_path(),
        .stderr_path = {},
        .working_dir = dir_.path(),
    });
    const bool up = wait_until([this] { return !broker_->running() || port_accepts(port_); },
                               broker_start_timeout, std::chrono::milliseconds{20});
    if (!up || !broker_->running()) {
        throw std::runtime_error("the locked-down broker did not start; log:\n" +
                                 read_all(log_path()));
    }
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
    broker_->signal(SIGHUP);
    // The broker logs the reload; wait for it so the next client meets the new files.
    const auto reloads = [this] {
        const auto log = read_all(log_path());
        std::size_t count = 0;
        for (auto at = log.find("Reloading config"); at != std::string::npos;
             at = log.find("Reloading config", at + 1)) {
            ++count;
        }
        return count;
    };
    if (!wait_until([&] { return reloads() >= 1; }, broker_start_timeout)) {
        throw std::runtime_error("the broker did not reload its config");
    }
}

subscriber::subscriber(const locked_city_broker& broker, const std::string& user,
                       const std::string& password, const std::vector<std::string>& topics,
                       int count, std::chrono::seconds timeout) {
    static std::atomic<int> counter{0};
    out_ = broker.dir() / ("sub-" + std::to_string(counter++) + ".out");
    // Line-buffered, so the SUBACK line shows as soon as it arrives.
    std::vector<std::string> argv = {"stdbuf",
                                     "-oL",
                                     "mosquitto_sub",
                                     "-h",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(broker.port()),
                                     "-u",
                                     user,
                                     "-P",
                                     password,
                                     "-q",
                                     "1",
                                     "-v",
                                     "-d",
                                     "-C",
                                     std::to_string(count),
                                     "-W",
                                     std::to_string(timeout.count())};
    for (const auto& topic : topics) {
        argv.push_back("-t");
        argv.push_back(topic);
    }
    process_ = std::make_unique<child_process>(process_options{
        .argv = argv, .env = {}, .stdout_path = out_, .stderr_path = {}, .working_dir = {}});
}

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

int publish(const locked_city_broker& broker, const std::string& user, const std::string& password,
            const std::string& topic, const std::string& payload, bool retain) {
    std::vector<std::string> argv = {
        "mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-q", "1", "-t",
        topic,           "-m", payload};
    if (!user.empty()) {
        argv.insert(argv.end(), {"-u", user, "-P", password});
    }
    if (retain) argv.push_back("-r");
    return run_program(argv, broker.dir()).exit_code;
}

}  // namespace eqm::test
