// An SVG flame graph from folded stacks, in the spirit of Brendan Gregg's
// flamegraph.pl: one standalone file (no external resources), the root at the
// bottom, each frame as wide as its share of the total. Frames carry <title>
// tooltips, so the picture works in any SVG viewer; a small embedded script
// adds click-to-zoom, hover details and a search box where scripts run.
#pragma once
#include <string>

namespace goscope {

struct FlameGraphOptions {
  std::string title;  // "" gives "Flame Graph"
  // How values read in tooltips: "bytes" ("12.3 MiB"), "count" ("1,234"),
  // "samples" ("1,234 samples"); any other word is appended ("1,234 <unit>").
  std::string unit = "samples";
  int width = 1200;           // of the whole image, in px; 100..1000000
  int frame_height = 16;      // px per stack level; 8..100
  double min_width_px = 0.1;  // frames narrower than this are left out, with their callees
};

// folded: "root;caller;leaf VALUE" lines (flamegraph.pl's input, what
// FoldedHeapStacks writes): frames separated by ';', outermost first, then
// whitespace and a non-negative integer. Frame names may contain spaces (the
// value is the last field). Blank lines are ignored; lines with the same stack
// add up; common prefixes merge into one frame; siblings are in name order.
// Throws Error naming the line for a malformed line (no value, a value that is
// not a non-negative integer, an empty frame) and for out-of-range options.
// No samples (empty input, or all values 0) gives an SVG that says so.
std::string FlameGraphSvg(const std::string& folded, const FlameGraphOptions& opts);

}  // namespace goscope
