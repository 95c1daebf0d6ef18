// Page cursors: opaque, tied to their list, refused by name when wrong.
#include "paging.hpp"

#include <catch2/catch.hpp>

using namespace eqm;
using namespace eqm::server;

TEST_CASE("a cursor gives back its key for its own list only", "[paging]") {
    const auto c = encode_cursor("devices", "cam-17");
    auto key = decode_cursor("devices", c);
    REQUIRE(key.has_value());
    CHECK(*key == "cam-17");
    for (const std::string& bad : {std::string(""), std::string("zz"), std::string("abc"),
                                   encode_cursor("alerts", "cam-17"), c + "0"}) {
        auto r = decode_cursor("devices", bad);
        INFO(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().field == "cursor");
    }
}

TEST_CASE("limit is a whole number from 1 to 5000, 100 when absent", "[paging]") {
    auto ask = [](std::string limit) {
        http::request req;
        if (!limit.empty()) req.query["limit"] = limit;
        return read_page_query(req, "devices");
    };
    CHECK(ask("")->limit == 100);
    CHECK(ask("1")->limit == 1);
    CHECK(ask("5000")->limit == 5000);
    for (const char* bad : {"0", "5001", "-1", "ten", "1.5", " 7"}) {
        auto r = ask(bad);
        INFO(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().field == "limit");
    }
}
