#include "output/flame_graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <string_view>
#include <vector>

#include "error.h"

namespace goscope {
namespace {

// Layout, in px. The frames sit between the header (title, buttons) and the
// footer (hover details, search result); the root is the bottom row.
constexpr double kPadX = 10;
constexpr double kPadTop = 40;
constexpr double kPadBottom = 30;
constexpr double kTitleSize = 17;
constexpr double kCharWidth = 0.59;  // average glyph width of Verdana-like fonts, in em

// A call-tree node: value is everything that passed through it. Children are
// keyed (and so ordered) by name, like flamegraph.pl's sorted input.
struct Node {
  int64_t value = 0;
  std::map<std::string, size_t, std::less<>> children;  // name -> index in the node vector
};

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

[[noreturn]] void Malformed(size_t line_no, std::string_view line, std::string_view why) {
  std::string shown(line.substr(0, 100));
  if (line.size() > shown.size()) shown += "...";
  throw Error(fmt::format("folded stacks: line {}: {}: \"{}\"", line_no, why, shown));
}

// nodes[0] is the root; returns the tree.
std::vector<Node> ParseFolded(const std::string& folded) {
  std::vector<Node> nodes(1);
  std::vector<std::string_view> frames;
  size_t line_no = 0;
  for (size_t pos = 0; pos < folded.size();) {
    size_t nl = folded.find('\n', pos);
    if (nl == std::string::npos) nl = folded.size();
    std::string_view line = Trim(std::string_view(folded).substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;

    size_t sp = line.find_last_of(" \t");
    if (sp == std::string_view::npos) Malformed(line_no, line, "expected 'frame;frame;... VALUE'");
    std::string_view num = line.substr(sp + 1), stack = Trim(line.substr(0, sp));
    int64_t value = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
    if (ec != std::errc() || end != num.data() + num.size() || value < 0)
      Malformed(line_no, line, "the value is not a non-negative integer");

    frames.clear();
    for (size_t b = 0;;) {
      size_t semi = stack.find(';', b);
      std::string_view frame = stack.substr(b, semi == std::string_view::npos ? semi : semi - b);
      if (frame.empty()) Malformed(line_no, line, "empty frame name");
      frames.push_back(frame);
      if (semi == std::string_view::npos) break;
      b = semi + 1;
    }
    if (value == 0) continue;
    if (__builtin_add_overflow(nodes[0].value, value, &nodes[0].value))
      Malformed(line_no, line, "the total overflows 64 bits");
    size_t cur = 0;
    for (std::string_view frame : frames) {
      auto it = nodes[cur].children.find(frame);
      size_t next;
      if (it != nodes[cur].children.end()) {
        next = it->second;
      } else {
        next = nodes.size();
        nodes.emplace_back();  // may move nodes[cur]: look it up again below
        nodes[cur].children.emplace(std::string(frame), next);
      }
      nodes[next].value += value;  // cannot overflow: bounded by the root's
      cur = next;
    }
  }
  return nodes;
}

// Valid UTF-8 without the characters XML 1.0 forbids; anything else becomes U+FFFD.
std::string SanitizeUtf8(std::string_view s) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMinForLen[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE &&
         cp != 0xFFFF && (cp >= 0x20 || cp == '\t');
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

size_t CodePoints(std::string_view s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

// The first n code points of valid UTF-8.
std::string_view PrefixCodePoints(std::string_view s, size_t n) {
  size_t i = 0;
  for (size_t seen = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && seen++ == n) break;
  }
  return s.substr(0, i);
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string WithCommas(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatValue(int64_t v, const std::string& unit) {
  if (unit == "bytes") {
    if (v < 1024) return fmt::format("{} B", v);
    static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = static_cast<double>(v) / 1024;
    size_t u = 0;
    while (x >= 1023.95 && u + 1 < std::size(kUnits)) {  // 1023.95 would print as "1024.0"
      x /= 1024;
      ++u;
    }
    return fmt::format("{:.1f} {}", x, kUnits[u]);
  }
  if (unit == "count" || unit.empty()) return WithCommas(v);
  return WithCommas(v) + " " + unit;
}

// 64 bits of a name, well mixed (FNV-1a, then splitmix64's finalizer).
uint64_t NameHash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

bool IsGoRuntime(std::string_view name) {
  for (std::string_view p : {"runtime.", "runtime/internal/", "internal/runtime/"})
    if (name.starts_with(p)) return true;
  return false;
}

// Warm (flamegraph.pl's "hot") for code, blue for the Go runtime, grey for the
// root and for frames without a name ("[unknown]", bare addresses).
std::string FrameColor(std::string_view name, bool root) {
  if (root) return "rgb(190,190,190)";
  uint64_t h = NameHash(name);
  double v1 = (h & 0xFFFF) / 65535.0, v2 = ((h >> 16) & 0xFFFF) / 65535.0, v3 = ((h >> 32) & 0xFFFF) / 65535.0;
  auto c = [](double base, double span, double v) { return static_cast<int>(base + span * v); };
  if (name.starts_with("[") || name.starts_with("0x"))
    return fmt::format("rgb({0},{0},{1})", c(170, 40, v1), c(175, 40, v1));
  if (IsGoRuntime(name)) return fmt::format("rgb({},{},{})", c(70, 60, v1), c(140, 60, v2), c(205, 50, v3));
  return fmt::format("rgb({},{},{})", c(205, 50, v3), c(0, 230, v1), c(0, 55, v2));
}

// What fits in a frame w px wide: the name, or its start and "..", or nothing.
std::string FrameLabel(const std::string& name, double w, double font_size) {
  double n = std::floor((w - 6) / (font_size * kCharWidth));
  if (n < 3) return "";
  if (static_cast<double>(CodePoints(name)) <= n) return name;
  return std::string(PrefixCodePoints(name, static_cast<size_t>(n) - 2)) + "..";
}

// Click a frame to zoom into it (its callers stay, dimmed, at full width),
// "Reset Zoom" to go back; "Search" highlights frames matching a regexp and
// shows how much of the total they cover; hovering shows a frame's tooltip at
// the bottom. Without scripts the buttons stay hidden and nothing is lost.
constexpr std::string_view kScript = R"JS(
var details = document.getElementById("details"), matched = document.getElementById("matched");
var unzoomBtn = document.getElementById("unzoom"), searchBtn = document.getElementById("search");
var frames = Array.prototype.map.call(document.querySelectorAll("g.f"), function (g) {
  var r = g.querySelector("rect"), tip = g.querySelector("title").textContent;
  var f = {g: g, r: r, t: g.querySelector("text"), x: +r.getAttribute("x"), w: +r.getAttribute("width"),
           y: +r.getAttribute("y"), fill: r.getAttribute("fill"), name: tip.slice(0, tip.lastIndexOf(" ("))};
  g.addEventListener("click", function () { zoom(f); });
  g.addEventListener("mouseover", function () { details.textContent = tip; });
  g.addEventListener("mouseout", function () { details.textContent = " "; });
  return f;
});
function label(name, w) {
  var n = Math.floor((w - 6) / CW);
  return n < 3 ? "" : name.length <= n ? name : name.slice(0, n - 2) + "..";
}
function place(f, x, w, show, dim) {
  f.g.style.display = show ? "" : "none";
  if (!show) return;
  f.g.style.opacity = dim ? "0.5" : "";
  f.r.setAttribute("x", x.toFixed(2));
  f.r.setAttribute("width", w.toFixed(2));
  f.t.setAttribute("x", (x + 3).toFixed(2));
  f.t.textContent = label(f.name, w);
}
function zoom(z) {
  var s = W / z.w, e = 0.05;
  frames.forEach(function (f) {
    var inside = f.x >= z.x - e && f.x + f.w <= z.x + z.w + e;
    if (f.y > z.y && f.x <= z.x + e && f.x + f.w >= z.x + z.w - e) place(f, PAD, W, true, true);
    else place(f, PAD + (f.x - z.x) * s, f.w * s, f.y <= z.y && inside, false);
  });
  unzoomBtn.style.display = "";
}
unzoomBtn.addEventListener("click", function () {
  frames.forEach(function (f) { place(f, f.x, f.w, true, false); });
  unzoomBtn.style.display = "none";
});
searchBtn.addEventListener("click", function () {
  var term = matched.textContent ? "" : prompt("Search for (regular expression):", ""), re = null, spans = [];
  try { re = term ? new RegExp(term) : null; } catch (err) { alert(err); return; }
  frames.forEach(function (f) {
    var hit = re !== null && re.test(f.name);
    f.r.setAttribute("fill", hit ? "rgb(230,0,230)" : f.fill);
    if (hit) spans.push([f.x, f.x + f.w]);
  });
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var covered = 0, end = -1;
  spans.forEach(function (s) { if (s[1] > end) { covered += s[1] - Math.max(s[0], end); end = s[1]; } });
  matched.textContent = re ? "Matched: " + (100 * covered / W).toFixed(2) + "%" : "";
});
searchBtn.style.display = "";
)JS";

struct Frame {
  const std::string* name;
  int depth;
  double x, w;
  int64_t value;
};

}  // namespace

std::string FlameGraphSvg(const std::string& folded, const FlameGraphOptions& opts) {
  if (opts.width < 100 || opts.width > 1000000)
    throw Error(fmt::format("flame graph: width {} is not in 100..1000000", opts.width));
  if (opts.frame_height < 8 || opts.frame_height > 100)
    throw Error(fmt::format("flame graph: frame height {} is not in 8..100", opts.frame_height));
  if (!(opts.min_width_px >= 0)) throw Error("flame graph: the minimum frame width must be >= 0");

  std::vector<Node> nodes = ParseFolded(folded);
  const int64_t total = nodes[0].value;
  const double width = opts.width, fh = opts.frame_height, draw_w = width - 2 * kPadX;
  const double font = std::min(12.0, fh * 0.75);

  // Lay out the frames worth drawing, depth first, siblings in name order.
  static const std::string kRoot = "all";
  std::vector<Frame> frames;
  int max_depth = 0;
  if (total > 0) {
    struct Item {
      size_t node;
      const std::string* name;
      int depth;
      int64_t offset;  // in value units, from the left edge
    };
    std::vector<Item> todo{{0, &kRoot, 0, 0}}, kids;
    while (!todo.empty()) {
      Item item = todo.back();
      todo.pop_back();
      const Node& n = nodes[item.node];
      double w = static_cast<double>(n.value) / static_cast<double>(total) * draw_w;
      if (item.depth > 0 && w < opts.min_width_px) continue;  // and so are its callees
      double x = kPadX + static_cast<double>(item.offset) / static_cast<double>(total) * draw_w;
      frames.push_back({item.name, item.depth, x, w, n.value});
      max_depth = std::max(max_depth, item.depth);
      kids.clear();
      int64_t offset = item.offset;
      for (const auto& [name, id] : n.children) {
        kids.push_back({id, &name, item.depth + 1, offset});
        offset += nodes[id].value;
      }
      todo.insert(todo.end(), kids.rbegin(), kids.rend());  // first child popped first
    }
  }

  const int rows = total > 0 ? max_depth + 1 : 2;
  const double height = kPadTop + rows * fh + kPadBottom;
  const std::string title = XmlEscape(SanitizeUtf8(opts.title.empty() ? "Flame Graph" : opts.title));

  std::string out;
  out.reserve(1024 + frames.size() * 256 + kScript.size());
  auto f2 = [](double v) { return fmt::format("{:.2f}", v); };
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  out += fmt::format(
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\">\n",
      opts.width, height);
  out += "<!-- Flame graph written by goscope. Each frame is a g element of class f holding a title "
         "(the tooltip), a rect and a text; the root is at the bottom. -->\n";
  out += "<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
         "<stop offset=\"5%\" stop-color=\"#eeeeee\"/><stop offset=\"95%\" stop-color=\"#eeeeb0\"/>"
         "</linearGradient></defs>\n";
  out += "<style>g.f, #unzoom, #search { cursor: pointer; } g.f:hover rect { stroke: #000; stroke-width: 0.5; }"
         "</style>\n";
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"url(#background)\"/>\n", opts.width,
                     height);
  out += fmt::format("<g font-family=\"Verdana, 'DejaVu Sans', sans-serif\" font-size=\"{}\" fill=\"rgb(0,0,0)\">\n",
                     f2(font));
  out += fmt::format("<text x=\"{}\" y=\"24\" font-size=\"{}\" text-anchor=\"middle\">{}</text>\n", f2(width / 2),
                     kTitleSize, title);

  if (total == 0) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"rgb(100,100,100)\">no samples</text>\n",
                       f2(width / 2), f2(kPadTop + fh * 1.5));
    out += "</g>\n</svg>\n";
    return out;
  }

  out += "<text id=\"unzoom\" x=\"10\" y=\"24\" style=\"display:none\">Reset Zoom</text>\n";
  out += fmt::format("<text id=\"search\" x=\"{}\" y=\"24\" text-anchor=\"end\" style=\"display:none\">Search</text>\n",
                     f2(width - kPadX));
  out += fmt::format("<text id=\"details\" x=\"{}\" y=\"{}\"> </text>\n", f2(kPadX), f2(height - 10));
  out += fmt::format("<text id=\"matched\" x=\"{}\" y=\"{}\" text-anchor=\"end\"></text>\n", f2(width - kPadX),
                     f2(height - 10));
  out += "<g id=\"frames\">\n";
  for (const Frame& f : frames) {
    std::string name = SanitizeUtf8(*f.name);
    double y = kPadTop + (max_depth - f.depth) * fh;
    double pct = 100.0 * static_cast<double>(f.value) / static_cast<double>(total);
    out += fmt::format(
        "<g class=\"f\"><title>{} ({}, {:.2f}%)</title>"
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" ry=\"2\" fill=\"{}\"/>"
        "<text x=\"{}\" y=\"{}\">{}</text></g>\n",
        XmlEscape(name), FormatValue(f.value, opts.unit), pct, f2(f.x), f2(y), f2(f.w), f2(fh - 1),
        FrameColor(name, f.depth == 0), f2(f.x + 3), f2(y + fh / 2 + font * 0.35),
        XmlEscape(FrameLabel(name, f.w, font)));
  }
  out += "</g>\n</g>\n";
  out += "<script type=\"text/ecmascript\"><![CDATA[\n";
  out += fmt::format("var W = {}, PAD = {}, CW = {};", f2(draw_w), f2(kPadX), f2(font * kCharWidth));
  out += kScript;
  out += "]]></script>\n</svg>\n";
  return out;
}

}  // namespace goscope
