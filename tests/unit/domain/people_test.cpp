// The person rules (people.hpp): one table, one place.
#include "eqm/domain/people.hpp"

#include <catch2/catch.hpp>

using namespace eqm;

TEST_CASE("a person is checked field by field, each refusal naming its field", "[people]") {
    struct bad_case {
        std::string name, role;
        std::optional<std::string> city, badge;
        std::string field;
    };
    auto c = GENERATE(bad_case{"", "admin", std::nullopt, std::nullopt, "name"},
                      bad_case{std::string(129, 'a'), "admin", std::nullopt, std::nullopt, "name"},
                      bad_case{"a\nb", "admin", std::nullopt, std::nullopt, "name"},
                      bad_case{"\xff\xfe", "admin", std::nullopt, std::nullopt, "name"},
                      bad_case{"amy", "boss", std::nullopt, std::nullopt, "role"},
                      bad_case{"amy", "custodian", std::nullopt, std::nullopt, "city"},
                      bad_case{"amy", "officer", std::nullopt, std::nullopt, "city"},
                      bad_case{"amy", "custodian", std::string("999999"), std::nullopt, "city"},
                      bad_case{"amy", "admin", std::nullopt, std::string("B 1"), "badge"});
    auto p = make_person(c.name, c.role, c.city, c.badge);
    INFO(c.name << " " << c.role);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == errc::bad_field);
    CHECK(p.error().field == c.field);
}

TEST_CASE("names count characters, not bytes", "[people]") {
    // 128 Chinese characters are 384 bytes of UTF-8 and a valid name; 129 are not.
    std::string name;
    for (int i = 0; i < 128; ++i) name += "\xe5\xbc\xa0";  // 张
    CHECK(check_person_name(name).has_value());
    CHECK_FALSE(check_person_name(name + "\xe5\xbc\xa0").has_value());
    auto p = make_person(name, "custodian", std::string("450100"), std::string("B-1"));
    REQUIRE(p.has_value());
    CHECK(p->role == person_role::custodian);
    CHECK(p->city == std::optional<std::string>("450100"));
    CHECK(make_person("disp", "dispatcher", std::nullopt, std::nullopt).has_value());
}
