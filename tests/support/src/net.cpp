#include "eqm/test/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace eqm::test {
namespace {

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

/// Closes a socket on scope exit.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

std::uint16_t free_port() {
    fd_guard sock{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0)
        throw std::runtime_error(std::string("free_port: socket: ") + std::strerror(errno));
    sockaddr_in addr = loopback(0);
    if (::bind(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error(std::string("free_port: bind: ") + std::strerror(errno));
    }
    socklen_t len = sizeof addr;
    if (::getsockname(sock.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error(std::string("free_port: getsockname: ") + std::strerror(errno));
    }
    return ntohs(addr.sin_port);
}

bool port_accepts(std::uint16_t port, std::chrono::milliseconds timeout) {
    fd_guard sock{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (sock.fd < 0) return false;
    sockaddr_in addr = loopback(port);
    if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
    if (errno != EINPROGRESS) return false;
    pollfd pfd{sock.fd, POLLOUT, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return false;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return false;
    return err == 0;
}

}  // namespace eqm::test
