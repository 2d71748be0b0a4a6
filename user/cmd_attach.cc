// goscope attach -p PID: goroutine lifecycle tracing of a running Go process,
// from outside and with no change to it, ending in a leak report.
#include <fmt/format.h>

#include "atomic_file.h"
#include "cli_args.h"
#include "commands.h"
#include "error.h"
#include "probe_sites.h"
#include "run_control.h"
#include "runtime_variables.h"
#include "target_process.h"
#include "trace_cli.h"
#include "trace_session.h"
#include "trace_support.h"
#include "uprobe_links.h"

namespace goscope {
namespace {

std::vector<OptionSpec> Options() {
  std::vector<OptionSpec> o = {
      {"-p", true, "the Go process to trace"},
      {"--duration", true, "seconds to trace (default: until Ctrl-C, SIGTERM or the process exits)"},
      {"-o", true, "output directory (default ./goscope-PID-TIME)"},
  };
  for (auto& spec : TraceOptionSpecs()) o.push_back(spec);
  o.push_back({"--help", false, "show this help"});
  return o;
}

}  // namespace

int RunAttach(int argc, char** argv) {
  const auto options = Options();
  CliArgs args("attach", options, argc, argv);
  if (args.has("--help")) {
    fmt::print(
        "usage: goscope attach -p PID [--duration S] [-o DIR] [--interval S]\n"
        "                      [--alloc-mode sampled|exact|off] [--heap-rate N] [--no-write] [--format folded]\n\n"
        "Traces goroutine creation and exit, heap allocations and GC cycles in a running Go\n"
        "process with uprobes (no change to it, no restart) and, when the run ends, writes to DIR:\n"
        "{}"
        "The run ends at --duration, on SIGINT/SIGTERM or when the process exits, and always\n"
        "writes its outputs. Needs root.\n\n{}",
        kTraceOutputsHelp, CliArgs::Usage(options));
    return 0;
  }
  auto pid = args.get_int("-p");
  if (!pid) throw Error("-p PID is required; see goscope attach --help");
  double duration = static_cast<double>(args.get_int("--duration").value_or(0));
  if (duration < 0) throw Error("--duration must be positive");
  TraceOptions opts = TraceOptionsFrom(args, "attach");
  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*pid));
  std::string dir = args.get_or("-o", DefaultOutDir(target.pid));
  EnsureOutputDir(dir);  // fail before attaching, not after the run

  const GoBinary& bin = *target.binary;
  RuntimeLayout layout = ResolveRuntimeLayout(bin);
  auto sites = FindProbeSites(bin);
  Verdict verdict = AssessTraceability(bin, layout, sites);
  if (!verdict.traceable) {
    fmt::print(stderr, "goscope attach: process {} cannot be traced:\n", target.pid);
    for (const auto& p : verdict.problems) fmt::print(stderr, "  {}\n", p);
    return 3;
  }
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);

  TraceSession session(target, layout, sites, opts);
  session.AttachGoroutinesAndGc();
  session.StartHeap();
  RunControl run(target.pid, duration);
  fmt::print(stderr, "goscope attach: {} probes live on pid {} ({}); tracing {}{}\n", session.probes(), target.pid,
             bin.go_version(), session.Description(),
             duration > 0 ? fmt::format(" for {}s", duration) : " until Ctrl-C");
  session.SeedFromMemory();
  // Drain faster while events pour in: the ring buffer holds ~50k creation
  // events, and a goroutine storm fills it in tens of milliseconds.
  int busy = 0;
  while (run.Wait(busy > 5000 ? 10 : 100)) {
    busy = session.Poll();
    session.MaybeReport(run);
  }
  return session.Finish(dir, run);
}

}  // namespace goscope
