// GC cycles as output: a summary.json fragment, Chrome trace slices for
// timeline.json, and gctrace-style text lines. Knows nothing of BPF.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gc_cycle.h"

namespace goscope {

// Go's fmtNSAsMS (runtime/mgc.go), as gctrace prints clock times: whole
// milliseconds from 10 ms, else two significant digits with at most three
// decimals ("0.012", "1.2", "15").
std::string FormatNsAsMs(uint64_t ns);

// A line in gctrace's shape, with the fields goscope reads:
// "gc 7 @0.430s: 7.7+1.0+0.002 ms clock, 15->17->11 MB, trigger heap (forced)"
// ("@" only when the process start time is known).
std::string GcCycleLine(const GcCycle& c);

// One cycle as JSON: n, start_ns, since_start_ns (or null), trigger, forced,
// clock_ns {sweep_termination, concurrent_mark, mark_termination}, pauses_ns
// [sweep termination, mark termination], pause_total_ns, duration_ns,
// heap_start_bytes, heap_end_bytes, heap_marked_bytes.
nlohmann::json GcCycleJson(const GcCycle& c);

// Nearest-rank quantiles of every STW pause of every cycle (two per cycle):
// {"count", "p50", "p90", "p99", "max", "total"}; zeros when there is none.
nlohmann::json GcPauseQuantiles(const std::vector<GcCycle>& cycles);

// The summary.json fragment, to merge into a summary object:
//   {"gc_cycles": N, "gc_forced_cycles": F, "gc_pause_ns": {quantiles},
//    "gc_triggers": {"heap": n, ...}, "gc_cycle_list": [GcCycleJson...]}
// cycles are listed in order of n.
nlohmann::json GcSummaryJson(const std::vector<GcCycle>& cycles);

// Chrome trace events (ph "X", ts/dur in microseconds since origin_ns) on one
// track (pid, tid) named "garbage collector": one slice per cycle ("GC N"),
// one per STW pause of a cycle ("STW sweep termination", "STW mark
// termination") nested inside it, and one per stop-the-world pause that is not
// a GC's ("STW read mem stats", ...), plus the thread_name metadata event.
// Append them to a timeline's "traceEvents".
nlohmann::json GcTraceEvents(int pid, int tid, uint64_t origin_ns, const std::vector<GcCycle>& cycles,
                             const std::vector<StwPause>& stw = {});

}  // namespace goscope
