#pragma once
/// A real Mosquitto broker for one test: own config in a temp dir, its own free port on
/// 127.0.0.1, persistence off, stopped (and reaped) by the destructor.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "eqm/test/child_process.hpp"
#include "eqm/test/temp_dir.hpp"

namespace eqm::test {

/// How the broker is configured.
struct broker_options {
    /// `allow_anonymous true|false`. With a password file, set false to force logins.
    bool allow_anonymous = true;
    /// `password_file` (make it with `mosquitto_passwd -b -c FILE USER PASSWORD`); empty: none.
    std::filesystem::path password_file;
    /// `acl_file`; empty: none (everything allowed).
    std::filesystem::path acl_file;
    /// Appended verbatim to the listener section, one config line each.
    std::vector<std::string> extra_lines;
    /// Path of the broker binary.
    std::filesystem::path binary = "/usr/sbin/mosquitto";
};

/// Default time allowed for the broker to accept TCP after it is started.
inline constexpr std::chrono::milliseconds broker_start_timeout{10000};

/// A running Mosquitto. Constructing starts it and waits until its port accepts TCP
/// (throws std::runtime_error with the broker's log when it does not).
class mosquitto_broker {
  public:
    explicit mosquitto_broker(broker_options options = {});
    ~mosquitto_broker();

    mosquitto_broker(const mosquitto_broker&) = delete;
    mosquitto_broker& operator=(const mosquitto_broker&) = delete;

    /// The TCP port on 127.0.0.1; stays the same across stop()/start().
    std::uint16_t port() const noexcept { return port_; }
    /// "tcp://127.0.0.1:<port>".
    std::string uri() const;
    /// The current run's log (`log_type all`, flushed per line); earlier runs stay next to
    /// it as mosquitto.<n>.log, and each run's stdout/stderr as mosquitto.<n>.out.
    std::filesystem::path log_path() const;
    /// The generated mosquitto.conf.
    std::filesystem::path config_path() const;
    /// The broker's scratch directory (also a handy place for password/ACL files).
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }

    /// Graceful stop (SIGTERM, then SIGKILL after a grace period). No-op when stopped.
    void stop();
    /// Abrupt stop (SIGKILL), as when the broker's machine loses power. No-op when stopped.
    void kill();
    /// Starts again on the same port (for outage tests); no-op when running.
    void start();
    /// True while the broker process is alive.
    bool running();

  private:
    void write_config(const std::filesystem::path& log_file) const;
    /// One attempt on the current port: true when this broker is up and owns the port.
    bool start_once();

    broker_options options_;
    temp_dir dir_;
    std::uint16_t port_ = 0;
    std::unique_ptr<child_process> process_;
    int starts_ = 0;
    std::string last_start_log_;
};

}  // namespace eqm::test
