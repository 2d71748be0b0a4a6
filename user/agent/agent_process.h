// What the node agent knows of one traced Go process: its identity and
// labels, its goroutine lifecycle and GC cycles (fed by its binary's
// BinaryWatch), the latest goroutine snapshot, leak report and Go heap
// profile (read from its memory), a series of the runtime's own statistics,
// and the MemProfileRate the agent may have written (restored on Stop).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/binary_watch.h"
#include "model/leak_report.h"
#include "model/runtime_stats.h"
#include "output/heap_profile.h"
#include "output/pprof_profile.h"
#include "output/prometheus_text.h"
#include "process/cgroup_labels.h"
#include "process/go_process.h"
#include "process/heap_buckets.h"
#include "process/memprofilerate.h"
#include "process/process_memory.h"
#include "process/runtime_stats_reader.h"
#include "process/target_process.h"
#include "session/process_trace.h"

namespace goscope {

// GC pause buckets (seconds) of goscope_gc_pause_seconds.
inline const std::vector<double> kGcPauseBuckets = {1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2};

class AgentProcess {
 public:
  // exe: what discovery identified (path without " (deleted)", comm, start time).
  AgentProcess(TargetProcess target, std::shared_ptr<BinaryWatch> watch, const ProcessExecutable& exe,
               const CgroupLabels& cgroup);

  pid_t pid() const { return trace_.target().pid; }
  uint64_t start_ticks() const { return start_ticks_; }
  const std::string& comm() const { return comm_; }
  BinaryWatch& watch() const { return *watch_; }
  // pid, exe, go_version, comm, and unit / container_id / pod_uid where known.
  const MetricLabels& labels() const { return labels_; }

  void OnGoroutine(const GoroutineEvent& e) { trace_.OnGoroutine(e); }
  // Whether its binary's creation probes are on (snapshots infer what they do not see).
  bool creation_probes() const { return watch_->creation_probes(); }
  void OnGc(const GcCycle& c);

  // A fresh goroutine snapshot, leak report and heap profile; the first time
  // the runtime is up, the heap sampler switched on where it is off and
  // writing is allowed. Throws Error when the process cannot be read (it may
  // be exiting).
  void Refresh(bool allow_write, int64_t heap_rate);
  // Reads the runtime's own statistics (runtime.MemStats and friends, no
  // probe) into the series, which keeps the newest `keep`. Throws Error when
  // the process cannot be read.
  void ReadStats(size_t keep);
  const std::deque<RuntimeStats>& stats() const { return stats_; }  // oldest first
  const RuntimeStats* latest_stats() const { return stats_.empty() ? nullptr : &stats_.back(); }

  // Profiles kept from before a growth (go tool pprof -base shows what grew
  // since): taken while no growth rule sees the process grow.
  struct Baseline {
    uint64_t unix_ns = 0;
    std::string heap, goroutines;  // gzipped profiles
  };
  void KeepBaseline();
  const std::optional<Baseline>& baseline() const { return baseline_; }
  // Diagnosis bundles written of this process, and when the last one was
  // tried, written or not (monotonic seconds, for the per-process cooldown).
  void BundleTried(double t, bool written) { last_bundle_ = t, bundles_ += written ? 1 : 0; }
  double last_bundle() const { return last_bundle_; }
  uint64_t bundles() const { return bundles_; }
  // Writes back the MemProfileRate the agent changed, if it did; "" or what went wrong.
  std::string RestoreRate();
  bool wrote_rate() const { return rate_ && rate_->written(); }
  // The heap sampler's rate in the process (0: off, so no heap samples).
  int64_t heap_rate() const { return rate_ ? rate_->effective() : 0; }

  PprofProfile HeapProfile() const;       // sampled alloc and inuse, as Go's own heap profile
  PprofProfile GoroutineProfile() const;  // from the latest snapshot
  const Snapshot& snapshot() const { return trace_.snapshot(); }
  std::string LeaksJson() const;
  // The leak report with a proof made now (process/leak_prover: stops the
  // process briefly); now is when, for last_proof(). Throws Error.
  std::string ProvenLeaksJson(double now);
  double last_proof() const { return last_proof_; }
  bool ready() const { return trace_.seeded(); }

  // Scaled estimates from Go's heap profile (runtime/pprof's scaling): all
  // sampled since the sampler ran, and what of it is still in use.
  double heap_alloc_bytes() const;
  double heap_inuse_bytes() const;
  size_t goroutines() const { return trace_.snapshot().user_goroutines(); }
  const GoroutineLifecycle& lifecycle() const { return trace_.lifecycle(); }
  // Since the process started, from the scheduler's goroutine ids
  // (ReadGoroutineCounts; the highest goid, within 16 per P, if unreadable).
  uint64_t goroutines_created() const;
  uint64_t goroutines_exited() const;
  size_t leak_suspect_goroutines() const { return trace_.suspect_goroutines(); }
  // The leak suspects grew over the last refreshes: the agent's cue for
  // creation stacks (ProcessTrace::leaks_grow).
  bool leaks_grow() const { return trace_.leaks_grow(); }
  std::string growth_note() const { return trace_.GrowthNote(); }
  // When the agent refreshed it last and refreshes it next (seconds on the
  // monotonic clock), what its last snapshot took, and the interval it keeps:
  // stretched for processes whose snapshots take long (Agent::PlanRefreshes).
  double last_refresh = 0;
  double next_refresh = 0;
  double snapshot_seconds = 0;
  double refresh_interval = 0;
  uint64_t gc_cycles() const { return trace_.gc_count(); }
  const std::vector<uint64_t>& gc_pause_counts() const { return pause_counts_; }
  double gc_pause_sum() const { return pause_sum_; }

 private:
  HeapProfileInfo Info() const;

  std::shared_ptr<BinaryWatch> watch_;  // before trace_, which holds a reference to its layout
  ProcessTrace trace_;
  uint64_t start_ticks_;
  std::string comm_;
  MetricLabels labels_;
  std::optional<HeapBucketReader> heap_reader_;  // once the sampler runs; none if the layout lacks it
  std::vector<HeapRecord> heap_;                 // Go's own heap profile at the last refresh
  std::vector<uint64_t> pause_counts_ = std::vector<uint64_t>(kGcPauseBuckets.size() + 1, 0);
  double pause_sum_ = 0;
  std::unique_ptr<MemProfileRateOverride> rate_;
  ProcessMemory memory_;
  std::optional<GoroutineCounts> counts_;  // at the last refresh
  std::deque<RuntimeStats> stats_;
  double last_proof_ = -1e18;
  std::optional<Baseline> baseline_;
  double last_bundle_ = -1e18;
  uint64_t bundles_ = 0;
};

}  // namespace goscope
