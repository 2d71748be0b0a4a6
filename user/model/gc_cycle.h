// The GC model: garbage-collection cycles as the runtime recorded them, and
// stop-the-world pauses. Plain data; knows nothing of BPF or output formats.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace goscope {

// gcTrigger.kind (runtime/mgc.go, the same numbering in 1.19-1.24).
enum class GcTrigger { kUnknown = -1, kHeap = 0, kTime = 1, kCycle = 2 };
std::string_view GcTriggerName(GcTrigger t);  // "heap", "time", "cycle" (runtime.GC), "unknown"

struct GcPause {
  uint64_t start_ns = 0;     // CLOCK_MONOTONIC
  uint64_t duration_ns = 0;
  bool mark_termination = false;  // else sweep termination
};

// One GC cycle, as the runtime recorded it. gctrace's
// "gc N @T s P%: A+B+C ms clock, ..., H0->H1->H2 MB" maps to
//   N = n, T = since_start_ns (when known),
//   A = mark_ns - start_ns       (STW sweep termination: pauses[0])
//   B = mark_term_ns - mark_ns   (concurrent mark)
//   C = end_ns - mark_term_ns    (STW mark termination: pauses[1])
//   H0/H1/H2 = heap_start / heap_end / heap_marked (bytes; gctrace shows >> 20)
struct GcCycle {
  uint32_t n = 0;              // work.cycles == memstats.numgc after the cycle
  uint64_t start_ns = 0;       // work.tSweepTerm
  uint64_t mark_ns = 0;        // work.tMark
  uint64_t mark_term_ns = 0;   // work.tMarkTerm
  uint64_t end_ns = 0;         // work.tEnd
  std::optional<uint64_t> since_start_ns;  // start_ns - runtime.runtimeInitTime
  GcTrigger trigger = GcTrigger::kUnknown;
  bool forced = false;         // work.userForced: runtime.GC() (gctrace's "(forced)")
  std::vector<GcPause> pauses; // sweep termination, mark termination
  uint64_t pause_total_ns = 0; // work.pauseNS (memstats.PauseNs of the cycle)
  uint64_t heap_start = 0;     // work.heap0: heap live when the cycle started
  uint64_t heap_end = 0;       // work.heap1: heap live at mark termination
  uint64_t heap_marked = 0;    // work.heap2: bytes marked live
  pid_t pid = 0;               // the process
};

// A stop-the-world pause timed by the probes.
struct StwPause {
  uint64_t start_ns = 0;  // stopTheWorldWithSema entry
  uint64_t end_ns = 0;    // startTheWorldWithSema entry
  int reason = -1;        // stwReason (go1.21+), -1 where the runtime does not pass one
  std::string reason_name;  // "GC sweep termination", "read mem stats", ...; "" if unknown
  uint64_t goid = 0;      // goroutine that stopped the world, 0 if unknown
  pid_t pid = 0;          // the process
};

}  // namespace goscope
