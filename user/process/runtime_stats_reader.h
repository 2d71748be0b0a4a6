// Reads a live Go process's runtime statistics from its memory, computing
// them the way runtime.ReadMemStats does (readmemstats_m: the same formulas in
// 1.19-1.27), without stopping the process and without probes. It reads
// runtime.memstats, runtime.gcController, runtime.sched, runtime.allglen and
// each P's allocation cache, which the runtime flushes before it reads and
// goscope adds in instead. Nothing is written.
//
// Not stopping means a busy process's figures come from a few microseconds
// apart; a quiet one's are exactly what ReadMemStats would return.
#pragma once
#include "model/runtime_stats.h"
#include "process/process_memory.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

// Throws Error (with the pid) when the process is gone or none of the
// statistics can be located; a stat whose layout goscope lacks for this
// release is absent from the result, with the reason.
RuntimeStats ReadRuntimeStats(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem);

// Goroutines a process has created since it started and those that exist
// now (not free), system goroutines included, so created - existing have
// exited. Created counts the goroutine ids the scheduler handed out
// (sched.goidgen less the ids the Ps cache unassigned): every `go` statement
// and the runtime's own goroutines, exactly what Go 1.26's
// /sched/goroutines-created:goroutines counts, plus one per extra M made for
// a C thread calling Go (cgo). Ids a P still held when GOMAXPROCS shrank
// count as created (at most 16 per P). Read without stopping the process: a busy
// one's two figures are microseconds apart. Throws Error.
struct GoroutineCounts {
  uint64_t created = 0;
  uint64_t existing = 0;
};
GoroutineCounts ReadGoroutineCounts(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem);

}  // namespace goscope
