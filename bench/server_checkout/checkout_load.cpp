// checkout_load: constant-rate check-out/check-in load over HTTP/1.1 keep-alive, latency
// measured from each request's scheduled time (no coordinated omission).
//
//   checkout_load --port P --prefix cam-s- --devices N --badge B [--token T] [--rate 200]
//                 [--seconds 15] [--workers 32] [--label server]
//
// Request i is due at start + i/rate. It goes to device PREFIX(i mod N); that device's uses
// alternate check-out ({"badge": B}) and check-in ({}), so with N large enough that a device's
// previous request has finished, every request is valid. Workers each hold one keep-alive
// connection and take the next due request; when all are busy a request waits, and that wait
// counts in its latency because latency runs from the scheduled time, not the send time.
//
// Prints a summary and one machine-readable line:
//   RESULT label=... requests=... ok=... failed=... p50_ms=... p90_ms=... p99_ms=... max_ms=...
// Exits 1 when it cannot connect.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

/// Larger than any response of these endpoints; a bigger one is a failure, not a hang.
constexpr std::size_t max_response_bytes = 4 * 1024 * 1024;
constexpr int socket_timeout_s = 10;

struct options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string token;
    std::string prefix = "cam-";
    std::size_t devices = 400;
    std::string badge;
    double rate = 200;
    double seconds = 15;
    std::size_t workers = 32;
    std::string label = "load";
};

struct outcome {
    int status = 0;  ///< 0: no answer (connection failed or closed)
    double latency_ms = 0;
    std::string body;  ///< kept for the first failures only
};

/// One keep-alive HTTP/1.1 connection, reopened when the peer closes it.
class connection {
  public:
    connection(std::string host, int port) : host_(std::move(host)), port_(port) {}
    ~connection() { close_fd(); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Connects now (so set-up is not measured); false when the server refuses.
    bool open() { return fd_ >= 0 || open_fd(); }

    /// Sends one request and reads its response; status 0 when that failed twice.
    std::pair<int, std::string> exchange(const std::string& request) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (fd_ < 0 && !open_fd()) continue;
            if (!send_all(request)) {
                close_fd();
                continue;
            }
            auto r = read_response();
            if (r) return *r;
            close_fd();
        }
        return {0, "no response"};
    }

  private:
    bool open_fd() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return false;
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{socket_timeout_s, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            close_fd();
            return false;
        }
        buffer_.clear();
        return true;
    }
    void close_fd() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    bool send_all(const std::string& data) {
        std::size_t sent = 0;
        while (sent < data.size()) {
            const auto n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }
    bool fill() {
        char chunk[16384];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return buffer_.size() <= max_response_bytes;
    }
    std::optional<std::pair<int, std::string>> read_response() {
        std::size_t header_end;
        while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return std::nullopt;
        std::string head = buffer_.substr(0, header_end);
        for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        int status = 0;
        if (head.size() > 12) status = std::atoi(head.c_str() + 9);
        const bool closes = head.find("\r\nconnection: close") != std::string::npos;
        std::size_t length = 0;
        if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
            length = static_cast<std::size_t>(std::strtoull(head.c_str() + at + 17, nullptr, 10));
        std::string body;
        const std::size_t body_start = header_end + 4;
        if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
            std::size_t end;
            while ((end = buffer_.find("\r\n0\r\n\r\n", body_start)) == std::string::npos)
                if (!fill()) return std::nullopt;
            body = buffer_.substr(body_start, end - body_start);
            buffer_.erase(0, end + 7);
        } else {
            while (buffer_.size() < body_start + length)
                if (!fill()) return std::nullopt;
            body = buffer_.substr(body_start, length);
            buffer_.erase(0, body_start + length);
        }
        if (closes) close_fd();
        return std::pair{status, std::move(body)};
    }

    std::string host_;
    int port_;
    int fd_ = -1;
    std::string buffer_;
};

std::string make_request(const options& o, std::size_t i) {
    const std::size_t device = i % o.devices;
    const bool checkout = (i / o.devices) % 2 == 0;
    const std::string body = checkout ? "{\"badge\":\"" + o.badge + "\"}" : "{}";
    std::string r = "POST /api/v1/devices/" + o.prefix + std::to_string(device) +
                    (checkout ? "/checkout" : "/checkin") + " HTTP/1.1\r\nHost: " + o.host + ":" +
                    std::to_string(o.port) + "\r\n";
    if (!o.token.empty()) r += "Authorization: Bearer " + o.token + "\r\n";
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
    return r;
}

double percentile(std::vector<double> sorted, double p) {
    if (sorted.empty()) return 0;
    const auto rank =
        static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"checkout_load: constant-rate check-out/check-in load, latency from the schedule"};
    options o;
    app.add_option("--host", o.host, "server address (IPv4)")->capture_default_str();
    app.add_option("--port", o.port, "server port")->required();
    app.add_option("--token", o.token, "bearer token (none: no Authorization header)");
    app.add_option("--prefix", o.prefix, "device id prefix; ids are PREFIX0..PREFIX(N-1)")
        ->capture_default_str();
    app.add_option("--devices", o.devices, "pool size N")->capture_default_str();
    app.add_option("--badge", o.badge, "badge sent with every check-out")->required();
    app.add_option("--rate", o.rate, "requests per second")->capture_default_str();
    app.add_option("--seconds", o.seconds, "how long to send")->capture_default_str();
    app.add_option("--workers", o.workers, "connections (concurrent requests at most)")
        ->capture_default_str();
    app.add_option("--label", o.label, "name in the output")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (o.rate <= 0 || o.seconds <= 0 || o.devices == 0 || o.workers == 0) {
        std::fprintf(stderr, "checkout_load: rate, seconds, devices and workers must be > 0\n");
        return 2;
    }

    const auto total = static_cast<std::size_t>(o.rate * o.seconds);
    const auto period = std::chrono::duration<double>(1.0 / o.rate);
    std::vector<outcome> results(total);
    std::atomic<std::size_t> next{0};
    // Every worker connects before the clock starts, so connection set-up is not measured.
    std::vector<std::unique_ptr<connection>> conns;
    for (std::size_t w = 0; w < o.workers; ++w) {
        conns.push_back(std::make_unique<connection>(o.host, o.port));
        if (!conns.back()->open()) {
            std::fprintf(stderr, "checkout_load: cannot connect to %s:%d\n", o.host.c_str(),
                         o.port);
            return 1;
        }
    }
    const auto start = steady::now() + std::chrono::milliseconds(200);

    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < o.workers; ++w) {
        threads.emplace_back([&, w] {
            for (;;) {
                const std::size_t i = next.fetch_add(1);
                if (i >= total) return;
                const auto due = start + std::chrono::duration_cast<steady::duration>(
                                             period * static_cast<double>(i));
                std::this_thread::sleep_until(due);
                auto [status, body] = conns[w]->exchange(make_request(o, i));
                const auto done = steady::now();
                results[i].status = status;
                results[i].latency_ms =
                    std::chrono::duration<double, std::milli>(done - due).count();
                if (status < 200 || status >= 300) results[i].body = std::move(body);
            }
        });
    }
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(steady::now() - start).count();

    std::vector<double> all;
    std::map<int, std::size_t> by_status;
    std::size_t ok = 0, shown = 0;
    for (const auto& r : results) {
        all.push_back(r.latency_ms);
        ++by_status[r.status];
        if (r.status >= 200 && r.status < 300) {
            ++ok;
        } else if (shown < 3) {
            ++shown;
            std::fprintf(stderr, "checkout_load: %s: HTTP %d: %.300s\n", o.label.c_str(), r.status,
                         r.body.c_str());
        }
    }
    std::sort(all.begin(), all.end());
    std::string statuses;
    for (const auto& [s, n] : by_status)
        statuses += (statuses.empty() ? "" : " ") + std::to_string(s) + ":" + std::to_string(n);
    std::printf("%s: %zu requests scheduled at %.0f/s over %.1f s (done in %.1f s); HTTP %s\n",
                o.label.c_str(), total, o.rate, o.seconds, elapsed, statuses.c_str());
    std::printf(
        "RESULT label=%s requests=%zu ok=%zu failed=%zu p50_ms=%.2f p90_ms=%.2f "
        "p99_ms=%.2f max_ms=%.2f\n",
        o.label.c_str(), total, ok, total - ok, percentile(all, 50), percentile(all, 90),
        percentile(all, 99), all.empty() ? 0.0 : all.back());
    return 0;
}
