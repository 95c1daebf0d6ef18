#include "eqm/test/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "eqm/test/wait.hpp"

extern char** environ;

namespace eqm::test {
namespace {

/// Opens an output file for the child, close-on-exec in the parent (dup2 clears the flag
/// on the child's copy).
int open_output(const std::filesystem::path& path) {
    const char* name = path.empty() ? "/dev/null" : path.c_str();
    const int fd = ::open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::runtime_error("child_process: open(" + std::string(name) +
                                 "): " + std::strerror(errno));
    }
    return fd;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/// The parent's environment with `extra` laid over it, as "key=value" strings.
std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string entry(*e);
        const auto eq = entry.find('=');
        if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [key, value] : extra) env[key] = value;
    std::vector<std::string> env_strings;
    env_strings.reserve(env.size());
    for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
    return env_strings;
}

/// execve's view of `strings`: pointers into them, ending with nullptr.
std::vector<char*> null_terminated(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    pointers.reserve(strings.size() + 1);
    for (auto& s : strings) pointers.push_back(s.data());
    pointers.push_back(nullptr);
    return pointers;
}

/// What the child needs after fork(), all of it built before: after fork() in a threaded test
/// program only async-signal-safe calls are allowed.
struct child_launch {
    char** argv;
    char** envp;
    const char* cwd;  // nullptr: stay where the parent is
    bool search_path;
    int out_fd;
    int err_fd;  // -1: stderr goes where stdout goes
    int report_fd;
};

/// The child's side of fork(): its own process group, stdin from /dev/null, its outputs, default
/// signals, then exec. Only async-signal-safe calls; a failure writes errno to report_fd.
[[noreturn]] void exec_child(const child_launch& l) {
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(l.out_fd, STDOUT_FILENO);
    ::dup2(l.err_fd >= 0 ? l.err_fd : l.out_fd, STDERR_FILENO);
    // Tests may have blocked or ignored signals; the program under test should not inherit that.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (l.cwd == nullptr || ::chdir(l.cwd) == 0) {
        if (l.search_path) {
            ::execvpe(l.argv[0], l.argv, l.envp);
        } else {
            ::execve(l.argv[0], l.argv, l.envp);
        }
    }
    const int e = errno;
    [[maybe_unused]] auto n = ::write(l.report_fd, &e, sizeof e);
    ::_exit(127);
}

/// Reads the child's exec report: 0 when exec succeeded (the pipe closed empty), else its errno.
int read_exec_report(int fd) {
    int child_errno = 0;
    ssize_t got = 0;
    do {
        got = ::read(fd, &child_errno, sizeof child_errno);
    } while (got < 0 && errno == EINTR);
    return got == static_cast<ssize_t>(sizeof child_errno) ? child_errno : 0;
}

}  // namespace

child_process::child_process(process_options options) : options_(std::move(options)) {
    if (options_.argv.empty()) throw std::runtime_error("child_process: empty argv");

    std::vector<std::string> env_strings = merged_environment(options_.env);
    std::vector<char*> envp = null_terminated(env_strings);
    std::vector<char*> argv = null_terminated(options_.argv);

    const int out_fd = open_output(options_.stdout_path);
    int err_fd = -1;
    if (!options_.stderr_path.empty()) {
        try {
            err_fd = open_output(options_.stderr_path);
        } catch (...) {
            ::close(out_fd);
            throw;
        }
    }
    // The child writes its exec errno into this pipe; a successful exec closes it (CLOEXEC).
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        ::close(out_fd);
        if (err_fd >= 0) ::close(err_fd);
        throw std::runtime_error(std::string("child_process: pipe2: ") + std::strerror(errno));
    }
    const std::string working_dir = options_.working_dir.string();
    const child_launch launch{.argv = argv.data(),
                              .envp = envp.data(),
                              .cwd = working_dir.empty() ? nullptr : working_dir.c_str(),
                              .search_path = options_.argv[0].find('/') == std::string::npos,
                              .out_fd = out_fd,
                              .err_fd = err_fd,
                              .report_fd = report[1]};

    const pid_t pid = ::fork();
    if (pid == 0) exec_child(launch);
    const int fork_errno = errno;
    ::close(report[1]);
    ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    if (pid < 0) {
        ::close(report[0]);
        throw std::runtime_error(std::string("child_process: fork: ") + std::strerror(fork_errno));
    }
    // Also set the group from the parent side, so signal(-pid) works even if we race the child.
    ::setpgid(pid, pid);
    pid_ = pid;

    const int child_errno = read_exec_report(report[0]);
    ::close(report[0]);
    if (child_errno != 0) {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        throw std::runtime_error("child_process: cannot run " + options_.argv[0] + ": " +
                                 std::strerror(child_errno));
    }
}

child_process::child_process(std::vector<std::string> argv, std::filesystem::path output)
    : child_process(process_options{.argv = std::move(argv),
                                    .env = {},
                                    .stdout_path = std::move(output),
                                    .stderr_path = {},
                                    .working_dir = {}}) {}

child_process::~child_process() {
    kill_and_reap();
}

child_process::child_process(child_process&& other) noexcept
    : options_(std::move(other.options_)),
      pid_(std::exchange(other.pid_, -1)),
      exit_status_(std::exchange(other.exit_status_, std::nullopt)) {}

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        kill_and_reap();
        options_ = std::move(other.options_);
        pid_ = std::exchange(other.pid_, -1);
        exit_status_ = std::exchange(other.exit_status_, std::nullopt);
    }
    return *this;
}

bool child_process::signal(int signo) noexcept {
    if (pid_ <= 0 || exit_status_) return false;
    return ::kill(pid_, signo) == 0;
}

bool child_process::poll_exit() noexcept {
    if (exit_status_) return true;
    if (pid_ <= 0) return true;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exit_status_ = decode_status(status);
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        exit_status_ = -1;
        return true;
    }
    return false;
}

std::optional<int> child_process::wait_for_exit(std::chrono::milliseconds timeout) {
    wait_until([this] { return poll_exit(); }, timeout, std::chrono::milliseconds{5});
    return exit_status_;
}

bool child_process::running() {
    return !poll_exit();
}

int child_process::stop(std::chrono::milliseconds grace) {
    if (poll_exit()) return *exit_status_;
    signal(SIGTERM);
    if (auto status = wait_for_exit(grace)) return *status;
    if (pid_ > 0) ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exit_status_ = decode_status(status);
    return *exit_status_;
}

void child_process::kill_and_reap() noexcept {
    if (pid_ <= 0) return;
    if (!poll_exit()) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        exit_status_ = decode_status(status);
    } else {
        // The leader is gone, but a grandchild in its group may still be alive.
        ::kill(-pid_, SIGKILL);
    }
    pid_ = -1;
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return {};
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

bool wait_for_log_line(const std::filesystem::path& file, std::string_view substring,
                       std::chrono::milliseconds timeout) {
    return wait_until([&] { return read_file(file).find(substring) != std::string::npos; }, timeout,
                      std::chrono::milliseconds{20});
}

}  // namespace eqm::test
