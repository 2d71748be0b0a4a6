#include "output/prometheus_text.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kSummary: return "summary";
  }
  return "untyped";
}

// Length of the valid UTF-8 sequence at s[i], or 0 if there is none
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; k++) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

std::string Escape(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i++;
      continue;
    }
    char c = s[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name)
    if (!IsNameChar(c) && c != ':') return false;
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.substr(0, 2) == "__") return false;
  for (char c : name)
    if (!IsNameChar(c)) return false;
  return true;
}

std::string EscapeLabelValue(std::string_view value) { return Escape(value, true); }

std::string EscapeHelp(std::string_view help) { return Escape(help, false); }

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

void PrometheusTextWriter::Family(std::string_view name, MetricType type, std::string_view help) {
  if (!IsValidMetricName(name))
    throw Error(fmt::format("prometheus: invalid metric name \"{}\" (must match [a-zA-Z_:][a-zA-Z0-9_:]*)",
                            EscapeLabelValue(name)));
  if (type == MetricType::kCounter && !EndsWith(name, "_total"))
    throw Error(fmt::format("prometheus: counter {} must be named *_total", name));
  std::vector<std::string> series{std::string(name)};
  if (type == MetricType::kHistogram)
    for (const char* suffix : {"_bucket", "_sum", "_count"}) series.push_back(std::string(name) + suffix);
  if (type == MetricType::kSummary)
    for (const char* suffix : {"_sum", "_count"}) series.push_back(std::string(name) + suffix);
  for (const auto& s : series)
    if (names_.count(s)) throw Error(fmt::format("prometheus: metric {} is written by two families", s));
  names_.insert(series.begin(), series.end());
  family_ = std::string(name);
  type_ = type;
  label_sets_.clear();
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, TypeName(type));
}

void PrometheusTextWriter::ClaimSeriesLabels(const MetricLabels& labels) {
  if (family_.empty()) throw Error("prometheus: sample written before any Family");
  std::set<std::string_view> seen;
  std::string key;
  for (const auto& [name, value] : labels) {
    if (!IsValidLabelName(name))
      throw Error(fmt::format("prometheus: {}: invalid label name \"{}\" (must match [a-zA-Z_][a-zA-Z0-9_]*, "
                              "not starting with __)",
                              family_, EscapeLabelValue(name)));
    if (type_ == MetricType::kHistogram && name == "le")
      throw Error(fmt::format("prometheus: {}: label \"le\" is reserved for histogram buckets", family_));
    if (type_ == MetricType::kSummary && name == "quantile")
      throw Error(fmt::format("prometheus: {}: label \"quantile\" is reserved for summary quantiles", family_));
    if (!seen.insert(name).second) throw Error(fmt::format("prometheus: {}: label {} given twice", family_, name));
  }
  // The identity of a series is its label set, whatever the order given.
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, value] : sorted) key += fmt::format("{}=\"{}\",", name, EscapeLabelValue(value));
  if (!label_sets_.insert(key).second)
    throw Error(fmt::format("prometheus: {}: series {{{}}} written twice", family_, key));
}

void PrometheusTextWriter::WriteSeries(std::string_view name, const MetricLabels& labels, std::string_view extra_label,
                                       std::string_view extra_value, std::string_view value) {
  out_ += name;
  if (!labels.empty() || !extra_label.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [label, v] : labels) {
      out_ += fmt::format("{}{}=\"{}\"", first ? "" : ",", label, EscapeLabelValue(v));
      first = false;
    }
    if (!extra_label.empty()) out_ += fmt::format("{}{}=\"{}\"", first ? "" : ",", extra_label, extra_value);
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void PrometheusTextWriter::Sample(const MetricLabels& labels, double value) {
  if (!family_.empty() && type_ == MetricType::kHistogram)
    throw Error(fmt::format("prometheus: {} is a histogram: use Histogram, not Sample", family_));
  if (!family_.empty() && type_ == MetricType::kSummary)
    throw Error(fmt::format("prometheus: {} is a summary: use Summary, not Sample", family_));
  ClaimSeriesLabels(labels);
  if (type_ == MetricType::kCounter && !(value >= 0))
    throw Error(fmt::format("prometheus: counter {} cannot be {}", family_, FormatMetricValue(value)));
  WriteSeries(family_, labels, "", "", FormatMetricValue(value));
}

void PrometheusTextWriter::Histogram(const MetricLabels& labels, const HistogramSample& h) {
  if (family_.empty() || type_ != MetricType::kHistogram)
    throw Error(fmt::format("prometheus: Histogram needs a histogram family{}",
                            family_.empty() ? "" : fmt::format(" ({} is not one)", family_)));
  for (size_t i = 0; i < h.upper_bounds.size(); i++) {
    double b = h.upper_bounds[i];
    if (!std::isfinite(b) || (i > 0 && !(b > h.upper_bounds[i - 1])))
      throw Error(fmt::format("prometheus: {}: bucket bounds must be finite and strictly increasing", family_));
  }
  if (h.counts.size() != h.upper_bounds.size() + 1)
    throw Error(fmt::format("prometheus: {}: {} bucket bounds need {} counts (the last for +Inf), got {}", family_,
                            h.upper_bounds.size(), h.upper_bounds.size() + 1, h.counts.size()));
  ClaimSeriesLabels(labels);
  const std::string bucket = family_ + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); i++) {
    cumulative += h.counts[i];
    std::string le = i < h.upper_bounds.size() ? FormatMetricValue(h.upper_bounds[i]) : "+Inf";
    WriteSeries(bucket, labels, "le", le, fmt::format("{}", cumulative));
  }
  WriteSeries(family_ + "_sum", labels, "", "", FormatMetricValue(h.sum));
  WriteSeries(family_ + "_count", labels, "", "", fmt::format("{}", cumulative));
}

void PrometheusTextWriter::Summary(const MetricLabels& labels, const SummarySample& summary) {
  if (family_.empty() || type_ != MetricType::kSummary)
    throw Error(fmt::format("prometheus: Summary needs a summary family{}",
                            family_.empty() ? "" : fmt::format(" ({} is not one)", family_)));
  for (size_t i = 0; i < summary.quantiles.size(); i++) {
    double q = summary.quantiles[i].first;
    if (!(q >= 0 && q <= 1) || (i > 0 && !(q > summary.quantiles[i - 1].first)))
      throw Error(fmt::format("prometheus: {}: quantiles must be in [0, 1] and ascending", family_));
  }
  ClaimSeriesLabels(labels);
  for (const auto& [q, v] : summary.quantiles)
    WriteSeries(family_, labels, "quantile", FormatMetricValue(q), FormatMetricValue(v));
  WriteSeries(family_ + "_sum", labels, "", "", FormatMetricValue(summary.sum));
  WriteSeries(family_ + "_count", labels, "", "", fmt::format("{}", summary.count));
}

}  // namespace goscope
