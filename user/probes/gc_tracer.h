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
#include "model/gc_cycle.h"
#include "probe_sites.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

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
