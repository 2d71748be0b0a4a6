// The user-space half of bpf/gc.bpf.c: garbage-collection cycles and
// stop-the-world pauses of a running Go process.
//
// Each cycle comes from the runtime's own record of it (runtime.work), read in
// BPF at the moment mark termination restarts the world: the same timestamps,
// heap sizes and cycle number GODEBUG=gctrace=1 prints, so the two agree to
// the nanosecond. The trigger kind is the argument of the gcStart call whose
// goroutine then stopped the world. Stop-the-world pauses of any reason (GC or
// not) are also timed from the probes themselves (stopTheWorldWithSema entry to
// startTheWorldWithSema entry).
//
// Layout keys read (runtime_layout.h key convention): runtime.g.goid,
// runtime.g.m, runtime.m.curg, runtime.work (variable; found by disassembly
// when the binary has no symbols), runtime.workType.{cycles, userForced,
// tSweepTerm, tMark, tMarkTerm, tEnd, pauseNS, heap0, heap1, heap2}, and
// runtime.runtimeInitTime (optional: gctrace's "@Ns" process time).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "go_binary.h"
#include "probe_sites.h"
#include "runtime_layout.h"
#include "target_process.h"

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

class GcTracer {
 public:
  // Loads the BPF program; throws Error naming what is missing.
  // ring_bytes: the ring buffer (a power of two; 0: the default, 1 MiB).
  GcTracer(const TargetProcess& target, const RuntimeLayout& layout, uint32_t ring_bytes = 0);
  ~GcTracer();

  // Attaches the kGcStart, kStopTheWorld and kStartTheWorld sites, for the
  // target's pid, or for every process of its binary when that pid is -1
  // (each traced process then added with AddProcess). A cycle that ended
  // before a process was added is not reported.
  void Attach(const std::vector<ProbeSite>& sites);
  // Starts (stops) reporting the cycles of pid, a process of the target's binary.
  void AddProcess(pid_t pid, uint64_t load_bias);
  void RemoveProcess(pid_t pid);
  void Detach();
  size_t probes() const;
  // Drains the ring buffer: on_cycle for each cycle that ended, on_stw (if
  // given) for each stop-the-world pause. Returns the number of events read.
  int Drain(const std::function<void(const GcCycle&)>& on_cycle,
            const std::function<void(const StwPause&)>& on_stw = nullptr);
  // Events the BPF side could not submit (ring buffer full).
  uint64_t lost() const;
  // Where runtime.work's address came from ("dwarf", "symtab", "disassembly").
  const std::string& work_source() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace goscope
