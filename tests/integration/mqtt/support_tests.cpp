// eqm_test_support itself: if these helpers lie, every integration test lies with them.
#include <signal.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "eqm/test/support.hpp"

using namespace std::chrono_literals;

namespace {

/// True while `pid` exists and is not a zombie.
bool is_alive(pid_t pid) {
    const auto stat = eqm::test::read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return false;
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("child_process reports exit codes, signals and exec failures") {
    eqm::test::temp_dir dir;
    eqm::test::child_process ok({.argv = {"sh", "-c", "echo hello $EQM_X; exit 3"},
                                 .env = {{"EQM_X", "world"}},
                                 .stdout_path = dir / "out",
                                 .stderr_path = {},
                                 .working_dir = {}});
    CHECK(ok.wait_for_exit(5s) == std::optional<int>{3});
    CHECK_FALSE(ok.running());
    CHECK(eqm::test::read_file(dir / "out") == "hello world\n");

    eqm::test::child_process sleeper({"sleep", "30"}, {});
    CHECK(sleeper.running());
    CHECK_FALSE(sleeper.wait_for_exit(50ms).has_value());
    REQUIRE(sleeper.signal(SIGTERM));
    CHECK(sleeper.wait_for_exit(5s) == std::optional<int>{128 + SIGTERM});

    CHECK_THROWS_WITH(eqm::test::child_process({.argv = {"/nonexistent/program"},
                                                .env = {},
                                                .stdout_path = {},
                                                .stderr_path = {},
                                                .working_dir = {}}),
                      Catch::Contains("No such file"));
}

TEST_CASE("child_process destructor kills what is still running, including grandchildren") {
    eqm::test::temp_dir dir;
    pid_t grandchild = 0;
    {
        eqm::test::child_process p({.argv = {"sh", "-c", "sleep 30 & echo pid=$!; wait"},
                                    .env = {},
                                    .stdout_path = dir / "out",
                                    .stderr_path = {},
                                    .working_dir = {}});
        REQUIRE(eqm::test::wait_for_log_line(dir / "out", "\n", 5s));
        const auto out = eqm::test::read_file(dir / "out");
        REQUIRE(out.starts_with("pid="));
        grandchild = static_cast<pid_t>(std::stoi(out.substr(4)));
        REQUIRE(is_alive(grandchild));
    }
    // The orphaned `sleep` must be dead (a zombie waiting for init to reap it counts).
    CHECK(eqm::test::wait_until([&] { return !is_alive(grandchild); }, 5s));
}

TEST_CASE("temp_dir is removed with its content, free_port is bindable") {
    std::filesystem::path kept;
    {
        eqm::test::temp_dir dir;
        kept = dir.path();
        std::ofstream(dir / "file") << "x";
        CHECK(std::filesystem::exists(kept / "file"));
    }
    CHECK_FALSE(std::filesystem::exists(kept));
    const auto port = eqm::test::free_port();
    CHECK(port > 0);
    CHECK_FALSE(eqm::test::port_accepts(port));
}

TEST_CASE("mosquitto_broker restarts on the same port") {
    eqm::test::mosquitto_broker broker;
    const auto port = broker.port();
    CHECK(broker.uri() == "tcp://127.0.0.1:" + std::to_string(port));
    CHECK(eqm::test::port_accepts(port));
    broker.stop();
    CHECK_FALSE(broker.running());
    CHECK_FALSE(eqm::test::port_accepts(port));
    broker.start();
    CHECK(broker.port() == port);
    CHECK(eqm::test::port_accepts(port));
    CHECK(eqm::test::wait_for_log_line(broker.log_path(), "mosquitto version", 2s));
}
