#pragma once
/// Starts real programs (eqm-gateway, eqm-server, mosquitto, ...) from a test and makes sure
/// none outlives it: the destructor SIGKILLs and reaps anything still running.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eqm::test {

/// What to run and where its output goes.
struct process_options {
    /// argv[0] is the program: an absolute path, or a name looked up in PATH.
    std::vector<std::string> argv;
    /// Added to (or replacing entries of) the test's own environment.
    std::vector<std::pair<std::string, std::string>> env;
    /// Where stdout goes (truncated first); empty means /dev/null.
    std::filesystem::path stdout_path;
    /// Where stderr goes (truncated first); empty means the same file as stdout, or
    /// /dev/null when that is empty too.
    std::filesystem::path stderr_path;
    /// Working directory of the child; empty means the test's own.
    std::filesystem::path working_dir;
};

/// A child process. The child runs in its own process group, so the destructor's SIGKILL
/// also reaches anything it forked.
class child_process {
  public:
    /// Spawns the program. Throws std::runtime_error (with errno text) when the program
    /// cannot be executed, e.g. a wrong path; a failing exec is reported, not hidden.
    explicit child_process(process_options options);
    /// Shorthand: runs `argv` with stdout and stderr both going to `output` (empty: /dev/null).
    child_process(std::vector<std::string> argv, std::filesystem::path output);
    ~child_process();

    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;

    /// The child's pid (also its process-group id).
    pid_t pid() const noexcept { return pid_; }

    /// Sends `signo` to the child (SIGTERM for a graceful stop, SIGKILL for a crash).
    /// False when it has already been reaped or the signal could not be sent.
    bool signal(int signo) noexcept;

    /// Waits up to `timeout` for the child to exit. Returns its exit code, or 128 + the signal
    /// number when a signal ended it (the shell's convention); nullopt when still running.
    /// Once reaped, later calls return the same status at once.
    std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

    /// True while the child has not exited.
    bool running();

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status as wait_for_exit does.
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds{5000});

    /// The options the child was started with (paths of its output files, for diagnostics).
    const process_options& options() const noexcept { return options_; }

  private:
    void kill_and_reap() noexcept;
    bool poll_exit() noexcept;

    process_options options_;
    pid_t pid_ = -1;
    std::optional<int> exit_status_;
};

/// Polls `file` until a line containing `substring` appears or `timeout` passes. A file
/// that does not exist yet counts as empty. True when the line was seen.
bool wait_for_log_line(const std::filesystem::path& file, std::string_view substring,
                       std::chrono::milliseconds timeout);

/// The whole content of `file`, or "" when it cannot be read (for failure messages).
std::string read_file(const std::filesystem::path& file);

}  // namespace eqm::test
