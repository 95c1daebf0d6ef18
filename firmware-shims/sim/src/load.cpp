// `eqm-sim load`: QoS 0 telemetry from N device ids at a total rate, over a few plain MQTT
// connections (the broker's cost is per message, not per connection), plus optional QoS 1
// events through the SDK's outbox to count what the gateway acknowledged.
// The telemetry goes through a minimal MQTT 3.1.1 writer (CONNECT, QoS 0 PUBLISH, DISCONNECT)
// that batches packets into large writes: a load generator must never be the bottleneck of the
// benchmark it drives, and a general client's per-message bookkeeping would be.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>
#include <utility>

#include "eqm/device/device.hpp"
#include "fleet_runner.hpp"

namespace eqm::sim {
namespace {

using namespace std::chrono_literals;

/// Bytes of PUBLISH packets gathered before one write(2).
constexpr std::size_t write_batch_bytes = 64 * 1024;
/// Messages between two clock reads when running for a duration.
constexpr std::uint64_t deadline_check_every = 64;
constexpr int keep_alive_s = 60;
constexpr int io_timeout_s = 10;

/// One MQTT 3.1.1 connection that only publishes at QoS 0 (tcp:// URIs only).
class raw_publisher {
  public:
    raw_publisher() = default;
    raw_publisher(const raw_publisher&) = delete;
    raw_publisher& operator=(const raw_publisher&) = delete;
    raw_publisher(raw_publisher&& o) noexcept
        : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}
    ~raw_publisher() {
        if (fd_ >= 0) ::close(fd_);
    }

    /// Connects and waits for CONNACK; returns an error text, empty on success.
    std::string connect(const std::string& uri, const std::string& client_id,
                        const credentials& auth) {
        constexpr std::string_view scheme = "tcp://";
        if (!uri.starts_with(scheme)) return "load mode supports tcp:// brokers only";
        const auto hostport = uri.substr(scheme.size());
        const auto colon = hostport.rfind(':');
        const std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
        const std::string port = colon == std::string::npos ? "1883" : hostport.substr(colon + 1);
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
            return "cannot resolve " + host;
        for (auto* a = res; a; a = a->ai_next) {
            fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
            if (fd_ >= 0) ::close(fd_);
            fd_ = -1;
        }
        ::freeaddrinfo(res);
        if (fd_ < 0) return std::string("connect: ") + std::strerror(errno);
        timeval tv{io_timeout_s, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

        std::string body;
        put_string(body, "MQTT");
        body.push_back(4);          // protocol level 3.1.1
        std::uint8_t flags = 0x02;  // clean session
        if (!auth.user.empty()) flags |= 0x80;
        if (!auth.password.empty()) flags |= 0x40;
        body.push_back(static_cast<char>(flags));
        body.push_back(static_cast<char>(keep_alive_s >> 8));
        body.push_back(static_cast<char>(keep_alive_s & 0xff));
        put_string(body, client_id);
        if (!auth.user.empty()) put_string(body, auth.user);
        if (!auth.password.empty()) put_string(body, auth.password);
        put_header(buf_, 0x10, body.size());
        buf_ += body;
        if (!flush()) return error_;
        unsigned char ack[4];
        std::size_t got = 0;
        while (got < sizeof ack) {
            const auto n = ::read(fd_, ack + got, sizeof ack - got);
            if (n <= 0) return "no CONNACK from the broker";
            got += static_cast<std::size_t>(n);
        }
        if (ack[0] != 0x20 || ack[3] != 0)
            return "broker refused the connection (CONNACK code " + std::to_string(ack[3]) + ")";
        return {};
    }

    /// Queues one QoS 0 PUBLISH; writes when the batch is full. False on a write error.
    bool publish(const std::string& topic, const std::string& payload) {
        put_header(buf_, 0x30, 2 + topic.size() + payload.size());
        put_string(buf_, topic);
        buf_ += payload;
        return buf_.size() < write_batch_bytes || flush();
    }

    /// Writes everything queued.
    bool flush() {
        std::string_view data = buf_;
        while (!data.empty()) {
            const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                error_ = std::string("write: ") + std::strerror(errno);
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        buf_.clear();
        return true;
    }

    /// Sends DISCONNECT and closes. Like mosquitto_pub, "sent" means handed to the kernel: the
    /// close is graceful, so the broker still reads every byte (the benchmark's subscriber
    /// counts the deliveries to prove it).
    bool finish() {
        buf_.push_back(static_cast<char>(0xe0));
        buf_.push_back(0);
        if (!flush()) return false;
        ::close(std::exchange(fd_, -1));
        return true;
    }

    const std::string& error() const { return error_; }

  private:
    static void put_header(std::string& out, std::uint8_t type, std::size_t remaining) {
        out.push_back(static_cast<char>(type));
        do {
            std::uint8_t byte = remaining % 128;
            remaining /= 128;
            if (remaining > 0) byte |= 0x80;
            out.push_back(static_cast<char>(byte));
        } while (remaining > 0);
    }
    static void put_string(std::string& out, std::string_view s) {
        out.push_back(static_cast<char>(s.size() >> 8));
        out.push_back(static_cast<char>(s.size() & 0xff));
        out += s;
    }

    int fd_ = -1;
    std::string buf_;
    std::string error_;
};

}  // namespace

std::string load_payload(std::uint64_t seq) {
    char buf[192];
    std::snprintf(
        buf, sizeof buf,
        "{\"ts\":\"2026-03-02T01:00:00.000Z\",\"seq\":%llu,\"battery_pct\":%.1f,"
        "\"storage_free_mb\":%.1f,\"temp_c\":%.1f,\"docked\":false}",
        static_cast<unsigned long long>(seq), 20.0 + static_cast<double>(seq % 800) / 10.0,
        30000.0 + static_cast<double>(seq % 1000), 25.0 + static_cast<double>(seq % 100) / 10.0);
    return buf;
}

int run_load(const load_options& o) {
    const int connections = std::max(1, std::min(o.connections, o.devices));
    std::vector<std::string> topics;
    for (int i = 0; i < o.devices; ++i) {
        char id[64];
        std::snprintf(id, sizeof id, "%s-load-%05d", o.city.c_str(), i);
        topics.push_back(device::telemetry_topic(id));
    }

    // QoS 1 events first, through the SDK, so their acks can arrive while telemetry flows.
    std::vector<std::unique_ptr<device::device_session>> event_senders;
    if (o.events > 0) {
        device::device_options opt;
        char id[64];
        std::snprintf(id, sizeof id, "%s-load-ev", o.city.c_str());
        opt.id = id;
        opt.klass = device_class::body_camera;
        opt.model = "load";
        opt.broker_uri = o.broker_uri;
        opt.username = o.auth.user;
        opt.password = o.auth.password;
        opt.state_dir = o.state_dir;
        opt.durable = false;
        opt.log = [](std::string_view line) { std::cerr << line << '\n'; };
        auto s = device::device_session::open(std::move(opt));
        if (!s) {
            std::cerr << "eqm-sim load: " << s.error().describe() << '\n';
            return 1;
        }
        event_senders.push_back(std::move(*s));
    }

    std::vector<raw_publisher> conns(static_cast<std::size_t>(connections));
    for (int c = 0; c < connections; ++c) {
        char id[64];
        std::snprintf(id, sizeof id, "eqm-sim-load-%d-%d", static_cast<int>(::getpid()), c);
        auto err = conns[static_cast<std::size_t>(c)].connect(o.broker_uri, id, o.auth);
        if (!err.empty()) {
            std::cerr << "eqm-sim load: cannot connect to " << o.broker_uri << ": " << err << '\n';
            return 1;
        }
    }

    for (int i = 0; i < o.events && !event_senders.empty(); ++i)
        (void)event_senders.front()->emit_event({{"type", "fault"}, {"code", "load_test"}});

    // Each connection publishes its share on its own thread.
    std::atomic<std::uint64_t> sent{0}, failed{0};
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(o.duration_s));
    std::vector<std::thread> workers;
    for (int c = 0; c < connections; ++c) {
        workers.emplace_back([&, c] {
            auto& conn = conns[static_cast<std::size_t>(c)];
            const auto conns_n = static_cast<std::uint64_t>(connections);
            const std::uint64_t share =
                o.count > 0 ? o.count / conns_n +
                                  (static_cast<std::uint64_t>(c) < o.count % conns_n ? 1 : 0)
                            : 0;
            const double per_conn_rate = o.rate > 0 ? o.rate / connections : 0;
            std::uint64_t n = 0;
            std::size_t topic_index = static_cast<std::size_t>(c);
            bool ok = true;
            while (ok) {
                if (o.count > 0 ? n >= share
                                : (n % deadline_check_every == 0 &&
                                   std::chrono::steady_clock::now() >= deadline))
                    break;
                if (per_conn_rate > 0) {
                    const auto due =
                        start +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(n) / per_conn_rate));
                    if (due > std::chrono::steady_clock::now()) {
                        ok = conn.flush();  // what is due now goes out before we sleep
                        std::this_thread::sleep_until(due);
                    }
                }
                ok = ok && conn.publish(topics[topic_index], load_payload(n));
                if (ok) ++n;
                topic_index += static_cast<std::size_t>(connections);
                if (topic_index >= topics.size())
                    topic_index = static_cast<std::size_t>(c) % topics.size();
            }
            // DISCONNECT, then wait for the broker to close: everything sent has been read by it.
            ok = ok && conn.finish();
            if (!ok) {
                ++failed;
                std::cerr << "eqm-sim load: connection " << c << " failed: " << conn.error()
                          << '\n';
            }
            sent += n;
        });
    }
    for (auto& w : workers) w.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // Acks of the QoS 1 events (if a gateway is there to send them).
    std::uint64_t acked = 0, rejected = 0, pending = 0;
    if (!event_senders.empty()) {
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(o.ack_wait_s));
        while (event_senders.front()->pending_events() > 0 &&
               std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(20ms);
        const auto st = event_senders.front()->stats();
        acked = st.events_acked - st.events_rejected;
        rejected = st.events_rejected;
        pending = event_senders.front()->pending_events();
    }

    const nlohmann::json report{
        {"devices", o.devices},
        {"connections", connections},
        {"telemetry_sent", sent.load()},
        {"connections_failed", failed.load()},
        {"seconds", seconds},
        {"msgs_per_s", seconds > 0 ? static_cast<double>(sent.load()) / seconds : 0.0},
        {"events_emitted", o.events},
        {"events_acked", acked},
        {"events_rejected", rejected},
        {"events_pending", pending}};
    std::cout << report.dump() << std::endl;
    std::cerr << "eqm-sim load: sent " << sent.load() << " QoS 0 telemetry messages from "
              << o.devices << " devices in " << seconds << " s ("
              << report["msgs_per_s"].get<double>() << " msg/s)";
    if (o.events > 0)
        std::cerr << "; events " << o.events << " emitted, " << acked << " acked ok, " << rejected
                  << " rejected, " << pending << " still pending";
    std::cerr << '\n';
    return failed.load() == 0 ? 0 : 2;
}

}  // namespace eqm::sim
