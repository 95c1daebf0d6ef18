#include "eqm/http/metrics.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace eqm::http {
namespace {

void append_number(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else {
        std::array<char, 64> buf{};
        auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
        out.append(buf.data(), ec == std::errc{} ? end : buf.data());
    }
}

/// Prometheus' text format escapes backslash and newline in HELP text, and the double quote
/// too in a label value (where it would end the value).
enum class escape_quote { no, yes };

void append_escaped(std::string& out, std::string_view text, escape_quote quote) {
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quote == escape_quote::yes)
            out += "\\\"";
        else
            out += c;
    }
}

}  // namespace

void prometheus_writer::family(std::string_view name, std::string_view type,
                               std::string_view help) {
    if (families_.contains(name)) return;
    families_.emplace(name);
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, help, escape_quote::no);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void prometheus_writer::sample(std::string_view name, const metric_labels& labels, double value,
                               const std::pair<std::string_view, std::string_view>* extra) {
    out_ += name;
    if (!labels.empty() || extra != nullptr) {
        out_ += '{';
        bool first = true;
        auto label = [&](std::string_view k, std::string_view v) {
            if (!first) out_ += ',';
            first = false;
            out_ += k;
            out_ += "=\"";
            append_escaped(out_, v, escape_quote::yes);
            out_ += '"';
        };
        for (const auto& [k, v] : labels) label(k, v);
        if (extra != nullptr) label(extra->first, extra->second);
        out_ += '}';
    }
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
}

prometheus_writer& prometheus_writer::counter(std::string_view name, std::string_view help,
                                              double value, const metric_labels& labels) {
    family(name, "counter", help);
    sample(name, labels, value);
    return *this;
}

prometheus_writer& prometheus_writer::gauge(std::string_view name, std::string_view help,
                                            double value, const metric_labels& labels) {
    family(name, "gauge", help);
    sample(name, labels, value);
    return *this;
}

prometheus_writer& prometheus_writer::histogram(std::string_view name, std::string_view help,
                                                const histogram_data& data,
                                                const metric_labels& labels) {
    family(name, "histogram", help);
    const std::string bucket = std::string{name} + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= data.bounds.size(); ++i) {
        cumulative += i < data.counts.size() ? data.counts[i] : 0;
        std::string le;
        append_number(le, i < data.bounds.size() ? data.bounds[i] : HUGE_VAL);
        const std::pair<std::string_view, std::string_view> extra{"le", le};
        sample(bucket, labels, static_cast<double>(cumulative), &extra);
    }
    sample(std::string{name} + "_sum", labels, data.sum);
    sample(std::string{name} + "_count", labels, static_cast<double>(data.count));
    return *this;
}

std::string prometheus_writer::take() {
    std::string text = std::move(out_);
    out_.clear();
    families_.clear();
    return text;
}

}  // namespace eqm::http
