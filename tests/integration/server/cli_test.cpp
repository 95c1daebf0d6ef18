// The eqm operator CLI against a real eqm-server.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

struct cli_result {
    int status = -1;
    std::string out;  ///< stdout and stderr together
};

/// Runs `eqm ARGS` with its config under `home`, `input` on stdin.
cli_result run_eqm(const fs::path& home, const std::string& server, const std::string& args,
                   const std::string& input = "") {
    const auto in_file = home / "stdin.txt";
    { std::ofstream(in_file) << input; }
    const std::string cmd = "XDG_CONFIG_HOME='" + home.string() + "' EQM_SERVER='" + server +
                            "' '" + EQM_CLI_BIN + "' " + args + " < '" + in_file.string() +
                            "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    cli_result r;
    char buf[1024];
    while (std::fgets(buf, sizeof buf, p)) r.out += buf;
    const int rc = ::pclose(p);
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return r;
}

}  // namespace

TEST_CASE("eqm logs in, lists, shows, imports and checks devices out and in", "[server][cli]") {
    region_fixture region;
    test::temp_dir home("eqm-cli-home");
    const auto url = region.server->url();

    auto bad = run_eqm(home.path(), url, "login --name admin", "wrong\n");
    CHECK(bad.status != 0);
    auto li = run_eqm(home.path(), url, "login --name admin", "admin-pw\n");
    INFO(li.out);
    REQUIRE(li.status == 0);
    CHECK(fs::exists(home.path() / "eqm" / "token.json"));
    CHECK((fs::status(home.path() / "eqm" / "token.json").permissions() & fs::perms::group_read) ==
          fs::perms::none);

    const auto csv = home.path() / "devices.csv";
    {
        std::ofstream f(csv);
        f << "id,class,model,city\n";
        for (int i = 0; i < 50; ++i) f << "cli-" << i << ",drone,DJI-M30,450100\n";
        f << "cli-dock,dock,D-12,450100\n";
    }
    auto imp = run_eqm(home.path(), url, "devices import '" + csv.string() + "'");
    INFO(imp.out);
    REQUIRE(imp.status == 0);
    CHECK(imp.out.find("imported 51 devices") != std::string::npos);

    const auto bad_csv = home.path() / "bad.csv";
    std::ofstream(bad_csv) << "id,class,model,city\nx-1,drone,M,450100\nx-2,boat,M,450100\n";
    auto imp_bad = run_eqm(home.path(), url, "devices import '" + bad_csv.string() + "'");
    CHECK(imp_bad.status == 1);
    CHECK(imp_bad.out.find("line 3") != std::string::npos);

    auto list = run_eqm(home.path(), url, "devices list --city 450100 --class dock");
    INFO(list.out);
    REQUIRE(list.status == 0);
    CHECK(list.out.find("cli-dock") != std::string::npos);
    CHECK(list.out.find("cli-7 ") == std::string::npos);

    auto show = run_eqm(home.path(), url, "devices show cli-3");
    REQUIRE(show.status == 0);
    CHECK(show.out.find("DJI-M30") != std::string::npos);
    CHECK(run_eqm(home.path(), url, "devices show nope").status == 1);

    fake_gateway gw(region.broker.uri(), "450100", "gw-nn");
    gw.set_responder(accept_everything);
    gw.connect();
    auto admin = region.as("admin");
    REQUIRE(test::wait_until(
        [&] { return admin.get("/api/v1/cities").body["items"][0]["online"] == true; }, quick));
    auto co = run_eqm(home.path(), url, "checkout cli-3 --badge B-CUST-NN");
    INFO(co.out);
    REQUIRE(co.status == 0);
    CHECK(device(admin, "cli-3")["status"] == "checked_out");
    auto ci = run_eqm(home.path(), url, "checkin cli-3 --condition good");
    REQUIRE(ci.status == 0);
    CHECK(device(admin, "cli-3")["status"] == "available");

    auto offline = run_eqm(home.path(), "http://127.0.0.1:1", "devices list");
    CHECK(offline.status == 3);
}
