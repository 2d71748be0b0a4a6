// Everything `goscope attach` traces in one process - goroutine lifecycle, GC
// cycles, the heap - with its drain loop and the files it ends in. `attach`
// runs it on a live process; `run` runs it after package init.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "probe_sites.h"
#include "probes/gc_tracer.h"
#include "probes/goroutine_tracer.h"
#include "process/process_memory.h"
#include "process/run_control.h"
#include "process/runtime_stats_reader.h"
#include "process/target_process.h"
#include "runtime_layout.h"
#include "session/heap_session.h"
#include "session/process_trace.h"

namespace goscope {

struct LeakReport;

// When goroutine creation is probed: a probe hit per goroutine, for each
// creation's time and the creator's whole stack (walked once per go
// statement). Without it snapshots find creations and exits, and the counts
// come from the goroutine ids in memory, exact either way.
enum class CreationProbes {
  kAlways,    // from the start
  kOnGrowth,  // once the leak suspects grow (ProcessTrace::leaks_grow), to the end
  kOff,       // never
};
const char* CreationProbesName(CreationProbes c);  // "always", "on-growth", "off"

struct TraceOptions {
  std::string alloc_mode = "sampled";  // sampled, exact or off
  int64_t heap_rate = kDefaultHeapRate;
  bool allow_write = true;
  bool folded = false;  // also heap.folded and flame.svg
  long long interval_s = 10;  // between status lines
  CreationProbes creations = CreationProbes::kAlways;
  // Between goroutine snapshots, stretched for a process whose snapshots take
  // long so that they cost at most ProcessTrace::kSnapshotCpuShare of a core.
  double snapshot_interval_s = 2;
  std::string command = "attach";  // prefix of status lines
  bool quiet = false;              // no status lines (errors and warnings still print)
  uint32_t goroutine_ring_bytes = 16u << 20;  // goroutine events' ring buffer (a power of two)
  // Probe every goroutine exit too, for exact exit times (timeline.json);
  // needs creations kAlways.
  bool exit_probe = false;
  // At the end, while the target runs, prove which goroutines are leaked
  // (process/leak_prover: stops it briefly) and add that to the leak report.
  bool prove_leaks = false;
};

// Checks the options a user gave (throws Error naming the option).
void ValidateTraceOptions(const TraceOptions& o);

class TraceSession {
 public:
  TraceSession(const TargetProcess& target, const RuntimeLayout& layout, const std::vector<ProbeSite>& sites,
               TraceOptions options);
  ~TraceSession();

  // Goroutine creation per options.creations (loaded now, attached now or on
  // growth), and exit with exit_probe (required: throws), GC cycles
  // (optional: a failure is kept for the summary). Events count from here.
  void AttachGoroutinesAndGc();
  // GC cycles alone (optional as above): `run --until main` traces no goroutines.
  void AttachGc();
  // The heap profile per options (optional: a failure is kept for the summary).
  void StartHeap();
  // Goroutines that exist already, from memory. This, MaybeReport and Finish
  // need AttachGoroutinesAndGc.
  void SeedFromMemory();
  // One drain of every tracer; returns how many goroutine events it saw.
  int Poll();
  // A fresh snapshot when one is due (creation probes on if the leak
  // suspects grow and the options say so), and a status line every interval.
  // Call after each Poll.
  void MaybeReport(const RunControl& run);
  // Polls and reports until the run ends (duration, signal, target exit) or
  // the session does (exec, read failure).
  void TraceUntilEnd(RunControl& run);
  // Detaches everything (restoring MemProfileRate first) and writes summary.json,
  // leaks.json/.txt, goroutines.pb.gz, heap.pb.gz, timeline.json into dir.
  // Returns the exit status: 1 if the rate could not be restored, else 0.
  int Finish(const std::string& dir, const RunControl& run, nlohmann::json extra_summary = {});

  size_t probes() const;
  // The run should end on the session's account: the process exec'd another
  // program (its probes and layout belong to the old one), or reading it failed.
  bool ended() const { return !error_.empty(); }
  const std::vector<GcCycle>& gc_cycles() const { return trace_.gc_cycles(); }
  std::string Description() const;  // "goroutines, GC, heap (sampled), MemProfileRate ..."

 private:
  // Hands the goroutine events to the trace, counting them; returns how many.
  int DrainGoroutines();
  void DrainGc();
  // Reads every goroutine and the goroutine counts; false (error_ set) if the
  // process could not be read.
  bool Refresh();
  void CreationProbesOn(double at_s);
  // Created and exited since the run began: from the goroutine ids in memory
  // where they could be read at both ends, else from the lifecycle.
  uint64_t created() const;
  uint64_t exited() const;
  bool ExecDetected();  // sets error_ when the process now runs another file
  void EndOnReadError(const Error& e);  // sets error_: the exec, if that is why the read failed, else e
  void Say(const std::string& line) const;
  void ProveLeaks(LeakReport& leaks);

  const TargetProcess& target_;
  const RuntimeLayout& layout_;
  const std::vector<ProbeSite>& sites_;
  TraceOptions opts_;
  std::unique_ptr<GoroutineTracer> goroutines_;
  std::unique_ptr<GcTracer> gc_;
  std::string gc_error_;
  std::unique_ptr<HeapSession> heap_;
  std::string heap_error_;
  ProcessMemory memory_;
  ProcessTrace trace_;
  std::optional<GoroutineCounts> counts_start_, counts_now_;
  std::string counts_error_;
  bool counts_stale_ = false;  // counts_now_ is the last snapshot's: the process exited after it
  uint64_t creation_events_ = 0, exit_events_ = 0;
  double next_snapshot_ = 0;
  std::optional<double> creations_on_at_;  // run seconds when creation probes went on
  std::string creations_why_;
  double next_status_;
  std::string error_;  // a failure mid-run (the target exiting mid-read): the outputs still get written
};

}  // namespace goscope
