// Everything `goscope attach` traces in one process - goroutine lifecycle, GC
// cycles, the heap - with its drain loop and the files it ends in. `attach`
// runs it on a live process; `run` runs it after package init.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "probe_sites.h"
#include "probes/gc_tracer.h"
#include "probes/goroutine_tracer.h"
#include "process/run_control.h"
#include "process/target_process.h"
#include "runtime_layout.h"
#include "session/heap_session.h"
#include "session/process_trace.h"

namespace goscope {

struct LeakReport;

struct TraceOptions {
  std::string alloc_mode = "sampled";  // sampled, exact or off
  int64_t heap_rate = kDefaultHeapRate;
  bool allow_write = true;
  bool folded = false;  // also heap.folded and flame.svg
  long long interval_s = 10;
  std::string command = "attach";  // prefix of status lines
  bool quiet = false;              // no status lines (errors and warnings still print)
  uint32_t goroutine_ring_bytes = 16u << 20;  // goroutine events' ring buffer (a power of two)
  // Probe every goroutine exit too, for exact exit times (timeline.json).
  // Off, exits come from the snapshots, which keep created and exited exact
  // at each snapshot for half the probe cost.
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

  // Goroutine creation, and exit with exit_probe (required: throws), GC cycles (optional: a
  // failure is kept for the summary). Events count from here.
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
  // Status line and a fresh snapshot, every interval (call after each Poll).
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
  void DrainGc();
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
  ProcessTrace trace_;
  double next_status_;
  std::string error_;  // a failure mid-run (the target exiting mid-read): the outputs still get written
};

}  // namespace goscope
