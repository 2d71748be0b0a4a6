#include "trace_support.h"

#include <fmt/format.h>

namespace goscope {

const std::vector<std::string>& RequiredLayoutKeys(const GoBinary& bin) {
  static const std::vector<std::string> kKeys = {
      "runtime.g.goid",     "runtime.g.atomicstatus", "runtime.g.waitreason",  "runtime.g.sched.sp",
      "runtime.g.sched.pc", "runtime.g.sched.bp",     "runtime.g.gopc",        "runtime.g.startpc",
      "runtime.g.stack.lo", "runtime.g.stack.hi",     "runtime.allgs",         "runtime.allglen",
  };
  return kKeys;
}

std::string TestedReleases() {
  std::string out;
  auto minors = TableMinorVersions();
  for (size_t i = 0; i < minors.size();) {
    size_t j = i;
    while (j + 1 < minors.size() && minors[j + 1] == minors[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += j == i ? fmt::format("go1.{}", minors[i]) : fmt::format("go1.{}..go1.{}", minors[i], minors[j]);
    i = j + 1;
  }
  return out;
}

Verdict AssessTraceability(const GoBinary& bin, const RuntimeLayout& layout, const std::vector<ProbeSite>& sites) {
  Verdict v;
  auto ver = bin.version();
  if (!ver) {
    v.problems.push_back("the binary does not say which Go release built it (no build info)");
  } else if (ver->second < kMinGoMinor) {
    v.problems.push_back(fmt::format("{} is older than the oldest supported release go1.{}", bin.go_version(),
                                     kMinGoMinor));
  } else if (ver->second > TableMinorVersions().back()) {
    v.notes.push_back(fmt::format("{} is newer than the releases goscope is tested on ({}): the runtime "
                                  "layout comes from the binary's DWARF only, and the runtime's calling conventions "
                                  "are taken to be go1.{}'s",
                                  bin.go_version(), TestedReleases(), TableMinorVersions().back()));
  }
  bool layout_missing = false;
  for (const auto& key : RequiredLayoutKeys(bin))
    if (!layout.get(key).known()) {
      layout_missing = true;
      v.problems.push_back(fmt::format("runtime layout: {} unknown (no DWARF, and {} not in the offset table "
                                       "or not found by disassembly)", key, bin.go_version()));
    }
  if (layout_missing)
    v.notes.push_back("without these, goroutines, attach, heap, gc, run and agent refuse this binary; "
                      "symbolize and info work");
  for (const auto& s : sites) {
    bool essential = s.purpose == ProbePurpose::kGoroutineCreate || s.purpose == ProbePurpose::kGoroutineNewG ||
                     s.purpose == ProbePurpose::kGoroutineExit;
    if (s.not_needed()) continue;
    if (!s.ok() && essential)
      v.problems.push_back(fmt::format("probe site {}: {}", PurposeName(s.purpose), s.error));
    else if (!s.ok())
      v.notes.push_back(fmt::format("probe site {} unavailable: {}", PurposeName(s.purpose), s.error));
    else if (s.how.find("single-stepped") != std::string::npos || s.how.find("ret of") != std::string::npos)
      v.notes.push_back(fmt::format("probe site {} is single-stepped (~5 us per hit instead of ~1 us)",
                                    PurposeName(s.purpose)));
  }
  if (!layout.get("runtime.MemProfileRate").known())
    v.notes.push_back("runtime.MemProfileRate not found: sampled heap profiling cannot be switched on");
  v.traceable = v.problems.empty();
  return v;
}

}  // namespace goscope
