#include "bd_seq_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace eqm::gateway {

std::uint64_t read_bd_seq_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32] = {};
    const auto n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return 0;
    return std::strtoull(buf, nullptr, 10);
}

result<void> write_bd_seq_file(const std::string& path, std::uint64_t value) {
    const std::string tmp = path + ".tmp";
    const auto failed = [&](const char* what) {
        return fail(errc::unavailable, "bd_seq",
                    std::string(what) + " " + tmp + ": " + std::strerror(errno));
    };
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return failed("cannot create");
    const std::string text = std::to_string(value) + "\n";
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!written) return failed("cannot write");
    if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("cannot rename");
    auto dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

}  // namespace eqm::gateway
