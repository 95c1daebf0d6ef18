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
#include "eqm/runtime/log.hpp"
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

namespace {

std::vector<std::string> load_topics(const load_options& o) {
    std::vector<std::string> topics;
    for (int i = 0; i < o.devices; ++i) {
        char id[64];
        std::snprintf(id, sizeof id, "%s-load-%05d", o.city.c_str(), i);
        topics.push_back(device::telemetry_topic(id));
    }
    return topics;
}

/// The SDK session that sends the QoS 1 events (none when no events are asked for).
result<std::unique_ptr<device::device_session>> open_event_sender(const load_options& o) {
    if (o.events == 0) return nullptr;
    device::device_options opt;
    char id[64];
    std::snprintf(id, sizeof id, "%s-load-ev", o.city.c_str());
    opt.id = id;
    opt.cls = device_class::body_camera;
    opt.model = "load";
    opt.broker_uri = o.broker_uri;
    opt.username = o.auth.user;
    opt.password = o.auth.password;
    opt.state_dir = o.state_dir;
    opt.durable = false;
    return device::device_session::open(std::move(opt));
}

/// Connects every raw publisher; false (logged) when one cannot.
bool connect_all(const load_options& o, std::vector<raw_publisher>& conns) {
    for (std::size_t c = 0; c < conns.size(); ++c) {
        char id[64];
        std::snprintf(id, sizeof id, "eqm-sim-load-%d-%zu", static_cast<int>(::getpid()), c);
        auto err = conns[c].connect(o.broker_uri, id, o.auth);
        if (!err.empty()) {
            log_error("load", "connect_failed broker=" + log_value(o.broker_uri) +
                                  " error=" + log_value(err));
            return false;
        }
    }
    return true;
}

/// One connection's part of the load: every `stride`-th topic from `first`, its share of
/// `count` (or until `deadline`), paced to its share of `rate`.
struct publish_plan {
    std::size_t first = 0;
    std::size_t stride = 1;
    bool counting = false;  ///< send `share` messages (else: until `deadline`)
    std::uint64_t share = 0;
    double rate = 0;  ///< msg/s of this connection; 0: as fast as possible
    std::chrono::steady_clock::time_point start, deadline;
};

/// Publishes one connection's share and disconnects; returns how many messages it sent.
std::uint64_t publish_share(raw_publisher& conn, const std::vector<std::string>& topics,
                            const publish_plan& p, bool& ok) {
    std::uint64_t n = 0;
    std::size_t topic_index = p.first;
    ok = true;
    while (ok) {
        if (p.counting
                ? n >= p.share
                : (n % deadline_check_every == 0 && std::chrono::steady_clock::now() >= p.deadline))
            break;
        if (p.rate > 0) {
            const auto due =
                p.start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(n) / p.rate));
            if (due > std::chrono::steady_clock::now()) {
                ok = conn.flush();  // what is due now goes out before we sleep
                std::this_thread::sleep_until(due);
            }
        }
        ok = ok && conn.publish(topics[topic_index], load_payload(n));
        if (ok) ++n;
        topic_index += p.stride;
        if (topic_index >= topics.size()) topic_index = p.first % topics.size();
    }
    // DISCONNECT, then wait for the broker to close: everything sent has been read by it.
    ok = ok && conn.finish();
    return n;
}

struct event_tally {
    std::uint64_t acked = 0, rejected = 0, pending = 0;
};

/// Waits up to --ack-wait for the gateway's answers to the QoS 1 events.
event_tally wait_for_acks(device::device_session* sender, std::chrono::milliseconds wait) {
    if (!sender) return {};
    const auto until = std::chrono::steady_clock::now() + wait;
    while (sender->pending_events() > 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(20ms);
    const auto st = sender->stats();
    return {st.events_acked - st.events_rejected, st.events_rejected, sender->pending_events()};
}

void report(const load_options& o, int connections, std::uint64_t sent, std::uint64_t failed,
            double seconds, const event_tally& events) {
    const double rate = seconds > 0 ? static_cast<double>(sent) / seconds : 0.0;
    const nlohmann::json report{{"devices", o.devices},
                                {"connections", connections},
                                {"telemetry_sent", sent},
                                {"connections_failed", failed},
                                {"seconds", seconds},
                                {"msgs_per_s", rate},
                                {"events_emitted", o.events},
                                {"events_acked", events.acked},
                                {"events_rejected", events.rejected},
                                {"events_pending", events.pending}};
    std::cout << report.dump() << std::endl;
    std::string line =
        "done telemetry_sent=" + std::to_string(sent) + " devices=" + std::to_string(o.devices) +
        " seconds=" + std::to_string(seconds) + " msgs_per_s=" + std::to_string(rate);
    if (o.events > 0)
        line += " events=" + std::to_string(o.events) + " acked=" + std::to_string(events.acked) +
                " rejected=" + std::to_string(events.rejected) +
                " pending=" + std::to_string(events.pending);
    log_info("load", line);
}

}  // namespace

int run_load(const load_options& o) {
    const int connections = std::max(1, std::min(o.connections, o.devices));
    const auto topics = load_topics(o);
    // QoS 1 events first, through the SDK, so their acks can arrive while telemetry flows.
    auto sender = open_event_sender(o);
    if (!sender) {
        log_error("load", "session_failed error=" + log_value(sender.error().describe()));
        return 1;
    }
    std::vector<raw_publisher> conns(static_cast<std::size_t>(connections));
    if (!connect_all(o, conns)) return 1;
    for (int i = 0; i < o.events; ++i)
        (void)(*sender)->emit_event({{"type", "fault"}, {"code", "load_test"}});

    // Each connection publishes its share on its own thread.
    std::atomic<std::uint64_t> sent{0}, failed{0};
    const auto start = std::chrono::steady_clock::now();
    const auto n_conns = static_cast<std::uint64_t>(connections);
    std::vector<std::thread> workers;
    for (int c = 0; c < connections; ++c) {
        const auto cu = static_cast<std::uint64_t>(c);
        const publish_plan plan{
            static_cast<std::size_t>(c),
            static_cast<std::size_t>(connections),
            o.count > 0,
            o.count > 0 ? o.count / n_conns + (cu < o.count % n_conns ? 1 : 0) : 0,
            o.rate > 0 ? o.rate / connections : 0,
            start,
            start + o.duration};
        workers.emplace_back([&, c, plan] {
            auto& conn = conns[static_cast<std::size_t>(c)];
            bool ok = true;
            sent += publish_share(conn, topics, plan, ok);
            if (ok) return;
            ++failed;
            log_error("load", "connection_failed connection=" + std::to_string(c) +
                                  " error=" + log_value(conn.error()));
        });
    }
    for (auto& w : workers) w.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report(o, connections, sent.load(), failed.load(), seconds,
           wait_for_acks(sender->get(), o.ack_wait));
    return failed.load() == 0 ? 0 : 1;
}

}  // namespace eqm::sim
