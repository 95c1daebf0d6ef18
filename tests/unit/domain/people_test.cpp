// The person rules (people.hpp): one table, one place.
#include "eqm/domain/people.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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

TEST_CASE("badge cities are known codes, each once, sorted, without the home city", "[people]") {
    auto p = make_person("amy", "officer", std::string("450100"), std::string("B-1"),
                         {"450300", "450100", "450200"});
    REQUIRE(p.has_value());
    CHECK(p->badge_cities == std::optional<std::vector<std::string>>({"450200", "450300"}));
    CHECK(p->badge_allowed_in("450300"));
    CHECK_FALSE(p->badge_allowed_in("450400"));
    for (const auto& bad :
         {std::vector<std::string>{"999999"}, std::vector<std::string>{"450200", "450200"}}) {
        auto r = make_person("amy", "officer", std::string("450100"), std::string("B-1"), bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().field == "badge_cities");
    }
}

TEST_CASE("a request body and a patch are read field by field, naming what is wrong", "[people]") {
    using nlohmann::json;
    struct bad_case {
        json body;
        std::string field;
    };
    auto c = GENERATE(
        bad_case{json{{"role", "admin"}}, "name"}, bad_case{json{{"name", "amy"}}, "role"},
        bad_case{json{{"name", 7}, {"role", "admin"}}, "name"},
        bad_case{json{{"name", "amy"}, {"role", "admin"}, {"city", 450100}}, "city"},
        bad_case{json{{"name", "amy"}, {"role", "admin"}, {"badge", true}}, "badge"},
        bad_case{json{{"name", "amy"}, {"role", "admin"}, {"badge_cities", "450100"}},
                 "badge_cities"},
        bad_case{json{{"name", "amy"}, {"role", "admin"}, {"badge_cities", {1}}}, "badge_cities"});
    INFO(c.body.dump());
    auto p = person_from_json(c.body);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == errc::bad_field);
    CHECK(p.error().field == c.field);

    auto amy = person_from_json(json{{"name", "amy"}, {"role", "custodian"}, {"city", "450100"}});
    REQUIRE(amy.has_value());
    amy->id = "amy";
    CHECK(patch_person(*amy, json{{"city", nullptr}}).error().field == "city");
    CHECK(patch_person(*amy, json{{"active", "no"}}).error().field == "active");
    auto off = patch_person(*amy, json{{"active", false}, {"badge", "B-9"}});
    REQUIRE(off.has_value());
    CHECK(off->id == "amy");
    CHECK_FALSE(off->is_active());
    CHECK(off->badge == std::optional<std::string>("B-9"));
    CHECK(check_password("1234567").error().field == "password");
    CHECK(check_password("12345678").has_value());
}
