// goscope attach -p PID: goroutine lifecycle tracing of a running Go process,
// from outside and with no change to it, ending in a leak report.
#include <glob.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include <fmt/format.h>

#include "output/atomic_file.h"
#include "binary_info.h"
#include "cli/commands.h"
#include "error.h"
#include "probes/process_events.h"
#include "process/run_control.h"
#include "session/startup_trace.h"
#include "process/target_process.h"
#include "cli/trace_cli.h"
#include "session/trace_session.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

// The executables a --wait-for pattern names now (a path, or a glob such as /opt/*/bin/server).
std::vector<std::string> ExpandExecutablePattern(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i)
      if (access(g.gl_pathv[i], X_OK) == 0) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  if (out.empty()) throw Error(fmt::format("--wait-for {}: no executable file matches", pattern));
  return out;
}

struct AttachArgs {
  std::optional<long long> pid;
  std::optional<std::string> wait_for;
  std::string until = "exit";
  long long duration = 0;
  std::optional<std::string> out;
  TraceArgs trace;
};

// Stops the first process that execs one of the files matching pattern
// before its first instruction, traces it as `goscope run` would, and lets
// it go. Every other process caught meanwhile is let go at once.
int AttachOnExec(const std::string& pattern, bool until_main, double duration,
                 const std::optional<std::string>& out_dir, const TraceOptions& opts) {
  std::vector<std::string> paths = ExpandExecutablePattern(pattern);
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);
  // Refuse before waiting: the binary on disk is the one that will run.
  std::shared_ptr<const GoBinary> binary = GoBinary::Open(paths[0]);
  if (out_dir) EnsureOutputDir(*out_dir);
  ProcessEvents events;
  for (const auto& p : paths) events.StopOnExec(p);
  events.Start();
  fmt::print(stderr, "goscope attach: waiting for {} to start (Ctrl-C to give up)\n",
             paths.size() == 1 ? paths[0] : fmt::format("{} ({} files)", pattern, paths.size()));
  RunControl wait(getpid(), 0);  // ends on SIGINT/SIGTERM only
  pid_t caught = 0;
  auto on_exec = [&](const ExecEvent& e) {
    if (!e.stopped) return;
    if (caught == 0) caught = e.pid;
    else kill(e.pid, SIGCONT);  // not ours: let it run
  };
  while (caught == 0 && wait.Wait(0)) events.Poll(200, on_exec, nullptr);
  for (const auto& p : paths) events.ForgetStopOnExec(p);
  events.Poll(0, on_exec, nullptr);  // a process caught as the files were let go
  if (caught == 0) {
    fmt::print(stderr, "goscope attach: stopped waiting: {}\n", wait.why());
    return 0;
  }
  // From here the process is stopped and ours to let go, on every path.
  bool resumed = false;
  auto resume = [&] {
    if (!resumed) kill(caught, SIGCONT);
    resumed = true;
  };
  try {
    TargetProcess target = TargetProcess::Find(caught);
    BinaryInfo info = PrepareBinary(target.binary);
    RequireTraceable(info, fmt::format("process {}", caught));  // resumed by the handler below
    RequireInitSites(info.sites);
    std::string dir = out_dir.value_or(DefaultOutDir(caught));
    if (!out_dir) EnsureOutputDir(dir);
    StartupTraceOptions so{opts, until_main, duration, /*end_on_signals=*/true, dir};
    fmt::print(stderr, "goscope attach: caught pid {} at its exec\n", caught);
    return TraceFromFirstInstruction(target, info.layout, info.sites, so, resume);
  } catch (...) {
    resume();
    throw;
  }
}

int RunAttach(const AttachArgs& args) {
  double duration = static_cast<double>(args.duration);
  // Traced from its exec, a program's every goroutine is seen created; one
  // already running is probed per goroutine only once its leaks grow.
  TraceOptions opts =
      TraceOptionsFrom(args.trace, "attach", args.wait_for ? CreationProbes::kAlways : CreationProbes::kOnGrowth);
  if (args.wait_for) return AttachOnExec(*args.wait_for, args.until == "main", duration, args.out, opts);
  if (!args.pid) throw UsageError("-p PID or --wait-for PATH is required");
  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*args.pid));
  std::string dir = args.out.value_or(DefaultOutDir(target.pid));
  EnsureOutputDir(dir);  // fail before attaching, not after the run

  const GoBinary& bin = *target.binary;
  BinaryInfo info = PrepareBinary(target.binary);
  RequireTraceable(info, fmt::format("process {}", target.pid));
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);

  TraceSession session(target, info.layout, info.sites, opts);
  session.AttachGoroutinesAndGc();
  session.StartHeap();
  RunControl run(target.pid, duration);
  // Said once the goroutines already there are known too, so that whoever
  // waits for the line to start a workload never races the first snapshot.
  session.SeedFromMemory();
  fmt::print(stderr, "goscope attach: {} probes live on pid {} ({}); tracing {}{}\n", session.probes(), target.pid,
             bin.go_version(), session.Description(),
             duration > 0 ? fmt::format(" for {}s", duration) : " until Ctrl-C");
  session.TraceUntilEnd(run);
  return session.Finish(dir, run);
}

}  // namespace

Command AddAttachCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(
      goscope, "attach", "trace a running Go process's goroutines, heap and GC cycles; report leak suspects",
      fmt::format(
          "Give -p PID to trace a running process, or --wait-for for a program someone else starts\n"
          "(a service manager, a container runtime): the kernel stops the first process that executes\n"
          "the file before its first instruction, goscope attaches and lets it go, then reports package\n"
          "init as `goscope run` does (init.json, init.txt, init-heap.pb.gz) before tracing the rest.\n"
          "Other processes of the file that start meanwhile are let go untraced.\n\n"
          "Traces goroutines, heap allocations and GC cycles in a running Go process (no\n"
          "change to it, no restart) and, when the run ends, writes to DIR:\n"
          "{}"
          "Goroutines are read from the process's memory every 2 s (less often for one whose snapshot\n"
          "takes long: snapshots take at most 0.5% of a core) and at the end; the created and exited\n"
          "counts come from the scheduler's goroutine ids, exact at each snapshot, with no probe.\n"
          "Creation is probed (one hit per goroutine: its time, and the creator's whole stack, walked\n"
          "once per go statement) per --creations: with -p, from when the leak suspects grow in 3\n"
          "snapshots in a row (20 goroutines at least) to the end of the run, so that a process that\n"
          "does not leak pays for no probe per goroutine; with --wait-for, from the start. Until then\n"
          "a suspect group's creation stack is its go statement's frame. --exit-times probes exits as\n"
          "well (a second hit per goroutine) for exact exit times in timeline.json. The heap profile\n"
          "is Go's own sampler's, read from the process's memory (no probe; --alloc-mode exact: a\n"
          "probe per allocation). GC cycles: about five probe hits per cycle.\n"
          "The run ends at --duration, on SIGINT/SIGTERM or when the process exits, and always\n"
          "writes its outputs. Needs root.\n",
          kTraceOutputsHelp));
  auto args = std::make_shared<AttachArgs>();
  CLI::Option* pid = AddPidOption(*cmd, args->pid, "the Go process to trace");
  CLI::Option* wait_for =
      cmd->add_option("--wait-for", args->wait_for,
                      "instead of -p: wait for a process of this executable (path or glob) to start and trace it "
                      "from its first instruction, package init included (as goscope run)")
          ->type_name("PATH|GLOB")
          ->excludes(pid);
  AddChoiceOption(*cmd, "--until", args->until, {"main", "exit"},
                  "main: trace package init only; exit: go on like attach")
      ->needs(wait_for);
  AddDurationOption(*cmd, args->duration, "seconds to trace (default: until Ctrl-C, SIGTERM or the process exits)");
  AddOutputOption(*cmd, args->out, "DIR", "output directory")->default_str(kDefaultOutDirHelp);
  AddTraceOptions(*cmd, args->trace);
  return {cmd, [args] { return RunAttach(*args); }};
}

}  // namespace goscope
