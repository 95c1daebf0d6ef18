#pragma once
/// The brokers exactly as deployed, on free 127.0.0.1 ports: deploy/mosquitto/city.conf with the
/// password and ACL files that scripts/gen-broker-auth makes from a registry, and
/// deploy/mosquitto/central.conf (TLS with client certificates) with the certificates of
/// scripts/gen-region-pki and the ACL of gen-broker-auth --central. Only the listener, the file
/// paths and the log destination are rewritten for the test.
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

/// Who a test client is on a broker: a password login (city broker) or a certificate (central
/// broker, TLS), and optionally the client id it asks for.
struct mqtt_login {
    std::string user;  ///< empty: no user name
    std::string password;
    std::filesystem::path ca_file;    ///< set: TLS, the broker's certificate checked against it
    std::filesystem::path cert_file;  ///< client certificate (with key_file); empty: none
    std::filesystem::path key_file;
    std::string client_id;  ///< empty: the tool makes one up
};

/// A password login, optionally asking for a client id.
mqtt_login password_login(std::string user, std::string password, std::string client_id = {});

/// Where a test broker listens, and where its clients keep their output files.
struct broker_endpoint {
    std::uint16_t port = 0;
    std::filesystem::path scratch;
};

/// How many times `needle` occurs in `file` (0 when it does not exist).
std::size_t count_in_file(const std::filesystem::path& file, std::string_view needle);

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
    broker_endpoint endpoint() const { return {port_, dir_.path()}; }
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

/// The central broker as deployed: TLS only, a client certificate of the region CA required,
/// the certificate's CN is the user name and the client id. Its PKI (scripts/gen-region-pki for
/// `cities`) and ACL (scripts/gen-broker-auth --central, identities eqm-server and gw-<city>)
/// are made fresh in a temp dir.
class locked_central_broker {
  public:
    /// Throws std::runtime_error when a script fails or the broker does not start.
    explicit locked_central_broker(const std::vector<std::string>& cities);
    ~locked_central_broker();

    locked_central_broker(const locked_central_broker&) = delete;
    locked_central_broker& operator=(const locked_central_broker&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    broker_endpoint endpoint() const { return {port_, dir_.path()}; }
    /// "ssl://127.0.0.1:<port>".
    std::string uri() const;
    /// The folder gen-region-pki wrote (ca.crt, gw-450100.crt|key, ...).
    std::filesystem::path pki() const { return dir_ / "pki"; }
    /// The certificate login of `identity` (a file name in pki(): gw-450100, eqm-server).
    mqtt_login login(const std::string& identity) const;
    /// TLS with the region CA but no client certificate.
    mqtt_login without_certificate() const;
    /// Re-runs gen-region-pki with `extra_args` (e.g. {"--renew", "gw-450100"}), then reloads
    /// the broker (SIGHUP) so it reads the new CRL, as an operator does.
    void reissue(const std::vector<std::string>& extra_args);
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }
    std::filesystem::path log_path() const { return dir_ / "mosquitto.log"; }

  private:
    void run_pki(const std::vector<std::string>& extra_args);

    std::vector<std::string> cities_;
    temp_dir dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<child_process> broker_;
};

/// A mosquitto_sub running in the background, its output (with -d debug lines, so the SUBACK
/// is visible) in a file.
class subscriber {
  public:
    subscriber(const broker_endpoint& broker, const mqtt_login& login,
               const std::vector<std::string>& topics, int count, std::chrono::seconds timeout);
    /// As `user` with `password` on the city broker.
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

/// mosquitto_pub with `login`, QoS 1; returns its exit code (0: the broker took the message,
/// which for a topic the ACL denies still means it was dropped silently).
int publish(const broker_endpoint& broker, const mqtt_login& login, const std::string& topic,
            const std::string& payload, bool retain = false);

/// mosquitto_rr with `login`: one connection that subscribes to `response_topic`, publishes
/// `payload` on `topic` (QoS 1) and waits up to `timeout` for one answer, as a dock does with
/// its ack. The output is the answer's payload (empty when none came).
run_result request_reply(const broker_endpoint& broker, const mqtt_login& login,
                         const std::string& topic, const std::string& payload,
                         const std::string& response_topic, std::chrono::seconds timeout);

/// mosquitto_pub as `user` (empty: anonymous) on the city broker, QoS 1; returns its exit code.
int publish(const locked_city_broker& broker, const std::string& user, const std::string& password,
            const std::string& topic, const std::string& payload, bool retain = false);

}  // namespace eqm::test
