#pragma once
/// A tiny Prometheus text-format (0.0.4) writer for /metrics handlers. Each metric family gets its
/// `# HELP` and `# TYPE` lines once, before its first sample; label values are escaped.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eqm::http {

/// Label name/value pairs, written in the given order.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// A histogram's state: `counts[i]` observations fell in (bounds[i-1], bounds[i]]; the last entry
/// of `counts` (one more than `bounds`) is the +Inf bucket. The writer makes them cumulative.
struct histogram_data {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;
    double sum = 0;
    std::uint64_t count = 0;
};

/// Not thread-safe: build one per scrape.
class prometheus_writer {
  public:
    /// The Content-Type a /metrics response carries.
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

    /// `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* and, by convention, end in `_total`.
    prometheus_writer& counter(std::string_view name, std::string_view help, double value,
                               const metric_labels& labels = {});
    prometheus_writer& gauge(std::string_view name, std::string_view help, double value,
                             const metric_labels& labels = {});
    /// Writes `<name>_bucket{le=...}`, `<name>_sum` and `<name>_count`.
    prometheus_writer& histogram(std::string_view name, std::string_view help,
                                 const histogram_data& data, const metric_labels& labels = {});

    /// The text so far.
    const std::string& text() const noexcept { return out_; }
    /// Moves the text out, leaving the writer empty.
    std::string take();

  private:
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const metric_labels& labels, double value,
                const std::pair<std::string_view, std::string_view>* extra = nullptr);

    std::string out_;
    std::set<std::string, std::less<>> families_;
};

}  // namespace eqm::http
