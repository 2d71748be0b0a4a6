// The per-process tracing core: what goscope learns of one Go process while
// it traces it - the goroutine lifecycle from events, every goroutine from
// memory, GC cycles and stop-the-world pauses - and the leak report and
// goroutine profile that follow from them. `attach` and `run` hold one (in a
// TraceSession, whose tracers feed it); the agent holds one per process, fed
// by the tracers it shares across a binary's processes. Knows nothing of
// files, metrics or BPF.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "model/gc_cycle.h"
#include "model/goroutine.h"
#include "model/goroutine_lifecycle.h"
#include "model/leak_report.h"
#include "output/pprof_profile.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

// What the lifecycle probes report. Whatever they do not, snapshots infer:
// a goroutine gone from one has exited, one new in it was created.
enum class LifecycleProbes {
  kNone,              // no probes: creations and exits from snapshots
  kCreation,          // creation events; exits from snapshots (one probe per goroutine)
  kCreationAndExit,   // both probed: exact exit times (two probes per goroutine)
};

struct ProcessTraceOptions {
  // Exited goroutines the lifecycle keeps for leak ranking (an agent holds
  // many processes and keeps fewer).
  size_t max_finished = 50000;
  // Keep every GC cycle and pause (a bounded run's report and timeline), or
  // only count them (the agent, which runs for months).
  bool keep_gc_history = true;
  LifecycleProbes probes = LifecycleProbes::kCreationAndExit;
};

class ProcessTrace {
 public:
  ProcessTrace(TargetProcess target, const RuntimeLayout& layout, ProcessTraceOptions opts = {});

  const TargetProcess& target() const { return target_; }
  const RuntimeLayout& layout() const { return layout_; }

  void OnGoroutine(const GoroutineEvent& e) { life_.OnEvent(e); }
  void OnGc(const GcCycle& c);
  void OnStw(const StwPause& p);

  // Reads every goroutine from memory and, once seeded, reconciles the
  // lifecycle with it (what the probes do not report). Call after draining
  // the events up to now. Throws Error when the process cannot be read (it
  // may be exiting, or have exec'd).
  const Snapshot& Refresh();
  // Refreshes take at most this share of a core: the agent's for all its
  // processes together (its whole budget is 1%; discovery, events, statistics
  // and HTTP take the rest), attach's for its one. A snapshot of 100,000
  // goroutines takes ~0.3 s, so such a process is read every ~60 s.
  static constexpr double kSnapshotCpuShare = 0.005;
  // The agent switches creation probes on and off.
  void set_probes(LifecycleProbes p) { opts_.probes = p; }
  // Adds the goroutines of the latest snapshot that the probes did not see
  // created to the lifecycle. Call once the events up to that snapshot are in.
  void Seed();
  bool seeded() const { return seeded_; }

  const Snapshot& snapshot() const { return snapshot_; }
  const GoroutineLifecycle& lifecycle() const { return life_; }
  uint64_t gc_count() const { return gc_count_; }
  const std::vector<GcCycle>& gc_cycles() const { return cycles_; }   // empty unless keep_gc_history
  const std::vector<StwPause>& stw_pauses() const { return stw_; }    // likewise

  // Leak suspects in the latest snapshot, ranked by the lifecycle up to
  // end_ns, their creation stacks symbolized.
  LeakReport FindLeaks(uint64_t end_ns) const;
  // The leak suspects found at the latest Refresh once seeded (or at Seed).
  const LeakReport& leaks() const { return leaks_; }
  size_t suspect_goroutines() const;
  // Refreshes in a row in which the leak suspects' goroutines grew, to at
  // least kGrowthFloor.
  int growing_refreshes() const { return growing_refreshes_; }
  static constexpr size_t kGrowthFloor = 20;
  static constexpr int kGrowthRefreshes = 3;
  // The leak suspects grew in kGrowthRefreshes refreshes in a row: the cue
  // for creation stacks (agent and attach alike).
  bool leaks_grow() const { return growing_refreshes_ >= kGrowthRefreshes; }
  // "leak suspects grew in 3 snapshots in a row (now 60 goroutines)"
  std::string GrowthNote() const;
  // The latest snapshot as Go's goroutine profile.
  PprofProfile GoroutineProfile() const;

 private:
  // Finds the leak suspects of the latest snapshot, and whether they grew.
  void RankLeaks();

  TargetProcess target_;
  const RuntimeLayout& layout_;
  ProcessTraceOptions opts_;
  GoroutineLifecycle life_;
  Snapshot snapshot_;
  bool seeded_ = false;
  LeakReport leaks_;
  int growing_refreshes_ = 0;
  uint64_t gc_count_ = 0;
  std::vector<GcCycle> cycles_;
  std::vector<StwPause> stw_;
};

}  // namespace goscope
