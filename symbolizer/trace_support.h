// The verdict `goscope info` prints and every tracer checks before it attaches:
// can this binary be traced, and if not, exactly why. A tracer never attaches
// to a binary that fails here (no probe at a guessed address).
#pragma once
#include <string>
#include <vector>

#include "go_binary.h"
#include "probe_sites.h"
#include "runtime_layout.h"

namespace goscope {

constexpr int kMinGoMinor = 19;
// The releases the offset table was generated from, which are the ones the
// test suite runs on: "go1.19, go1.21..go1.27". A release newer than all of
// them is read from its DWARF alone; stripped, it is refused item by item.
std::string TestedReleases();

struct Verdict {
  bool traceable = false;
  std::vector<std::string> problems;  // each one alone makes the binary untraceable
  std::vector<std::string> notes;     // limits that leave tracing possible
};

Verdict AssessTraceability(const GoBinary& bin, const RuntimeLayout& layout, const std::vector<ProbeSite>& sites);

// Layout keys the goroutine and heap tracers cannot work without.
const std::vector<std::string>& RequiredLayoutKeys(const GoBinary& bin);

}  // namespace goscope
