// Prometheus text exposition format 0.0.4, the page the agent serves on
// /metrics. A writer that cannot produce an invalid page: a family's HELP and
// TYPE come once, its samples follow them and nothing else comes between;
// names are checked, label values and help text escaped, histogram buckets
// written cumulatively up to le="+Inf" with _sum and _count, summaries'
// quantiles likewise followed by _sum and _count. A caller's
// mistake (a bad name, a family written twice, a counter going negative)
// is an Error, not a page that Prometheus rejects at scrape time.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace goscope {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram, kSummary };

// name="value" pairs in the order they are written.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// One histogram series. counts[i] is the number of observations that fell in
// bucket i alone (not cumulative): (upper_bounds[i-1], upper_bounds[i]], and
// the last entry, counts[upper_bounds.size()], those above the highest bound.
// So counts.size() == upper_bounds.size() + 1, and _count is their sum.
struct HistogramSample {
  std::vector<double> upper_bounds;  // finite, strictly increasing
  std::vector<uint64_t> counts;
  double sum = 0;
};

// One summary series: quantile -> value (quantiles in [0, 1], ascending), and
// the _sum and _count of everything observed (client_golang's
// go_gc_duration_seconds is one).
struct SummarySample {
  std::vector<std::pair<double, double>> quantiles;
  double sum = 0;
  uint64_t count = 0;
};

bool IsValidMetricName(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidLabelName(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*, not starting "__"

class PrometheusTextWriter {
 public:
  // Starts a family and writes its HELP and TYPE lines. Throws Error for an
  // invalid name, a counter not named *_total (Prometheus' convention, which
  // `promtool check metrics` enforces), or a name whose series another family
  // already wrote (a histogram "x" owns x_bucket, x_sum and x_count).
  void Family(std::string_view name, MetricType type, std::string_view help);

  // A sample of the current counter or gauge family. Throws Error for a
  // histogram family, bad or repeated label names, a label set already
  // written in this family, or a counter that is negative or NaN.
  void Sample(const MetricLabels& labels, double value);

  // A series of the current histogram family: name_bucket{...,le="..."} for
  // every bound and +Inf, then name_sum and name_count. Throws Error for a
  // family that is not a histogram, a label named "le", bounds that are not
  // finite and strictly increasing, or counts of the wrong size.
  void Histogram(const MetricLabels& labels, const HistogramSample& histogram);

  // A series of the current summary family: name{...,quantile="q"} for each
  // quantile, then name_sum and name_count. Throws Error for a family that is
  // not a summary, a label named "quantile", or quantiles out of [0, 1] or
  // not ascending.
  void Summary(const MetricLabels& labels, const SummarySample& summary);

  const std::string& text() const { return out_; }

 private:
  void WriteSeries(std::string_view name, const MetricLabels& labels, std::string_view extra_label,
                   std::string_view extra_value, std::string_view value);
  void ClaimSeriesLabels(const MetricLabels& labels);

  std::string out_;
  std::string family_;  // "" before the first Family
  MetricType type_ = MetricType::kGauge;
  std::set<std::string> names_;        // every series name written so far
  std::set<std::string> label_sets_;   // of the current family, to refuse duplicates
};

// Escapes a label value (\\, \", \n) for the text format; invalid UTF-8
// becomes U+FFFD, since the format is UTF-8 and one odd symbol name must not
// break the whole page.
std::string EscapeLabelValue(std::string_view value);
// Escapes HELP text (\\, \n), invalid UTF-8 likewise replaced.
std::string EscapeHelp(std::string_view help);
// A sample value as Prometheus reads it: shortest round-trip decimal,
// "+Inf", "-Inf", "NaN".
std::string FormatMetricValue(double value);

}  // namespace goscope
