#pragma once
/// The city broker exactly as deployed: deploy/mosquitto/city.conf with the password and ACL
/// files that scripts/gen-broker-auth makes from a registry, on a free 127.0.0.1 port. Only the
/// listener port, the file paths and the log destination are rewritten for the test.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eqm/test/child_process.hpp"
#include "eqm/test/temp_dir.hpp"

namespace eqm::test {

/// Time allowed for a short-lived client (mosquitto_pub, gen-broker-auth) to finish.
inline constexpr std::chrono::milliseconds client_timeout{15000};

/// Result of running a program to completion.
struct run_result {
    int exit_code = -1;
    std::string output;  ///< stdout and stderr together
};

/// Runs argv to completion (killed after `timeout`), capturing its output in `scratch`.
run_result run_program(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                       std::chrono::milliseconds timeout = client_timeout);

/// A device or dock of the test registry.
struct registry_entry {
    std::string id;
    std::string device_class;
};

/// The locked-down city broker and the credentials generated for it.
class locked_city_broker {
  public:
    /// Writes `devices` as a registry_upsert command, runs gen-broker-auth with `gateway_id`,
    /// then starts mosquitto with the shipped city.conf. Throws std::runtime_error on failure.
    locked_city_broker(std::string gateway_id, const std::vector<registry_entry>& devices);
    ~locked_city_broker();

    locked_city_broker(const locked_city_broker&) = delete;
    locked_city_broker& operator=(const locked_city_broker&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    /// "tcp://127.0.0.1:<port>".
    std::string uri() const;
    /// The generated password of `id` (throws when it has none).
    const std::string& password(const std::string& id) const;
    /// True when the generated credentials contain `id`.
    bool has_login(const std::string& id) const { return passwords_.contains(id); }
    /// Regenerates the files for a new device list (same gateway) and reloads the broker
    /// (SIGHUP), as an operator does after a registry change.
    void regenerate(const std::vector<registry_entry>& devices);
    /// The scratch directory (files written by tests go here too).
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    std::filesystem::path log_path() const { return dir_ / "mosquitto.log"; }
    std::filesystem::path auth_dir() const { return dir_ / "auth"; }

  private:
    void generate(const std::vector<registry_entry>& devices);
    void load_credentials();

    std::string gateway_id_;
    temp_dir dir_;
    std::uint16_t port_ = 0;
    std::map<std::string, std::string> passwords_;
    std::unique_ptr<child_process> broker_;
};

/// A mosquitto_sub running in the background as `user`, its output (with -d debug lines, so the
/// SUBACK is visible) in a file.
class subscriber {
  public:
    subscriber(const locked_city_broker& broker, const std::string& user,
               const std::string& password, const std::vector<std::string>& topics, int count,
               std::chrono::seconds timeout);
    /// Waits until the broker has answered the SUBSCRIBE; the SUBACK line (granted QoS per
    /// topic, 128 = refused) is returned.
    std::string wait_subscribed();
    /// Waits for the process to end (after `count` messages or the timeout) and returns the
    /// received "topic payload" lines, debug lines left out.
    std::vector<std::string> messages();
    /// Everything mosquitto_sub printed so far (for failure messages).
    std::string raw() const;

  private:
    std::filesystem::path out_;
    std::unique_ptr<child_process> process_;
};

/// mosquitto_pub as `user` (empty: anonymous), QoS 1; returns its exit code.
int publish(const locked_city_broker& broker, const std::string& user, const std::string& password,
            const std::string& topic, const std::string& payload, bool retain = false);

}  // namespace eqm::test
