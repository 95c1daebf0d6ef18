// The calendar feed: RFC 5545 text, checked by hand (line length, CRLF, escaping) and read
// back with a real iCalendar parser (Debian's python3-icalendar, from scripts/bootstrap).
#include "eqm/domain/icalendar.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

const eqm::clock_ms now = eqm::parse_timestamp("2026-11-26T01:00:00.000Z").value();

eqm::booking sample(std::string id, std::string purpose) {
    eqm::booking b;
    b.id = std::move(id);
    b.person_id = "p-1";
    b.city = "450100";
    b.device_id = "dr-01";
    b.cls = eqm::device_class::drone;
    b.start = now + 2h;
    b.end = now + 4h;
    b.purpose = std::move(purpose);
    b.status = eqm::reservation_status::approved;
    b.created_at = now - 1h;
    b.updated_at = now - 30min;
    return b;
}

/// A file in a fresh directory of its own, removed with it.
class scratch_file {
  public:
    explicit scratch_file(std::string_view name) {
        std::random_device rd;
        dir_ = fs::temp_directory_path() /
               ("eqm-ical-" + std::to_string(rd()) + "-" + std::to_string(rd()));
        fs::create_directories(dir_);
        path_ = dir_ / name;
    }
    ~scratch_file() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    scratch_file(const scratch_file&) = delete;
    scratch_file& operator=(const scratch_file&) = delete;
    const fs::path& path() const { return path_; }
    void write(const std::string& text) const {
        std::ofstream out(path_, std::ios::binary);
        out << text;
        REQUIRE(out.good());
    }

  private:
    fs::path dir_;
    fs::path path_;
};

/// Reads the feed with python3-icalendar; returns what it found, as JSON.
json parse_with_python(const std::string& feed) {
    const scratch_file ics("feed.ics");
    const scratch_file script("read.py");
    ics.write(feed);
    script.write(R"(import json, sys
import icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
out = {'version': str(cal.get('VERSION')), 'prodid': str(cal.get('PRODID')),
       'name': str(cal.get('X-WR-CALNAME')), 'errors': [], 'events': []}
for c in cal.walk():
    out['errors'] += [str(e) for e in getattr(c, 'errors', [])]
for ev in cal.walk('VEVENT'):
    out['events'].append({k: str(ev.get(k)) for k in
        ('UID', 'SUMMARY', 'LOCATION', 'STATUS', 'DESCRIPTION')} |
        {'DTSTART': ev.decoded('DTSTART').isoformat(), 'DTEND': ev.decoded('DTEND').isoformat(),
         'DTSTAMP': ev.decoded('DTSTAMP').isoformat()})
print(json.dumps(out))
)");
    const std::string command =
        std::string(EQM_PYTHON3) + " " + script.path().string() + " " + ics.path().string();
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buf[4096];
    while (const auto n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
    const int status = ::pclose(pipe);
    INFO(command << "\n" << output);
    REQUIRE(status == 0);  // python3-icalendar missing? scripts/bootstrap installs it
    const auto j = json::parse(output, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
}

/// Every line ends in CRLF, holds at most 75 octets, and no UTF-8 character is split.
void check_lines(const std::string& feed) {
    REQUIRE(feed.size() >= 2);
    CHECK(feed.substr(feed.size() - 2) == "\r\n");
    std::size_t start = 0;
    while (start < feed.size()) {
        const auto end = feed.find("\r\n", start);
        REQUIRE(end != std::string::npos);
        const auto line = feed.substr(start, end - start);
        INFO(line);
        CHECK(line.size() <= eqm::ical_line_octets);
        CHECK(line.find('\n') == std::string::npos);
        CHECK(line.find('\r') == std::string::npos);
        // A continuation never starts inside a character: its second byte is no UTF-8 tail.
        if (line.size() > 1 && line[0] == ' ')
            CHECK((static_cast<unsigned char>(line[1]) & 0xC0U) != 0x80U);
        start = end + 2;
    }
}

}  // namespace

TEST_CASE("text values are escaped and long lines folded at 75 octets", "[icalendar]") {
    CHECK(eqm::ical_text("a,b;c\\d\ne\r\nf\rg\th\x01i") == "a\\,b\\;c\\\\d\\ne\\nf\\ng\thi");
    CHECK(eqm::ical_text("bad \xC3 byte") == "bad \xEF\xBF\xBD byte");
    CHECK(eqm::ical_line("SUMMARY:short") == "SUMMARY:short\r\n");
    const std::string long_ascii = "SUMMARY:" + std::string(200, 'x');
    const auto folded = eqm::ical_line(long_ascii);
    check_lines(folded);
    CHECK(folded.substr(0, 77) == long_ascii.substr(0, 75) + "\r\n");
    CHECK(folded.substr(77, 1) == " ");
    // Unfolding (remove CRLF + one space) gives the line back.
    std::string unfolded = folded.substr(0, folded.size() - 2);
    for (auto at = unfolded.find("\r\n "); at != std::string::npos; at = unfolded.find("\r\n "))
        unfolded.erase(at, 3);
    CHECK(unfolded == long_ascii);
    // Three-octet characters are never split.
    std::string chinese = "SUMMARY:";
    for (int i = 0; i < 60; ++i) chinese += "巡查";
    check_lines(eqm::ical_line(chinese));
    CHECK(eqm::ical_utc(now) == "20261126T010000Z");
}

TEST_CASE("the calendar feed is read by a real iCalendar parser", "[icalendar]") {
    auto named = sample("r-1", "河道排污口巡查, 含夜间; 取证\\复核\n第二行");
    named.case_no = "桂环罚〔2026〕12号";
    auto by_class = sample(
        "r-2", std::string(40, 'x') + "，" + [] {
            std::string s;
            for (int i = 0; i < 80; ++i) s += "长";
            return s;
        }());
    by_class.device_id.reset();
    by_class.cls = eqm::device_class::analyzer;
    by_class.analyte = eqm::analyte::cod;
    by_class.city = "451400";
    by_class.status = eqm::reservation_status::requested;
    auto cancelled = sample("r-3", "cancelled survey");
    cancelled.status = eqm::reservation_status::cancelled;
    cancelled.reason = "rain";
    const std::vector<eqm::booking> bookings{named, by_class, cancelled};

    const auto feed = eqm::icalendar_feed(bookings, now);
    check_lines(feed);
    CHECK(feed.rfind("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:", 0) == 0);

    const auto cal = parse_with_python(feed);
    CHECK(cal.at("errors").empty());
    CHECK(cal.at("version") == "2.0");
    CHECK(cal.at("prodid") == "-//eqm//equipment bookings//ZH");
    CHECK(cal.at("name") == "执法装备预约");
    const auto& events = cal.at("events");
    REQUIRE(events.size() == 3);
    CHECK(events[0].at("UID") == "r-1@eqm");
    CHECK(events[0].at("SUMMARY") == "无人机 dr-01：" + named.purpose);
    CHECK(events[0].at("LOCATION") == "南宁市 (450100)");
    CHECK(events[0].at("STATUS") == "CONFIRMED");
    CHECK(events[0].at("DTSTART") == "2026-11-26T03:00:00+00:00");
    CHECK(events[0].at("DTEND") == "2026-11-26T05:00:00+00:00");
    CHECK(events[0].at("DTSTAMP") == "2026-11-26T01:00:00+00:00");
    const std::string description = events[0].at("DESCRIPTION");
    CHECK(description.find("桂环罚〔2026〕12号") != std::string::npos);
    CHECK(description.find("已批准 (approved)") != std::string::npos);
    CHECK(events[1].at("SUMMARY") == "便携式监测仪 化学需氧量 (COD)：" + by_class.purpose);
    CHECK(events[1].at("LOCATION") == "崇左市 (451400)");
    CHECK(events[1].at("STATUS") == "TENTATIVE");
    CHECK(events[2].at("STATUS") == "CANCELLED");
    CHECK(std::string(events[2].at("DESCRIPTION")).find("理由：rain") != std::string::npos);
}

TEST_CASE("an empty feed is still a calendar", "[icalendar]") {
    const auto cal = parse_with_python(eqm::icalendar_feed({}, now));
    CHECK(cal.at("errors").empty());
    CHECK(cal.at("events").empty());
    CHECK(cal.at("version") == "2.0");
}
