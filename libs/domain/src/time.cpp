#include "eqm/domain/time.hpp"

#include <algorithm>
#include <cstdio>

namespace eqm {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        const char c = s[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

bool read_date(std::string_view s, std::chrono::year_month_day& ymd) {
    int y = 0, m = 0, d = 0;
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return false;
    if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m) || !digits(s, 8, 2, d)) return false;
    ymd = std::chrono::year{y} / std::chrono::month{static_cast<unsigned>(m)} /
          std::chrono::day{static_cast<unsigned>(d)};
    return ymd.ok();
}

}  // namespace

result<clock_ms> parse_timestamp(std::string_view s, std::string_view field) {
    const auto bad = [&] {
        return fail(
            errc::bad_field, std::string(field),
            "must be an RFC 3339 UTC time with milliseconds, like 2026-11-26T08:30:00.000Z");
    };
    if (s.size() != 24 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' ||
        s[23] != 'Z')
        return bad();
    std::chrono::year_month_day ymd{};
    if (!read_date(s, ymd)) return bad();
    int hh = 0, mm = 0, ss = 0, ms = 0;
    if (!digits(s, 11, 2, hh) || !digits(s, 14, 2, mm) || !digits(s, 17, 2, ss) ||
        !digits(s, 20, 3, ms))
        return bad();
    if (hh > 23 || mm > 59 || ss > 59) return bad();
    return clock_ms{std::chrono::sys_days{ymd}} + std::chrono::hours{hh} +
           std::chrono::minutes{mm} + std::chrono::seconds{ss} + std::chrono::milliseconds{ms};
}

result<clock_ms> parse_rfc3339(std::string_view s, std::string_view field) {
    const auto bad = [&](std::string_view why) {
        return fail(errc::bad_field, std::string(field),
                    std::string(why) +
                        "; expected an RFC 3339 time with an offset, like "
                        "2026-11-27T09:00:00+08:00 or 2026-11-27T01:00:00.000Z");
    };
    std::chrono::year_month_day ymd{};
    if (s.size() < 20 || !read_date(s, ymd)) return bad("not a date-time");
    if (s[10] != 'T' && s[10] != 't') return bad("the date and time must be joined by T");
    int hh = 0, mm = 0, ss = 0;
    if (s[13] != ':' || s[16] != ':' || !digits(s, 11, 2, hh) || !digits(s, 14, 2, mm) ||
        !digits(s, 17, 2, ss))
        return bad("not a time of day");
    if (hh > 23 || mm > 59 || ss > 59) return bad("hour, minute or second out of range");
    std::size_t pos = 19;
    int ms = 0;
    if (s[pos] == '.') {
        std::size_t n = 0;
        for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
            if (n < 3) ms = ms * 10 + (s[pos] - '0');
        if (n == 0) return bad("a fraction of a second needs digits");
        for (; n < 3; ++n) ms *= 10;
    }
    std::chrono::minutes offset{0};
    const auto zone = s.substr(std::min(pos, s.size()));
    if (zone == "Z" || zone == "z") {
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
        int oh = 0, om = 0;
        if (!digits(zone, 1, 2, oh) || !digits(zone, 4, 2, om) || oh > 23 || om > 59)
            return bad("the offset is not +hh:mm or -hh:mm");
        offset = std::chrono::hours{oh} + std::chrono::minutes{om};
        if (zone[0] == '-') offset = -offset;
    } else {
        return bad("the offset (Z, +hh:mm or -hh:mm) is missing or malformed");
    }
    return clock_ms{std::chrono::sys_days{ymd}} + std::chrono::hours{hh} +
           std::chrono::minutes{mm} + std::chrono::seconds{ss} + std::chrono::milliseconds{ms} -
           offset;
}

std::string format_timestamp(clock_ms t) {
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{day};
    std::chrono::hh_mm_ss<std::chrono::milliseconds> tod{t - day};
    const int year = static_cast<int>(ymd.year());
    if (year >= 0 && year <= 9999) {
        // Every stored and sent record carries timestamps: digits by hand, not snprintf.
        std::string out = "0000-00-00T00:00:00.000Z";
        const auto put = [&](std::size_t pos, std::size_t n, long long v) {
            for (std::size_t i = pos + n; i > pos; --i, v /= 10)
                out[i - 1] = static_cast<char>('0' + v % 10);
        };
        put(0, 4, year);
        put(5, 2, static_cast<unsigned>(ymd.month()));
        put(8, 2, static_cast<unsigned>(ymd.day()));
        put(11, 2, tod.hours().count());
        put(14, 2, tod.minutes().count());
        put(17, 2, tod.seconds().count());
        put(20, 3, tod.subseconds().count());
        return out;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                  static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                  static_cast<int>(tod.subseconds().count()));
    return buf;
}

result<date> parse_date(std::string_view s, std::string_view field) {
    std::chrono::year_month_day ymd{};
    if (s.size() != 10 || !read_date(s, ymd))
        return fail(errc::bad_field, std::string(field), "must be a calendar date like 2026-11-26");
    return std::chrono::sys_days{ymd};
}

std::string format_date(date d) {
    const std::chrono::year_month_day ymd{d};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return buf;
}

}  // namespace eqm
