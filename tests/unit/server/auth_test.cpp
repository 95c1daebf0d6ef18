// The login throttle: bounded, pruned by age, per name and per peer.
#include "auth.hpp"

#include <catch2/catch.hpp>

#include "eqm/domain/people.hpp"
#include "eqm/test/manual_clock.hpp"
#include "eqm/test/temp_dir.hpp"

using namespace eqm;
using namespace eqm::server;
using namespace std::chrono_literals;

namespace {
/// `prefix` followed by `n` (built by appending: g++ 12 warns wrongly on "literal" + string).
std::string numbered(std::string prefix, int n) {
    prefix += std::to_string(n);
    return prefix;
}
}  // namespace

TEST_CASE("the failed-login table forgets windows that passed and never exceeds its capacity",
          "[auth]") {
    test::manual_clock clock;
    failure_table t(/*limit=*/3, /*capacity=*/100, 5min);
    for (int i = 0; i < 1000; ++i) t.record(numbered("name-", i), clock.now());
    CHECK(t.size() == 100);  // the oldest windows went first
    CHECK_FALSE(t.exhausted("name-0", clock.now()));
    for (int i = 0; i < 3; ++i) t.record("amy", clock.now());
    CHECK(t.exhausted("amy", clock.now()));
    clock.advance(5min);
    CHECK_FALSE(t.exhausted("amy", clock.now()));
    CHECK(t.size() == 0);  // every window has passed: nothing is kept
}

TEST_CASE("logins are throttled per name and peer, and per peer whatever the names", "[auth]") {
    REQUIRE(init_crypto());
    test::temp_dir dir{"eqm-auth"};
    auto store = open_sqlite_region_store(dir / "region.db");
    REQUIRE(store.has_value());
    auto amy = make_person("amy", "dispatcher", std::nullopt, std::nullopt);
    REQUIRE(amy.has_value());
    auto user = new_user(*amy, "amy-pw");
    REQUIRE(user.has_value());
    REQUIRE((*store)->insert_user(*user).has_value());
    test::manual_clock clock;
    auth_options o;
    o.max_failed_logins = 3;
    o.max_failed_logins_per_peer = 10;
    o.max_tracked_failures = 50;
    auth_service auth(**store, o);

    for (int i = 0; i < 3; ++i)
        CHECK_FALSE(auth.login("amy", "wrong", "10.0.0.1:5000", clock.now()).has_value());
    CHECK(auth.throttled("amy", "10.0.0.1:6000", clock.now()));        // any port of that peer
    CHECK_FALSE(auth.throttled("amy", "10.0.0.2:5000", clock.now()));  // another peer
    CHECK(auth.login("amy", "amy-pw", "10.0.0.2:5000", clock.now()).has_value());

    // Trying many names from one peer: the peer is throttled for every name.
    for (int i = 0; i < 10; ++i)
        (void)auth.login(numbered("guess-", i), "x", "10.0.0.3:1", clock.now());
    CHECK(auth.throttled("amy", "10.0.0.3:1", clock.now()));
    CHECK_FALSE(auth.throttled("amy", "10.0.0.4:1", clock.now()));

    // Strangers with many names and addresses: memory stays bounded.
    for (int i = 0; i < 5000; ++i)
        (void)auth.login(numbered("n", i), "x",
                         numbered(numbered("10.1.", i / 250) + ".", i % 250) + ":1", clock.now());
    CHECK(auth.tracked_failures() <= 2 * o.max_tracked_failures);
    clock.advance(o.failure_window);
    CHECK_FALSE(auth.throttled("amy", "10.0.0.1:5000", clock.now()));
}
