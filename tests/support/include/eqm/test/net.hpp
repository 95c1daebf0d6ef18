#pragma once
/// Small network helpers for integration tests: every server a test starts listens on
/// 127.0.0.1 and a port the kernel just handed out, so parallel ctest runs never collide.
#include <chrono>
#include <cstdint>

namespace eqm::test {

/// Binds 127.0.0.1:0, reads back the port the kernel chose and closes the socket.
/// Throws std::runtime_error when no socket can be made (a broken test machine).
std::uint16_t free_port();

/// True when a TCP connect to 127.0.0.1:`port` succeeds within `timeout`.
bool port_accepts(std::uint16_t port,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds{200});

}  // namespace eqm::test
