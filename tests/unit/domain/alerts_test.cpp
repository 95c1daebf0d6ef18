#include "eqm/domain/alerts.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

namespace {

using namespace std::chrono_literals;

eqm::clock_ms at(const char* ts) {
    return *eqm::parse_timestamp(ts);
}

const eqm::clock_ms now = at("2026-11-26T08:30:00.000Z");

std::vector<eqm::alert_type> types_of(const std::vector<eqm::alert_condition>& list) {
    std::vector<eqm::alert_type> out;
    for (const auto& c : list) out.push_back(c.type);
    return out;
}

bool has(const std::vector<eqm::alert_condition>& list, eqm::alert_type t) {
    return std::any_of(list.begin(), list.end(), [t](const auto& c) { return c.type == t; });
}

}  // namespace

TEST_CASE("a healthy device has no alerts", "[alerts]") {
    eqm::alert_facts f;
    f.battery_pct = 90;
    f.calibration_due = *eqm::parse_date("2027-06-01");
    CHECK(eqm::evaluate_alerts(f, {}, now).empty());
}

TEST_CASE("each cause raises its alert", "[alerts]") {
    struct row {
        const char* name;
        eqm::alert_type expected;
        eqm::alert_severity severity;
        eqm::alert_facts facts;
    };
    auto base = [] {
        eqm::alert_facts f;
        f.battery_pct = 90;
        return f;
    };
    std::vector<row> rows;
    {
        auto f = base();
        f.battery_pct = 12;
        rows.push_back(
            {"low battery", eqm::alert_type::low_battery, eqm::alert_severity::warning, f});
    }
    {
        auto f = base();
        f.calibration_due = *eqm::parse_date("2026-11-25");
        rows.push_back({"calibration expired yesterday", eqm::alert_type::calibration_expired,
                        eqm::alert_severity::critical, f});
    }
    {
        auto f = base();
        f.calibration_due = *eqm::parse_date("2026-12-20");
        rows.push_back({"calibration due within 30 days", eqm::alert_type::calibration_due,
                        eqm::alert_severity::info, f});
    }
    {
        auto f = base();
        f.calibration_due = *eqm::parse_date("2026-11-26");
        rows.push_back({"calibration due today is not yet expired",
                        eqm::alert_type::calibration_due, eqm::alert_severity::info, f});
    }
    {
        auto f = base();
        f.footage_pending_since = now - 25h;
        rows.push_back({"footage pending 25 h", eqm::alert_type::footage_pending,
                        eqm::alert_severity::warning, f});
    }
    {
        auto f = base();
        f.state = eqm::custody_state::checked_out;
        f.holder = "p-1";
        f.due = now - 1min;
        rows.push_back(
            {"overdue return", eqm::alert_type::overdue_return, eqm::alert_severity::warning, f});
    }
    {
        auto f = base();
        f.state = eqm::custody_state::checked_out;
        f.holder = "p-1";
        f.docked = true;
        rows.push_back({"docked while checked out", eqm::alert_type::docked_while_checked_out,
                        eqm::alert_severity::warning, f});
    }
    {
        auto f = base();
        f.unauthorised_removal_at = now - 5min;
        rows.push_back({"unauthorised removal", eqm::alert_type::unauthorised_removal,
                        eqm::alert_severity::critical, f});
    }
    for (const auto& r : rows) {
        INFO(r.name);
        const auto got = eqm::evaluate_alerts(r.facts, {}, now);
        REQUIRE(got.size() == 1);
        CHECK(got[0].type == r.expected);
        CHECK(got[0].severity == r.severity);
        CHECK_FALSE(got[0].detail.empty());
        CHECK(got[0].detail.size() <= eqm::max_detail_chars);
    }
}

TEST_CASE("causes below their limits raise nothing", "[alerts]") {
    eqm::alert_facts f;
    f.battery_pct = 20;                                  // at the threshold, not below
    f.calibration_due = *eqm::parse_date("2026-12-26");  // exactly 30 days out
    f.footage_pending_since = now - 23h;
    f.state = eqm::custody_state::checked_out;
    f.due = now + 1h;
    CHECK(eqm::evaluate_alerts(f, {}, now).empty());
}

TEST_CASE("a charging device is not low on battery", "[alerts]") {
    eqm::alert_facts f;
    f.battery_pct = 5;
    f.charging = true;
    CHECK_FALSE(has(eqm::evaluate_alerts(f, {}, now), eqm::alert_type::low_battery));
}

TEST_CASE("low battery clears only above the hysteresis margin", "[alerts]") {
    eqm::alert_facts f;
    f.battery_pct = 22;
    const std::vector<eqm::alert_type> active{eqm::alert_type::low_battery};
    CHECK(has(eqm::evaluate_alerts(f, {}, now, active), eqm::alert_type::low_battery));
    CHECK_FALSE(has(eqm::evaluate_alerts(f, {}, now), eqm::alert_type::low_battery));
    f.battery_pct = 25;
    CHECK_FALSE(has(eqm::evaluate_alerts(f, {}, now, active), eqm::alert_type::low_battery));
}

TEST_CASE("docking again ends an unauthorised removal", "[alerts]") {
    eqm::alert_facts f;
    f.unauthorised_removal_at = now - 1h;
    f.docked = true;
    CHECK(eqm::evaluate_alerts(f, {}, now).empty());
}

TEST_CASE("a retired device has no alerts", "[alerts]") {
    eqm::alert_facts f;
    f.state = eqm::custody_state::retired;
    f.battery_pct = 1;
    f.calibration_due = *eqm::parse_date("2020-01-01");
    CHECK(eqm::evaluate_alerts(f, {}, now).empty());
}

TEST_CASE("several causes raise several alerts in table order", "[alerts]") {
    eqm::alert_facts f;
    f.battery_pct = 3;
    f.calibration_due = *eqm::parse_date("2026-01-01");
    f.state = eqm::custody_state::checked_out;
    f.due = now - 1h;
    CHECK(types_of(eqm::evaluate_alerts(f, {}, now)) ==
          std::vector{eqm::alert_type::low_battery, eqm::alert_type::calibration_expired,
                      eqm::alert_type::overdue_return});
}

TEST_CASE("diff raises what is new and clears what went away", "[alerts]") {
    const std::vector<eqm::alert_type> active{eqm::alert_type::low_battery,
                                              eqm::alert_type::overdue_return};
    const std::vector<eqm::alert_condition> wanted{
        {eqm::alert_type::low_battery, eqm::alert_severity::warning, "x"},
        {eqm::alert_type::footage_pending, eqm::alert_severity::warning, "y"}};
    const auto d = eqm::diff_alerts(active, wanted);
    REQUIRE(d.raise.size() == 1);
    CHECK(d.raise[0].type == eqm::alert_type::footage_pending);
    CHECK(d.clear == std::vector{eqm::alert_type::overdue_return});

    const auto same = eqm::diff_alerts(
        active, std::vector<eqm::alert_condition>{{eqm::alert_type::low_battery, {}, "a"},
                                                  {eqm::alert_type::overdue_return, {}, "b"}});
    CHECK(same.raise.empty());
    CHECK(same.clear.empty());
}
