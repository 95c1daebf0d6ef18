// People over REST against the real eqm-server: who may do what, every refusal naming its field
// and changing nothing, duplicates, the one-time password, and a deactivation that ends the
// person's logins and WebSocket feed at once.
#include <catch2/catch.hpp>
#include <set>

#include "server_fixture.hpp"

using namespace eqm;
using namespace eqm::server_test;

namespace {

/// Every person the admin sees, as one JSON array (follows the pages).
json everyone(api_client& admin) {
    return all_items(admin, "/api/v1/people?limit=2");
}

api_reply patch(api_client& c, const std::string& id, const json& body) {
    return c.call("PATCH", "/api/v1/people/" + id, body.dump(), "application/json");
}

void check_problem(const api_reply& r, unsigned status, const std::string& type,
                   const std::string& field = "") {
    INFO(r.text);
    CHECK(r.status == status);
    CHECK(r.content_type.starts_with("application/problem+json"));
    CHECK(r.body["type"] == "urn:eqm:problem:" + type);
    if (!field.empty()) CHECK(r.body["field"] == field);
}

}  // namespace

TEST_CASE(
    "an admin creates and edits people, and every refused request names its field and "
    "changes nothing",
    "[server][people]") {
    region_fixture region;
    auto admin = region.as("admin");
    auto made = admin.post("/api/v1/people", json{{"name", "zhang-wei"},
                                                  {"role", "officer"},
                                                  {"city", "450100"},
                                                  {"badge", "B-ZW"},
                                                  {"badge_cities", {"450300", "450200"}}});
    INFO(made.text);
    REQUIRE(made.status == 201);
    CHECK(made.body["id"] == "zhang-wei");
    CHECK(made.body["badge_cities"] == json{"450200", "450300"});
    CHECK(made.body["must_change_password"] == true);
    CHECK(made.body["one_time_password"].get<std::string>().size() == 16);
    CHECK_FALSE(made.body.contains("password_hash"));
    const json before = everyone(admin);
    REQUIRE(before.size() == 6);

    struct bad_case {
        json body;
        unsigned status;
        std::string type, field;
    };
    const json ok{{"name", "li-na"}, {"role", "custodian"}, {"city", "450100"}};
    auto with = [&](const char* key, json v) {
        json b = ok;
        b[key] = std::move(v);
        return b;
    };
    auto without = [&](const char* key) {
        json b = ok;
        b.erase(key);
        return b;
    };
    for (const auto& c :
         {bad_case{without("name"), 400, "bad_field", "name"},
          bad_case{with("name", ""), 400, "bad_field", "name"},
          bad_case{with("role", "boss"), 400, "bad_field", "role"},
          bad_case{without("city"), 400, "bad_field", "city"},
          bad_case{with("city", "999999"), 400, "bad_field", "city"},
          bad_case{with("badge", "B 1"), 400, "bad_field", "badge"},
          bad_case{with("badge_cities", json::array({"999999"})), 400, "bad_field", "badge_cities"},
          bad_case{with("badge_cities", "450200"), 400, "bad_field", "badge_cities"},
          bad_case{with("password", "short"), 400, "bad_field", "password"},
          bad_case{with("nickname", "x"), 400, "unknown_field", "nickname"},
          bad_case{with("name", "cust-nn"), 409, "conflict", "name"},
          bad_case{with("badge", "B-CUST-NN"), 409, "conflict", "badge"}}) {
        INFO(c.body.dump());
        check_problem(admin.post("/api/v1/people", c.body), c.status, c.type, c.field);
    }
    check_problem(patch(admin, "disp", json{{"role", "officer"}}), 400, "bad_field", "city");
    check_problem(patch(admin, "zhang-wei", json{{"active", "no"}}), 400, "bad_field", "active");
    check_problem(patch(admin, "zhang-wei", json{{"badge_cities", {"450100", 1}}}), 400,
                  "bad_field", "badge_cities");
    check_problem(patch(admin, "zhang-wei", json{{"name", "cust-lz"}}), 409, "conflict", "name");
    check_problem(patch(admin, "zhang-wei", json{{"badge", "B-OFF-NN"}}), 409, "conflict", "badge");
    check_problem(patch(admin, "zhang-wei", json{{"password", "new-secret"}}), 400, "unknown_field",
                  "password");
    check_problem(patch(admin, "nobody", json{{"active", false}}), 404, "not_found", "id");
    check_problem(patch(admin, "admin", json{{"active", false}}), 409, "conflict", "active");
    check_problem(patch(admin, "admin", json{{"role", "dispatcher"}}), 409, "conflict", "role");
    CHECK(everyone(admin) == before);

    auto edited = patch(admin, "zhang-wei",
                        json{{"name", "张伟"}, {"badge_cities", nullptr}, {"badge", "B-ZW-2"}});
    INFO(edited.text);
    REQUIRE(edited.status == 200);
    CHECK(edited.body["name"] == "张伟");
    CHECK(edited.body["badge_cities"] == json::array());
    CHECK(admin.get("/api/v1/people/zhang-wei").body == edited.body);
    // A given password is the person's own: no one-time password, nothing to change.
    auto given = admin.post("/api/v1/people", with("password", "li-na-secret"));
    REQUIRE(given.status == 201);
    CHECK(given.body["must_change_password"] == false);
    CHECK_FALSE(given.body.contains("one_time_password"));
    CHECK(login(region.port(), "li-na", "li-na-secret").size() == 64);
}

TEST_CASE("people are read by role: the region, a custodian's city, an officer only themselves",
          "[server][people]") {
    region_fixture region;
    auto admin = region.as("admin");
    REQUIRE(admin
                .post("/api/v1/people", json{{"name", "visitor"},
                                             {"role", "officer"},
                                             {"city", "450200"},
                                             {"badge", "B-VIS"},
                                             {"badge_cities", {"450100"}}})
                .status == 201);
    auto disp = region.as("disp");
    CHECK(all_items(disp, "/api/v1/people").size() == 6);
    auto custodians = all_items(disp, "/api/v1/people?role=custodian");
    CHECK(custodians.size() == 2);
    auto page = disp.get("/api/v1/people?limit=4");
    CHECK(page.body["items"].size() == 4);
    CHECK(page.body["next_cursor"].is_string());

    // A custodian of 450100 sees its people: its own, and the visitor whose badge works there.
    auto cust = region.as("cust-nn");
    std::set<std::string> ids;
    for (const auto& p : all_items(cust, "/api/v1/people")) ids.insert(p["id"].get<std::string>());
    CHECK(ids == std::set<std::string>{"cust-nn", "off-nn", "visitor"});
    CHECK(cust.get("/api/v1/people/visitor").status == 200);
    check_problem(cust.get("/api/v1/people/cust-lz"), 403, "forbidden", "city");
    check_problem(cust.get("/api/v1/people?city=450200"), 403, "forbidden", "city");

    auto off = region.as("off-nn");
    check_problem(off.get("/api/v1/people"), 403, "forbidden", "role");
    check_problem(off.get("/api/v1/people/cust-nn"), 403, "forbidden", "role");
    CHECK(off.get("/api/v1/people/off-nn").body["role"] == "officer");

    for (auto* c : {&disp, &cust, &off}) {
        check_problem(c->post("/api/v1/people", json{{"name", "x"}, {"role", "admin"}}), 403,
                      "forbidden", "role");
        check_problem(patch(*c, "off-nn", json{{"active", false}}), 403, "forbidden", "role");
        check_problem(c->post("/api/v1/people/off-nn/password-reset", json::object()), 403,
                      "forbidden", "role");
    }
    check_problem(disp.get("/api/v1/people?limit=0"), 400, "bad_field", "limit");
    check_problem(disp.get("/api/v1/people?cursor=nonsense"), 400, "bad_field", "cursor");
    check_problem(disp.get("/api/v1/people?role=boss"), 400, "bad_field", "role");
    check_problem(disp.get("/api/v1/people?active=maybe"), 400, "bad_field", "active");
    api_client anon(region.port());
    check_problem(anon.get("/api/v1/people"), 401, "unauthorized");
    CHECK(all_items(admin, "/api/v1/people?active=true").size() == 6);
}

TEST_CASE(
    "a one-time password opens nothing but the password change, and a reset ends the "
    "person's logins",
    "[server][people][auth]") {
    region_fixture region;
    auto admin = region.as("admin");
    auto made = admin.post("/api/v1/people",
                           json{{"name", "li-na"}, {"role", "custodian"}, {"city", "450100"}});
    REQUIRE(made.status == 201);
    const auto otp = made.body["one_time_password"].get<std::string>();

    api_client anon(region.port());
    auto first = anon.post("/api/v1/auth/login", json{{"name", "li-na"}, {"password", otp}});
    INFO(first.text);
    REQUIRE(first.status == 200);
    CHECK(first.body["must_change_password"] == true);
    api_client li(region.port(), first.body["token"].get<std::string>());
    check_problem(li.get("/api/v1/devices"), 403, "password_change_required");
    check_problem(li.get("/api/v1/people/li-na"), 403, "password_change_required");
    check_problem(li.post("/api/v1/auth/password",
                          json{{"password", "wrong-one"}, {"new_password", "li-na-secret"}}),
                  400, "bad_field", "password");
    check_problem(li.post("/api/v1/auth/password", json{{"password", otp}, {"new_password", "x"}}),
                  400, "bad_field", "new_password");
    check_problem(li.post("/api/v1/auth/password", json{{"password", otp}}), 400, "bad_field",
                  "new_password");
    check_problem(li.get("/api/v1/devices"), 403, "password_change_required");

    auto changed =
        li.post("/api/v1/auth/password", json{{"password", otp}, {"new_password", "li-na-secret"}});
    INFO(changed.text);
    REQUIRE(changed.status == 200);
    CHECK(changed.body["must_change_password"] == false);
    CHECK(li.get("/api/v1/devices").status == 200);  // the same login goes on
    check_problem(anon.post("/api/v1/auth/login", json{{"name", "li-na"}, {"password", otp}}), 401,
                  "unauthorized");
    auto second =
        anon.post("/api/v1/auth/login", json{{"name", "li-na"}, {"password", "li-na-secret"}});
    CHECK(second.body["must_change_password"] == false);

    auto reset = admin.post("/api/v1/people/li-na/password-reset", json::object());
    INFO(reset.text);
    REQUIRE(reset.status == 200);
    CHECK(reset.body["must_change_password"] == true);
    const auto otp2 = reset.body["one_time_password"].get<std::string>();
    CHECK(otp2 != otp);
    check_problem(li.get("/api/v1/devices"), 401, "unauthorized");
    check_problem(
        anon.post("/api/v1/auth/login", json{{"name", "li-na"}, {"password", "li-na-secret"}}), 401,
        "unauthorized");
    auto third = anon.post("/api/v1/auth/login", json{{"name", "li-na"}, {"password", otp2}});
    CHECK(third.body["must_change_password"] == true);
    check_problem(admin.post("/api/v1/people/nobody/password-reset", json::object()), 404,
                  "not_found", "id");
}

TEST_CASE("a deactivated person's tokens and WebSocket feed stop at once", "[server][people]") {
    region_fixture region;
    auto admin = region.as("admin");
    auto off = region.as("off-nn");
    REQUIRE(off.get("/api/v1/devices").status == 200);
    ws_listener feed(region.port(), "/api/v1/events?token=" + region.tokens["off-nn"]);
    auto off2 = api_client(region.port(), login(region.port(), "off-nn", "off-nn-pw"));

    auto gone = patch(admin, "off-nn", json{{"active", false}});
    INFO(gone.text);
    REQUIRE(gone.status == 200);
    CHECK(gone.body["active"] == false);
    // Both logins end with the answer, not at the next check of the feed guard.
    check_problem(off.get("/api/v1/devices"), 401, "unauthorized");
    check_problem(off2.get("/api/v1/devices"), 401, "unauthorized");
    CHECK(feed.wait_closed(quick));
    check_problem(
        api_client(region.port())
            .post("/api/v1/auth/login", json{{"name", "off-nn"}, {"password", "off-nn-pw"}}),
        401, "unauthorized");
    auto inactive = all_items(admin, "/api/v1/people?active=false");
    REQUIRE(inactive.size() == 1);
    CHECK(inactive[0]["id"] == "off-nn");

    REQUIRE(patch(admin, "off-nn", json{{"active", true}}).status == 200);
    CHECK(login(region.port(), "off-nn", "off-nn-pw").size() == 64);
}
