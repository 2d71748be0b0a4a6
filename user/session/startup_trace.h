// Tracing a Go process from its first instruction: the process is stopped at
// its exec (goscope run started it under ptrace, or attach --wait-for caught
// it on exec); this attaches the init probes (exact allocations keyed by
// package init function, GC cycles) and, for --until exit, the TraceSession;
// lets the process go; writes init.json, init.txt and init-heap.pb.gz when
// main.main starts (or the process ends first); then traces the rest like
// attach until the run ends.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "probe_sites.h"
#include "process/target_process.h"
#include "runtime_layout.h"
#include "session/trace_session.h"

namespace goscope {

struct StartupTraceOptions {
  TraceOptions trace;           // for the rest of the run (command, quiet, heap...)
  bool until_main = false;      // stop tracing at main.main
  double duration_s = 0;        // stop tracing after this long (0: at the end of the process)
  bool end_on_signals = false;  // SIGINT/SIGTERM to goscope end the tracing (attach); run forwards them instead
  std::string dir;              // output directory (exists)
};

// Every site the init report needs, on top of what attach needs: throws Error naming the first missing.
void RequireInitSites(const std::vector<ProbeSite>& sites);

// target is stopped before its first instruction; resume lets it run. Returns
// the exit status of the tracing: 1 if MemProfileRate could not be restored, else 0.
int TraceFromFirstInstruction(const TargetProcess& target, const RuntimeLayout& layout,
                              const std::vector<ProbeSite>& sites, const StartupTraceOptions& opts,
                              const std::function<void()>& resume);

}  // namespace goscope
