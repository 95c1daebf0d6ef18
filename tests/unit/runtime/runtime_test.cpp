// The shared process services: log values, secret files and the tests' manual clock.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

#include "eqm/runtime/cli.hpp"
#include "eqm/runtime/clock.hpp"
#include "eqm/runtime/log.hpp"
#include "eqm/runtime/secret_file.hpp"
#include "eqm/test/manual_clock.hpp"
#include "eqm/test/temp_dir.hpp"

TEST_CASE("log values are quoted when they hold spaces, quotes or '=', and cut when long") {
    CHECK(eqm::log_value("bc-0001") == "bc-0001");
    CHECK(eqm::log_value("") == "\"\"");
    CHECK(eqm::log_value("a b") == "\"a b\"");
    CHECK(eqm::log_value("say \"hi\"") == "\"say \\\"hi\\\"\"");
    CHECK(eqm::log_value("k=v") == "\"k=v\"");
    CHECK(eqm::log_value("line\nbreak") == "\"linebreak\"");
    const auto cut = eqm::log_value(std::string(300, 'x'));
    CHECK(cut == std::string(200, 'x') + "...");
    CHECK(eqm::parse_log_level("warning") == eqm::log_level::warn);
    CHECK_FALSE(eqm::parse_log_level("loud"));
}

TEST_CASE("a secret file gives its first line without line ending or trailing blanks") {
    eqm::test::temp_dir dir;
    const auto path = (dir.path() / "pw").string();
    { std::ofstream(path) << "s3cret \t\r\nsecond line\n"; }
    auto pw = eqm::read_secret_file(path, "mqtt_password_file");
    REQUIRE(pw);
    CHECK(*pw == "s3cret");

    { std::ofstream(path) << "\n"; }
    auto empty = eqm::read_secret_file(path, "mqtt_password_file");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().field == "mqtt_password_file");

    auto missing = eqm::read_secret_file((dir.path() / "nope").string(), "f");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("cannot read") != std::string::npos);
}

TEST_CASE("the manual clock moves only when told, and its function follows it") {
    eqm::test::manual_clock clock;
    auto fn = clock.fn();
    CHECK(eqm::format_timestamp(fn()) == "2026-11-26T08:30:00.000Z");
    clock.advance(std::chrono::minutes{90});
    CHECK(eqm::format_timestamp(fn()) == "2026-11-26T10:00:00.000Z");
    clock.set(*eqm::parse_timestamp("2027-01-01T00:00:00.000Z"));
    CHECK(eqm::format_timestamp(clock.now()) == "2027-01-01T00:00:00.000Z");
    // The wall clock is after the day this code was written.
    CHECK(eqm::system_now() > *eqm::parse_timestamp("2026-01-01T00:00:00.000Z"));
}

TEST_CASE("durations on the command line take units, and bad ones are refused with the rule") {
    auto parse = [](std::vector<std::string> args) {
        CLI::App app;
        std::chrono::milliseconds d{std::chrono::days{7}};
        eqm::cli::add_duration(app, "--retention", d, "how long", "d");
        std::vector<std::string> argv{"prog"};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> raw;
        for (auto& a : argv) raw.push_back(a.data());
        app.parse(static_cast<int>(raw.size()), raw.data());
        return d;
    };
    CHECK(parse({}) == std::chrono::days{7});
    CHECK(parse({"--retention", "30"}) == std::chrono::days{30});
    CHECK(parse({"--retention", "90s"}) == std::chrono::seconds{90});
    CHECK(parse({"--retention", "15m"}) == std::chrono::minutes{15});
    CHECK(parse({"--retention", "500ms"}) == std::chrono::milliseconds{500});
    CHECK_THROWS_AS(parse({"--retention", "-1d"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse({"--retention", "7w"}), CLI::ValidationError);
    CHECK_THROWS_AS(parse({"--retention", "d"}), CLI::ValidationError);
}

TEST_CASE("city codes and ids are checked on the command line") {
    CLI::App app;
    std::string city, id;
    app.add_option("--city", city)->check(eqm::cli::city_code());
    app.add_option("--id", id)->check(eqm::cli::id());
    const char* good[] = {"prog", "--city", "450100", "--id", "gw-450100"};
    CHECK_NOTHROW(app.parse(5, const_cast<char**>(good)));
    const char* bad_city[] = {"prog", "--city", "110000"};
    CHECK_THROWS_AS(app.parse(3, const_cast<char**>(bad_city)), CLI::ValidationError);
    const char* bad_id[] = {"prog", "--id", "gw 1"};
    CHECK_THROWS_AS(app.parse(3, const_cast<char**>(bad_id)), CLI::ValidationError);
}
