// goscope run [-o DIR] [--until main|exit] -- PROG ARGS...: starts a Go program
// with the probes in place before its first instruction, reports what each
// package's init allocated (exactly), how long it took and which GC cycles it
// caused, then traces the rest of the run like attach (or lets it go).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "output/atomic_file.h"
#include "binary_info.h"
#include "process/child_process.h"
#include "cli/commands.h"
#include "error.h"
#include "session/startup_trace.h"
#include "process/target_process.h"
#include "cli/trace_cli.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

struct RunArgs {
  std::vector<std::string> command;  // PROG ARGS...
  std::optional<std::string> out;
  std::string until = "exit";
  long long duration = 0;
  bool quiet = false;
  TraceArgs trace;
};

int RunRun(const RunArgs& args) {
  const auto& command = args.command;
  if (command.empty()) throw UsageError("no program given: goscope run [options] -- PROG ARGS...");
  double duration = static_cast<double>(args.duration);
  TraceOptions opts = TraceOptionsFrom(args.trace, "run", CreationProbes::kAlways);
  opts.quiet = args.quiet;
  auto say = [&](const std::string& line) {
    if (!opts.quiet) fmt::print(stderr, "goscope run: {}\n", line);
  };

  // Everything that can refuse does so before the program starts.
  std::string path;
  try {
    path = ChildProcess::Resolve(command[0]);
  } catch (const NotRunnable& e) {
    fmt::print(stderr, "goscope run: {}\n", e.what());
    return e.shell_status();  // as a shell would
  }
  BinaryInfo info = PrepareBinary(GoBinary::Open(path));
  RequireTraceable(info, path);
  RequireInitSites(info.sites);
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);
  const std::optional<std::string>& out_dir = args.out;
  if (out_dir) EnsureOutputDir(*out_dir);

  ChildProcess child(path, command);
  TargetProcess target = TargetProcess::Find(child.pid());
  if (target.binary->elf().build_id() != info.binary->elf().build_id() ||
      target.binary->go_version() != info.binary->go_version())
    throw Error(fmt::format("{} changed between inspection and exec", path));
  const std::string dir = out_dir.value_or(DefaultOutDir(child.pid()));
  if (!out_dir) EnsureOutputDir(dir);

  StartupTraceOptions so{opts, args.until == "main", duration, /*end_on_signals=*/false, dir};
  child.ForwardSignals();
  int rc = 0;
  bool resumed = false;
  try {
    rc = TraceFromFirstInstruction(target, info.layout, info.sites, so, [&] {
      child.Resume();
      resumed = true;
    });
  } catch (const Error& e) {
    if (!resumed) {
      child.KillIfNeverRan();  // a program that cannot be traced as asked is not run untraced
      throw;
    }
    // The program runs: tracing failed (e.g. the disk is full), the program must not
    // notice. Say so, and go on standing in for it until it ends.
    fmt::print(stderr, "goscope run: ERROR: {}; tracing stopped, {} runs on\n", e.what(), command[0]);
    rc = 1;
  }
  int status = child.Wait();
  say(fmt::format("{} {}", command[0], DescribeWaitStatus(status)));
  // The program's own status, always: goscope's trouble is on stderr (and in the files).
  (void)rc;
  return ExitLikeChild(status);
}

}  // namespace

Command AddRunCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(
      goscope, "run", "start a Go program traced from its first instruction: what package init allocates, then attach",
      fmt::format(
          "Starts PROG with goscope's probes attached before its first instruction, so it sees\n"
          "what no attach can: package init. No change to the program or its environment.\n"
          "PROG keeps goscope's stdin, stdout and stderr; signals sent to goscope are passed on\n"
          "to it; goscope exits as PROG does (its exit status, or the same signal).\n\n"
          "From the first instruction until main.main, every allocation is counted (exact mode)\n"
          "and attributed to the package whose init is running and to its stack; GC cycles are\n"
          "recorded. When main.main starts, goscope writes to DIR:\n"
          "  init.json           per package, in init order: allocs, bytes (the init goroutine's,\n"
          "                      as GODEBUG=inittrace=1 counts them), seconds, gc_cycles; totals\n"
          "  init.txt            the same for a person, largest packages first\n"
          "  init-heap.pb.gz     start-up allocations (go tool pprof; alloc_objects, alloc_space),\n"
          "                      full stacks, labelled with their package (pprof -tagfocus package=...)\n"
          "With --until main goscope then detaches and waits for PROG. With --until exit\n"
          "(default) it goes on like `goscope attach` (sampled heap, goroutines, GC) until PROG\n"
          "exits or --duration ends, and also writes:\n"
          "{}"
          "Needs root. Exact counting costs ~1 us per allocation during init only.\n",
          kTraceOutputsHelp));
  auto args = std::make_shared<RunArgs>();
  AddOutputOption(*cmd, args->out, "DIR", "output directory")->default_str(kDefaultOutDirHelp);
  AddChoiceOption(*cmd, "--until", args->until, {"main", "exit"},
                  "main: trace package init only, then let the program run untraced; exit: go on tracing like "
                  "attach until the program exits");
  AddDurationOption(*cmd, args->duration, "--until exit: stop tracing after S seconds (the program runs on)");
  AddQuietFlag(*cmd, args->quiet, "quiet: no status lines from goscope (errors still print)");
  AddTraceOptions(*cmd, args->trace);
  cmd->add_option("PROG", args->command, "the Go program to start, and its arguments")->option_text("-- PROG ARGS...");
  return {cmd, [args] { return RunRun(*args); }};
}

}  // namespace goscope
