// The SVG flame graph writer: the frames it draws (read back from the SVG with
// a regex over its one-line-per-frame output), their geometry and tooltips,
// errors for malformed folded stacks, and well-formedness checked by xmllint
// when it is installed.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "child.h"
#include "error.h"
#include "output/flame_graph.h"
#include "tool_required.h"

namespace goscope {
namespace {

struct DrawnFrame {
  std::string tooltip;  // as written, XML-escaped
  double x, y, width;
  std::string fill, label;
};

std::vector<DrawnFrame> Frames(const std::string& svg) {
  static const std::regex re(
      R"re(<g class="f"><title>([^<]*)</title><rect x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)" )re"
      R"re(height="[0-9.]+" rx="2" ry="2" fill="([^"]+)"/><text x="[0-9.]+" y="[0-9.]+">([^<]*)</text></g>)re");
  std::vector<DrawnFrame> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    out.push_back({m[1], std::stod(m[2]), std::stod(m[3]), std::stod(m[4]), m[5], m[6]});
  }
  return out;
}

// Frames by function name (the tooltip up to " (").
std::map<std::string, DrawnFrame> ByName(const std::vector<DrawnFrame>& frames) {
  std::map<std::string, DrawnFrame> out;
  for (const auto& f : frames) {
    std::string name = f.tooltip.substr(0, f.tooltip.rfind(" ("));
    EXPECT_FALSE(out.count(name)) << "frame drawn twice: " << name;
    out[name] = f;
  }
  return out;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + needle.size())) ++n;
  return n;
}


// Empty when xmllint accepts the document, else its complaint.
std::string XmllintErrors(const std::string& svg) {
  int status = -1;
  std::string complaint;
  testing::RunCommand("xmllint --noout -", svg, &status, &complaint);
  if (status == 0) return "";
  return complaint.empty() ? "xmllint failed, status " + std::to_string(status) : complaint;
}

// Options with a few fields changed (designated initializers that skip fields
// make GCC warn under -Wextra).
FlameGraphOptions Opts(const std::string& unit, std::string title = "") {
  FlameGraphOptions o;
  o.unit = unit;
  o.title = std::move(title);
  return o;
}
FlameGraphOptions WithWidth(int width) {
  FlameGraphOptions o;
  o.width = width;
  return o;
}
FlameGraphOptions WithFrameHeight(int frame_height) {
  FlameGraphOptions o;
  o.frame_height = frame_height;
  return o;
}
FlameGraphOptions WithMinWidth(double min_width_px) {
  FlameGraphOptions o;
  o.min_width_px = min_width_px;
  return o;
}

constexpr double kDrawWidth = 1200 - 2 * 10;  // default width minus the side padding

const char* const kFolded =
    "main.main;main.work;runtime.mallocgc 300\n"
    "\n"
    "main.main;main.(*T).m 400\n"
    "main.main;main.work 100\r\n"
    "   \n"
    "main.main;main.(*T).m 200\n";  // same stack again: adds up to 600

TEST(FlameGraph, FramesMergeAndAreProportional) {
  std::string svg = FlameGraphSvg(kFolded, Opts("samples", "heap"));
  auto frames = Frames(svg);
  ASSERT_EQ(frames.size(), 5u) << svg;  // all, main.main, main.(*T).m, main.work, runtime.mallocgc
  EXPECT_EQ(Count(svg, "<rect"), frames.size() + 1);  // plus the background
  EXPECT_EQ(Count(svg, "<g class=\"f\">"), frames.size());
  auto by = ByName(frames);

  // The root holds the total; common prefixes are one frame.
  EXPECT_EQ(by["all"].tooltip, "all (1,000 samples, 100.00%)");
  EXPECT_EQ(by["main.main"].tooltip, "main.main (1,000 samples, 100.00%)");
  EXPECT_EQ(by["main.(*T).m"].tooltip, "main.(*T).m (600 samples, 60.00%)");
  EXPECT_EQ(by["main.work"].tooltip, "main.work (400 samples, 40.00%)");
  EXPECT_EQ(by["runtime.mallocgc"].tooltip, "runtime.mallocgc (300 samples, 30.00%)");

  // Widths are value / total of the drawable width; siblings are in name order
  // and callees start where their caller does.
  EXPECT_NEAR(by["all"].width, kDrawWidth, 0.01);
  EXPECT_NEAR(by["main.main"].width, kDrawWidth, 0.01);
  EXPECT_NEAR(by["main.(*T).m"].width, kDrawWidth * 0.6, 0.01);
  EXPECT_NEAR(by["main.work"].width, kDrawWidth * 0.4, 0.01);
  EXPECT_NEAR(by["runtime.mallocgc"].width, kDrawWidth * 0.3, 0.01);
  EXPECT_NEAR(by["main.(*T).m"].x, 10, 0.01);
  EXPECT_NEAR(by["main.work"].x, 10 + kDrawWidth * 0.6, 0.01);
  EXPECT_NEAR(by["runtime.mallocgc"].x, by["main.work"].x, 0.01);
  EXPECT_NEAR(by["main.work"].width / by["runtime.mallocgc"].width, 400.0 / 300.0, 1e-3);

  // The root is the bottom row, each callee one row (16 px) above its caller.
  EXPECT_NEAR(by["all"].y - by["main.main"].y, 16, 0.01);
  EXPECT_NEAR(by["main.main"].y - by["main.work"].y, 16, 0.01);
  EXPECT_NEAR(by["main.work"].y - by["runtime.mallocgc"].y, 16, 0.01);
  EXPECT_DOUBLE_EQ(by["main.work"].y, by["main.(*T).m"].y);
  for (const auto& f : frames) EXPECT_LE(f.y, by["all"].y);

  // Wide frames show their whole name.
  EXPECT_EQ(by["main.main"].label, "main.main");
  EXPECT_EQ(by["runtime.mallocgc"].label, "runtime.mallocgc");

  // Title, self-contained, scripted extras hidden until the script runs.
  EXPECT_NE(svg.find(">heap</text>"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_NE(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("id=\"search\""), std::string::npos);
  EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
  EXPECT_EQ(FlameGraphSvg(kFolded, Opts("samples", "heap")), svg);  // deterministic
}

TEST(FlameGraph, ColorsByName) {
  auto by = ByName(Frames(FlameGraphSvg(kFolded, {})));
  auto rgb = [](const std::string& fill) {
    int r, g, b;
    EXPECT_EQ(std::sscanf(fill.c_str(), "rgb(%d,%d,%d)", &r, &g, &b), 3) << fill;
    return std::vector<int>{r, g, b};
  };
  auto app = rgb(by["main.work"].fill), rt = rgb(by["runtime.mallocgc"].fill);
  EXPECT_GE(app[0], 205);  // warm: red high, blue low
  EXPECT_LE(app[2], 55);
  EXPECT_GT(rt[2], rt[0]);  // the runtime is blue
  EXPECT_NE(by["main.work"].fill, by["main.(*T).m"].fill);
  // The same name gets the same color in another graph.
  auto other = ByName(Frames(FlameGraphSvg("x;main.work 5\n", {})));
  EXPECT_EQ(other["main.work"].fill, by["main.work"].fill);
}

TEST(FlameGraph, EscapesNames) {
  std::string svg = FlameGraphSvg("main.F[...];pkg.G<int>&\"it's\" 7\n", Opts("count"));
  auto frames = Frames(svg);
  ASSERT_EQ(frames.size(), 3u) << svg;
  auto by = ByName(frames);
  ASSERT_TRUE(by.count("main.F[...]"));
  const std::string escaped = "pkg.G&lt;int&gt;&amp;&quot;it&apos;s&quot;";
  ASSERT_TRUE(by.count(escaped)) << svg;
  EXPECT_EQ(by[escaped].tooltip, escaped + " (7, 100.00%)");
  EXPECT_EQ(by[escaped].label, escaped);
  EXPECT_EQ(svg.find("G<int>"), std::string::npos);
  EXPECT_EQ(svg.find("&\""), std::string::npos);
}

TEST(FlameGraph, FormatsValuesByUnit) {
  const std::string folded = "a;b 12897485\na;c 1536\na;d 512\n";  // 12.3 MiB, 1.5 KiB, 512 B
  FlameGraphOptions all_frames = Opts("bytes");
  all_frames.min_width_px = 0;  // d is 0.05 px wide
  auto bytes = ByName(Frames(FlameGraphSvg(folded, all_frames)));
  EXPECT_EQ(bytes["b"].tooltip, "b (12.3 MiB, 99.98%)");
  EXPECT_EQ(bytes["c"].tooltip, "c (1.5 KiB, 0.01%)");
  EXPECT_EQ(bytes["d"].tooltip, "d (512 B, 0.00%)");
  EXPECT_EQ(ByName(Frames(FlameGraphSvg("a 5368709120\n", Opts("bytes"))))["a"].tooltip, "a (5.0 GiB, 100.00%)");
  EXPECT_EQ(ByName(Frames(FlameGraphSvg("a 1048575\n", Opts("bytes"))))["a"].tooltip, "a (1.0 MiB, 100.00%)");

  auto count = ByName(Frames(FlameGraphSvg("a;b 1234\na;c 1234567\n", Opts("count"))));
  EXPECT_EQ(count["b"].tooltip, "b (1,234, 0.10%)");
  EXPECT_EQ(count["c"].tooltip, "c (1,234,567, 99.90%)");
  EXPECT_EQ(count["a"].tooltip, "a (1,235,801, 100.00%)");
  auto samples = ByName(Frames(FlameGraphSvg("a 999\n", Opts("samples"))));
  EXPECT_EQ(samples["a"].tooltip, "a (999 samples, 100.00%)");
}

TEST(FlameGraph, TruncatesLabelsAndOmitsNarrowFrames) {
  const std::string long_name = "main.(*someReceiverType).aVeryLongMethodNameThatCannotFit";
  std::string folded = "main.main;" + long_name + " 30\nmain.main;main.wide 970\nmain.main;main.tiny 1\n";
  auto by = ByName(Frames(FlameGraphSvg(folded, {})));
  // 30/1001 of 1180 px is ~35 px: room for ~4 characters of 7 px, so 2 and "..".
  ASSERT_TRUE(by.count(long_name));
  const std::string& label = by[long_name].label;
  EXPECT_EQ(label.substr(label.size() - 2), "..");
  EXPECT_LT(label.size(), long_name.size());
  EXPECT_EQ(long_name.compare(0, label.size() - 2, label, 0, label.size() - 2), 0);
  // main.tiny is 1.18 px: drawn (default min 0.1 px) but with no room for a label.
  ASSERT_TRUE(by.count("main.tiny"));
  EXPECT_EQ(by["main.tiny"].label, "");

  // Below the minimum width a frame and its callees are left out; the root and
  // the totals still count them.
  std::string narrow = "a;big 100000\na;small;smaller 1\n";
  auto omitted = ByName(Frames(FlameGraphSvg(narrow, WithMinWidth(0.1))));
  EXPECT_EQ(omitted.size(), 3u);
  EXPECT_FALSE(omitted.count("small"));
  EXPECT_FALSE(omitted.count("smaller"));
  EXPECT_EQ(omitted["a"].tooltip, "a (100,001 samples, 100.00%)");
  EXPECT_EQ(ByName(Frames(FlameGraphSvg(narrow, WithMinWidth(0)))).size(), 5u);
}

TEST(FlameGraph, MalformedLinesNameTheLine) {
  auto message = [](const std::string& folded) -> std::string {
    try {
      FlameGraphSvg(folded, {});
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message("a;b 10\n\nno_value_here\n").find("line 3"), std::string::npos);
  EXPECT_NE(message("a;b 10\na;b ten\n").find("line 2"), std::string::npos);
  EXPECT_NE(message("a;b -4\n").find("line 1"), std::string::npos);
  EXPECT_NE(message("a;b 4x\n").find("line 1"), std::string::npos);
  EXPECT_NE(message("a;b 1.5\n").find("line 1"), std::string::npos);
  EXPECT_NE(message("a;b 99999999999999999999\n").find("line 1"), std::string::npos);
  EXPECT_NE(message("x 1\ny 2\na;;b 4\n").find("line 3"), std::string::npos);
  EXPECT_NE(message("a; 4\n").find("empty frame"), std::string::npos);
  EXPECT_NE(message(" 4\n").find("line 1"), std::string::npos);
  EXPECT_NE(message("a 9223372036854775807\nb 1\n").find("line 2"), std::string::npos);  // total overflows
  EXPECT_THROW(FlameGraphSvg("a 1\n", WithWidth(10)), Error);
  EXPECT_THROW(FlameGraphSvg("a 1\n", WithFrameHeight(0)), Error);
  EXPECT_THROW(FlameGraphSvg("a 1\n", WithMinWidth(-1)), Error);
}

TEST(FlameGraph, NoSamples) {
  for (const char* folded : {"", "\n\n  \n", "a;b 0\n"}) {
    std::string svg = FlameGraphSvg(folded, Opts("samples", "empty"));
    EXPECT_NE(svg.find(">no samples</text>"), std::string::npos) << svg;
    EXPECT_EQ(Count(svg, "<g class=\"f\">"), 0u);
    EXPECT_EQ(svg.find("<svg"), svg.find("<svg version"));
    EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
    if (testing::ToolInstalled("xmllint") || testing::ToolsRequired()) {
      EXPECT_EQ(XmllintErrors(svg), "");
    }
  }
}

TEST(FlameGraph, DeepStacks) {
  std::string stack = "f0";
  for (int i = 1; i < 5000; ++i) stack += ";f" + std::to_string(i);
  std::string svg = FlameGraphSvg(stack + " 1\n", {});
  EXPECT_EQ(Count(svg, "<g class=\"f\">"), 5001u);
}

TEST(FlameGraph, WellFormedXml) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("xmllint", "libxml2-utils");
  std::string weird = "main.F[...];pkg.G<int>&\"it's\";bad\x01"
                      "ctl;bad\xff\xfeutf8;caf\xc3\xa9;trunc\xe2\x82 5\n"
                      "main.F[...];]]>--&amp 3\n";
  for (const std::string& folded : {std::string(kFolded), weird}) {
    for (const FlameGraphOptions& opts : {Opts("bytes", "t <&> \"'"), WithWidth(300)}) {
      std::string svg = FlameGraphSvg(folded, opts);
      EXPECT_EQ(XmllintErrors(svg), "") << svg;
    }
  }
}

}  // namespace
}  // namespace goscope
