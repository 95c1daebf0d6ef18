#pragma once
// A small blocking HTTP/WebSocket client for the tests (Beast inside test_client.cpp), plus the
// local helpers the tests share: temp directories, waiting for a condition, starting a server.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eqm/http/server.hpp"

namespace eqm_test {

using headers = std::vector<std::pair<std::string, std::string>>;

struct http_reply {
    unsigned status = 0;
    std::string body;
    headers fields;
    /// The value of a header (case-insensitive); empty when absent.
    std::string header(std::string_view name) const;
};

/// One keep-alive connection; request() sends and waits for the answer.
class http_connection {
  public:
    explicit http_connection(std::uint16_t port);
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    http_reply request(const std::string& method, const std::string& target,
                       const std::string& body = {}, const headers& extra = {});

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// One request on a fresh connection.
http_reply http_once(std::uint16_t port, const std::string& method, const std::string& target,
                     const std::string& body = {}, const headers& extra = {});

/// A WebSocket client. With `reader` it reads on a thread of its own into a queue; without it
/// it never reads (a deliberately slow client) and asks for a tiny receive buffer.
class ws_client {
  public:
    ws_client(std::uint16_t port, const std::string& target, const headers& extra = {},
              bool reader = true);
    ~ws_client();
    ws_client(const ws_client&) = delete;
    ws_client& operator=(const ws_client&) = delete;

    /// The next message, or nullopt after `timeout` (or when the connection closed).
    std::optional<std::string> next(std::chrono::milliseconds timeout = std::chrono::milliseconds{
                                        2000});
    /// True once the reader saw the connection end.
    bool closed() const;
    /// The server's close frame (code and reason) once one has arrived.
    std::optional<std::pair<std::uint16_t, std::string>> close_frame() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// What a raw exchange saw: everything the server sent until it closed (or the timeout), and
/// whether it closed.
struct raw_reply {
    std::string text;
    bool closed = false;
};

/// Connects, writes `bytes` as they are (no Host or Content-Length added) and reads until the
/// server closes the connection or `timeout` passes. A reset counts as closed.
raw_reply raw_exchange(std::uint16_t port, const std::string& bytes,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});

/// The value of a series in Prometheus text (`name{labels}` exactly as written, or a bare name);
/// -1 when absent.
double metric_value(const std::string& text, const std::string& series);

/// The HTTP status the server answers a WebSocket upgrade request with (101 when it accepts).
unsigned ws_upgrade_status(std::uint16_t port, const std::string& target,
                           const headers& extra = {});

/// Polls `condition` until true or the timeout passes; returns its last value.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds{3000});

/// A fresh directory under the system temp dir, removed (with its contents) on destruction.
class temp_dir {
  public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    void write(const std::filesystem::path& relative, const std::string& content) const;

  private:
    std::filesystem::path path_;
};

/// Options for a test server: 127.0.0.1 on a kernel-chosen free port, quiet log collected.
eqm::http::server_options test_options();

/// Starts a server on a free port; fails the test (throws) when it cannot.
std::unique_ptr<eqm::http::server> start_server(eqm::http::router routes,
                                                eqm::http::server_options options = test_options());

}  // namespace eqm_test
