#include "eqm/domain/icalendar.hpp"

#include <array>

#include "eqm/domain/canonical_json.hpp"
#include "eqm/domain/region.hpp"

namespace eqm {
namespace {

/// The cities' names as people in Guangxi write them, in the order of region_cities.
constexpr std::array<std::string_view, region_city_count> city_names_zh{
    "南宁市", "柳州市", "桂林市", "梧州市", "北海市", "防城港市", "钦州市",
    "贵港市", "玉林市", "百色市", "贺州市", "河池市", "来宾市",   "崇左市",
};

std::string_view class_zh(device_class c) {
    switch (c) {
        case device_class::body_camera:
            return "执法记录仪";
        case device_class::drone:
            return "无人机";
        case device_class::analyzer:
            return "便携式监测仪";
        case device_class::dock:
            return "智能装备柜";
    }
    return "装备";
}

std::string_view analyte_zh(analyte a) {
    switch (a) {
        case analyte::cod:
            return "化学需氧量 (COD)";
        case analyte::nh3n:
            return "氨氮";
        case analyte::voc:
            return "挥发性有机物 (VOCs)";
        case analyte::so2:
            return "二氧化硫";
        case analyte::nox:
            return "氮氧化物";
        case analyte::noise:
            return "噪声";
    }
    return "";
}

std::string_view status_zh(reservation_status s) {
    switch (s) {
        case reservation_status::requested:
            return "待审批";
        case reservation_status::approved:
            return "已批准";
        case reservation_status::declined:
            return "已驳回";
        case reservation_status::cancelled:
            return "已取消";
        case reservation_status::active:
            return "使用中";
        case reservation_status::completed:
            return "已完成";
        case reservation_status::no_show:
            return "未领取";
        case reservation_status::overdue:
            return "逾期";
    }
    return "";
}

std::string_view event_status(reservation_status s) {
    switch (s) {
        case reservation_status::requested:
            return "TENTATIVE";
        case reservation_status::declined:
        case reservation_status::cancelled:
        case reservation_status::no_show:
            return "CANCELLED";
        default:
            return "CONFIRMED";
    }
}

std::string location(std::string_view city) {
    for (std::size_t i = 0; i < region_cities.size(); ++i)
        if (region_cities[i].code == city)
            return std::string(city_names_zh[i]) + " (" + std::string(city) + ")";
    return std::string(city);
}

std::string summary(const booking& b) {
    std::string what(class_zh(b.cls));
    what += ' ';
    if (b.device_id)
        what += *b.device_id;
    else if (b.analyte)
        what += analyte_zh(*b.analyte);
    else
        what += "（任一台）";
    what += "：";
    what += b.purpose;
    return what;
}

std::string description(const booking& b) {
    std::string out = "预约 " + b.id + " · " + std::string(status_zh(b.status)) + " (" +
                      std::string(to_string(b.status)) + ")";
    if (b.case_no) out += "\n案件编号：" + *b.case_no;
    if (b.unit_id) out += "\n领用装备：" + *b.unit_id;
    if (b.reason) out += "\n理由：" + *b.reason;
    return out + "\n用途：" + b.purpose;
}

/// Octets of the UTF-8 sequence that starts with `lead`.
std::size_t sequence_length(unsigned char lead) {
    if (lead < 0x80U) return 1;
    if ((lead >> 5U) == 0x6U) return 2;
    if ((lead >> 4U) == 0xEU) return 3;
    return 4;
}

void append_event(std::string& out, const booking& b, clock_ms now, const calendar_options& o) {
    const auto property = [&](std::string_view name, std::string_view value) {
        out += ical_line(std::string(name) + ":" + std::string(value));
    };
    property("BEGIN", "VEVENT");
    property("UID", ical_text(b.id + "@" + o.uid_domain));
    property("DTSTAMP", ical_utc(now));
    property("CREATED", ical_utc(b.created_at));
    property("LAST-MODIFIED", ical_utc(b.updated_at));
    property("DTSTART", ical_utc(b.start));
    property("DTEND", ical_utc(b.end));
    property("SUMMARY", ical_text(summary(b)));
    property("LOCATION", ical_text(location(b.city)));
    property("STATUS", event_status(b.status));
    property("DESCRIPTION", ical_text(description(b)));
    property("END", "VEVENT");
}

}  // namespace

std::string ical_text(std::string_view value) {
    const std::string text = is_valid_utf8(value) ? std::string(value) : sanitize_utf8(value);
    std::string out;
    out.reserve(text.size() + 8);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case ';':
                out += "\\;";
                break;
            case ',':
                out += "\\,";
                break;
            case '\r':
                if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
                out += "\\n";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                // TEXT allows HTAB but no other control character (RFC 5545 3.3.11).
                if ((static_cast<unsigned char>(c) < 0x20U && c != '\t') || c == '\x7f') break;
                out += c;
        }
    }
    return out;
}

std::string ical_line(std::string_view content) {
    std::string out;
    out.reserve(content.size() + content.size() / 70 * 3 + 2);
    std::size_t room = ical_line_octets;  // a continuation line's leading space takes one
    std::size_t used = 0;
    for (std::size_t i = 0; i < content.size();) {
        const std::size_t n =
            std::min(sequence_length(static_cast<unsigned char>(content[i])), content.size() - i);
        if (used + n > room) {
            out += "\r\n ";
            room = ical_line_octets - 1;
            used = 0;
        }
        out.append(content.substr(i, n));
        used += n;
        i += n;
    }
    return out + "\r\n";
}

std::string ical_utc(clock_ms t) {
    const auto s = format_timestamp(t);  // 2026-11-27T01:00:00.000Z
    return s.substr(0, 4) + s.substr(5, 2) + s.substr(8, 2) + "T" + s.substr(11, 2) +
           s.substr(14, 2) + s.substr(17, 2) + "Z";
}

std::string icalendar_feed(std::span<const booking> bookings, clock_ms now,
                           const calendar_options& options) {
    std::string out;
    out += ical_line("BEGIN:VCALENDAR");
    out += ical_line("VERSION:2.0");
    out += ical_line("PRODID:" + ical_text(options.prodid));
    out += ical_line("CALSCALE:GREGORIAN");
    out += ical_line("METHOD:PUBLISH");
    out += ical_line("X-WR-CALNAME:" + ical_text(options.name));
    out += ical_line("X-WR-TIMEZONE:Asia/Shanghai");
    out += ical_line("REFRESH-INTERVAL;VALUE=DURATION:PT15M");
    out += ical_line("X-PUBLISHED-TTL:PT15M");
    for (const auto& b : bookings) append_event(out, b, now, options);
    out += ical_line("END:VCALENDAR");
    return out;
}

}  // namespace eqm
