// The Prometheus text writer: exact output for counters, gauges,
// summaries and histograms (cumulative buckets, +Inf, _sum, _count), escaping of label
// values and HELP text, the errors a caller's mistakes get, and every page
// checked by the real `promtool check metrics` (the parser and linter
// Prometheus ships). Without promtool those checks skip, except in CI
// (GOSCOPE_REQUIRE_BPF=1), where a missing promtool fails.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "child.h"
#include "error.h"
#include "output/prometheus_text.h"
#include "tool_required.h"

namespace goscope {
namespace {

const char* kPromtool = "/usr/bin/promtool";


struct PromtoolResult {
  int exit_code;
  std::string output;
};

// `promtool check metrics < page`: exit 0 and no output for a clean page.
PromtoolResult Promtool(const std::string& page) {
  PromtoolResult r{-1, ""};
  r.output = testing::RunCommand(std::string(kPromtool) + " check metrics 2>&1", page, &r.exit_code);
  return r;
}

TEST(PrometheusText, CounterAndGaugeExactText) {
  PrometheusTextWriter w;
  w.Family("goscope_goroutines_created_total", MetricType::kCounter, "Goroutines created, by creation site.");
  w.Sample({{"pid", "42"}, {"site", "main.worker"}}, 1234);
  w.Sample({{"pid", "42"}, {"site", "net/http.(*Server).Serve"}}, 7);
  w.Family("goscope_goroutines", MetricType::kGauge, "Live goroutines.");
  w.Sample({}, 12);
  w.Sample({{"pid", "43"}}, 0.5);
  EXPECT_EQ(w.text(),
            "# HELP goscope_goroutines_created_total Goroutines created, by creation site.\n"
            "# TYPE goscope_goroutines_created_total counter\n"
            "goscope_goroutines_created_total{pid=\"42\",site=\"main.worker\"} 1234\n"
            "goscope_goroutines_created_total{pid=\"42\",site=\"net/http.(*Server).Serve\"} 7\n"
            "# HELP goscope_goroutines Live goroutines.\n"
            "# TYPE goscope_goroutines gauge\n"
            "goscope_goroutines 12\n"
            "goscope_goroutines{pid=\"43\"} 0.5\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  PrometheusTextWriter w;
  w.Family("goscope_gc_pause_seconds", MetricType::kHistogram, "Stop-the-world pauses.");
  // 3 at or below 0.001, 2 in (0.001, 0.01], 0 in (0.01, 0.1], 1 above.
  w.Histogram({{"pid", "7"}}, {{0.001, 0.01, 0.1}, {3, 2, 0, 1}, 0.25});
  EXPECT_EQ(w.text(),
            "# HELP goscope_gc_pause_seconds Stop-the-world pauses.\n"
            "# TYPE goscope_gc_pause_seconds histogram\n"
            "goscope_gc_pause_seconds_bucket{pid=\"7\",le=\"0.001\"} 3\n"
            "goscope_gc_pause_seconds_bucket{pid=\"7\",le=\"0.01\"} 5\n"
            "goscope_gc_pause_seconds_bucket{pid=\"7\",le=\"0.1\"} 5\n"
            "goscope_gc_pause_seconds_bucket{pid=\"7\",le=\"+Inf\"} 6\n"
            "goscope_gc_pause_seconds_sum{pid=\"7\"} 0.25\n"
            "goscope_gc_pause_seconds_count{pid=\"7\"} 6\n");
}

TEST(PrometheusText, SummaryQuantilesThenSumAndCount) {
  PrometheusTextWriter w;
  w.Family("goscope_go_gc_duration_seconds", MetricType::kSummary, "GC pauses.");
  w.Summary({{"pid", "7"}}, {{{0, 1e-5}, {0.5, 2e-5}, {1, 0.001}}, 0.0125, 42});
  EXPECT_EQ(w.text(),
            "# HELP goscope_go_gc_duration_seconds GC pauses.\n"
            "# TYPE goscope_go_gc_duration_seconds summary\n"
            "goscope_go_gc_duration_seconds{pid=\"7\",quantile=\"0\"} 1e-05\n"
            "goscope_go_gc_duration_seconds{pid=\"7\",quantile=\"0.5\"} 2e-05\n"
            "goscope_go_gc_duration_seconds{pid=\"7\",quantile=\"1\"} 0.001\n"
            "goscope_go_gc_duration_seconds_sum{pid=\"7\"} 0.0125\n"
            "goscope_go_gc_duration_seconds_count{pid=\"7\"} 42\n");
}

TEST(PrometheusText, HistogramWithoutLabelsOrBounds) {
  PrometheusTextWriter w;
  w.Family("x_bytes", MetricType::kHistogram, "h");
  w.Histogram({}, {{}, {4}, 100});
  EXPECT_EQ(w.text(),
            "# HELP x_bytes h\n# TYPE x_bytes histogram\n"
            "x_bytes_bucket{le=\"+Inf\"} 4\nx_bytes_sum 100\nx_bytes_count 4\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  PrometheusTextWriter w;
  w.Family("g", MetricType::kGauge, "back\\slash and\nnewline, \"quotes\" stay");
  w.Sample({{"path", "C:\\dir\\\"x\"\nnext"}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP g back\\\\slash and\\nnewline, \"quotes\" stay\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\\\\\\"x\\\"\\nnext\"} 1\n");
  EXPECT_EQ(EscapeLabelValue("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");          // valid UTF-8 kept
  EXPECT_EQ(EscapeLabelValue("bad \xFF\xC0\x80 end"), "bad \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");  // replaced
  EXPECT_EQ(EscapeLabelValue("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate is invalid
}

TEST(PrometheusText, FormatsSpecialValues) {
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-2.5), "-2.5");
  EXPECT_EQ(FormatMetricValue(1e6), "1000000");
  EXPECT_EQ(std::stod(FormatMetricValue(0.1)), 0.1);  // round-trips
  EXPECT_EQ(std::stod(FormatMetricValue(1.0 / 3)), 1.0 / 3);
}

TEST(PrometheusText, ValidatesNames) {
  EXPECT_TRUE(IsValidMetricName("goscope_heap_inuse_bytes"));
  EXPECT_TRUE(IsValidMetricName("job:rate5m"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_TRUE(IsValidLabelName("site"));
  EXPECT_TRUE(IsValidLabelName("_x1"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("9"));
  EXPECT_FALSE(IsValidLabelName(""));
}

TEST(PrometheusText, RefusesMistakes) {
  {
    PrometheusTextWriter w;
    EXPECT_THROW(w.Sample({}, 1), Error);  // no family yet
    EXPECT_THROW(w.Family("bad-name", MetricType::kGauge, ""), Error);
    EXPECT_THROW(w.Family("requests", MetricType::kCounter, ""), Error);  // counters are *_total
  }
  {
    PrometheusTextWriter w;
    w.Family("a_total", MetricType::kCounter, "");
    EXPECT_THROW(w.Sample({}, -1), Error);
    EXPECT_THROW(w.Sample({}, std::nan("")), Error);
    EXPECT_THROW(w.Sample({{"x", "1"}, {"x", "2"}}, 1), Error);  // label twice
    EXPECT_THROW(w.Sample({{"__x", "1"}}, 1), Error);
    EXPECT_THROW(w.Histogram({}, {{1}, {0, 0}, 0}), Error);  // not a histogram family
    w.Sample({{"a", "1"}, {"b", "2"}}, 1);
    EXPECT_THROW(w.Sample({{"b", "2"}, {"a", "1"}}, 2), Error);  // the same series again
    EXPECT_THROW(w.Family("a_total", MetricType::kCounter, ""), Error);  // family twice
  }
  {
    PrometheusTextWriter w;
    w.Family("h", MetricType::kHistogram, "");
    EXPECT_THROW(w.Sample({}, 1), Error);
    EXPECT_THROW(w.Histogram({{"le", "1"}}, {{1}, {0, 0}, 0}), Error);
    EXPECT_THROW(w.Histogram({}, {{2, 1}, {0, 0, 0}, 0}), Error);  // not increasing
    EXPECT_THROW(w.Histogram({}, {{1, 1}, {0, 0, 0}, 0}), Error);
    EXPECT_THROW(w.Histogram({}, {{1, std::numeric_limits<double>::infinity()}, {0, 0, 0}, 0}), Error);
    EXPECT_THROW(w.Histogram({}, {{1, 2}, {0, 0}, 0}), Error);  // counts must include +Inf
    // A histogram owns h_sum, h_count and h_bucket.
    EXPECT_THROW(w.Family("h_count", MetricType::kGauge, ""), Error);
    EXPECT_THROW(w.Family("h_bucket", MetricType::kGauge, ""), Error);
  }
  {
    PrometheusTextWriter w;
    w.Family("q_sum", MetricType::kGauge, "");
    EXPECT_THROW(w.Family("q", MetricType::kHistogram, ""), Error);
    EXPECT_THROW(w.Family("q", MetricType::kSummary, ""), Error);
  }
  {
    PrometheusTextWriter w;
    w.Family("s", MetricType::kSummary, "");
    EXPECT_THROW(w.Sample({}, 1), Error);
    EXPECT_THROW(w.Summary({{"quantile", "1"}}, {{{0.5, 1}}, 1, 1}), Error);
    EXPECT_THROW(w.Summary({}, {{{1.5, 1}}, 1, 1}), Error);            // out of [0, 1]
    EXPECT_THROW(w.Summary({}, {{{0.5, 1}, {0.25, 1}}, 1, 1}), Error);  // not ascending
    EXPECT_THROW(w.Family("s_count", MetricType::kGauge, ""), Error);   // a summary owns s_count
    w.Family("g", MetricType::kGauge, "");
    EXPECT_THROW(w.Summary({}, {{}, 0, 0}), Error);  // not a summary family
  }
}

// A page with everything the agent will write, including the awkward label
// values real Go symbol names and paths bring.
std::string FullPage() {
  PrometheusTextWriter w;
  w.Family("goscope_goroutines_created_total", MetricType::kCounter, "Goroutines created, by creation site.");
  w.Sample({{"pid", "42"}, {"site", "main.(*pool).spawn.func1"}}, 1234);
  w.Sample({{"pid", "42"}, {"site", "weird \"quoted\" \\ site\nline2"}}, 3);
  w.Sample({{"pid", "42"}, {"site", "invalid \xFF utf8"}}, 1);
  w.Family("goscope_goroutines", MetricType::kGauge, "Live goroutines; help with \\ and\nnewline.");
  w.Sample({{"pid", "42"}}, 17);
  w.Sample({{"pid", "43"}}, std::numeric_limits<double>::infinity());
  w.Family("goscope_gc_pause_seconds", MetricType::kHistogram, "Stop-the-world pauses.");
  w.Histogram({{"pid", "42"}}, {{1e-6, 1e-5, 1e-4, 1e-3, 0.01}, {0, 5, 9, 2, 1, 0}, 0.0123});
  w.Histogram({{"pid", "43"}}, {{1e-6, 1e-5, 1e-4, 1e-3, 0.01}, {0, 0, 0, 0, 0, 0}, 0});
  w.Family("goscope_heap_inuse_bytes", MetricType::kGauge, "Heap in use.");
  w.Sample({{"pid", "42"}, {"empty", ""}}, 1.5e9);
  w.Family("goscope_go_gc_duration_seconds", MetricType::kSummary, "GC pauses.");
  w.Summary({{"pid", "42"}}, {{{0, 1e-5}, {0.25, 1.5e-5}, {0.5, 2e-5}, {0.75, 3e-5}, {1, 0.001}}, 0.0125, 42});
  return w.text();
}

TEST(PrometheusText, PromtoolAcceptsFullPage) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(kPromtool, "prometheus");
  auto r = Promtool(FullPage());
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n---\n" << FullPage();
  EXPECT_EQ(r.output, "") << FullPage();
}

// The oracle can fail: promtool rejects what the writer refuses to write.
TEST(PrometheusText, PromtoolRejectsWhatTheWriterRefuses) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(kPromtool, "prometheus");
  std::string good = "# HELP a_total h\n# TYPE a_total counter\na_total{x=\"1\"} 1\n";
  EXPECT_EQ(Promtool(good).exit_code, 0);
  // An unescaped newline inside a label value, and a counter without _total.
  EXPECT_NE(Promtool("# HELP a_total h\n# TYPE a_total counter\na_total{x=\"1\n2\"} 1\n").exit_code, 0);
  EXPECT_NE(Promtool("# HELP a h\n# TYPE a counter\na 1\n").exit_code, 0);
}

}  // namespace
}  // namespace goscope
