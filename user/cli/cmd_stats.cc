// goscope stats -p PID: the runtime's own statistics (runtime.MemStats,
// NumGoroutine, threads) of a running Go process, read from its memory.
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.h"
#include "error.h"
#include "output/runtime_stats_format.h"
#include "process/process_memory.h"
#include "process/run_control.h"
#include "process/runtime_stats_reader.h"
#include "process/target_process.h"
#include "runtime_variables.h"
#include "trace_support.h"

namespace goscope {
namespace {

struct StatsArgs {
  std::optional<long long> pid;
  std::optional<long long> watch;
  bool json = false;
};

constexpr const char* kDetails =
    "Prints what runtime.ReadMemStats and runtime.NumGoroutine would return inside a\n"
    "running Go program, read from its memory with no probe, no pause and no change\n"
    "to the program (no pprof endpoint or client library needed): the runtime's own\n"
    "statistics (runtime.memstats, runtime.gcController), computed with the formulas\n"
    "ReadMemStats uses, including what the Ps' allocation caches hold uncounted.\n"
    "Go 1.19 to 1.27, stripped binaries included.\n"
    "\n"
    "  Alloc, TotalAlloc, Mallocs, Frees, HeapAlloc, HeapObjects   heap objects\n"
    "  HeapSys, HeapIdle, HeapInuse, HeapReleased                  heap spans\n"
    "  Sys, StackInuse, StackSys, MSpanSys, MCacheSys, BuckHashSys, GCSys, OtherSys\n"
    "  NextGC, LastGC, PauseTotalNs, NumGC, NumForcedGC, GCCPUFraction, the last pauses\n"
    "  NumGoroutine, Threads (the OS threads the runtime made, as go_threads counts)\n"
    "\n"
    "A stat goscope cannot derive for the process is shown as absent with the reason,\n"
    "never guessed. The process is not stopped, so a busy one's figures come from a\n"
    "few microseconds apart.\n"
    "\n"
    "--watch S reads every S seconds until interrupted or the process exits, one line\n"
    "per reading with the change in heap, objects, GC count and goroutines since the\n"
    "one before; with --json, one JSON document per line.\n"
    "\n"
    "Exit status 0 on success (also when a watched process exits), 1 on error, 2 on\n"
    "bad usage.\n";

int RunStats(const StatsArgs& args) {
  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*args.pid));
  const GoBinary& bin = *target.binary;
  auto version = bin.version();
  if (!version || version->second < kMinGoMinor)
    throw Error(fmt::format("process {}: {} is not a Go release goscope reads (go1.{} and later)", target.pid,
                            bin.go_version().empty() ? "unknown release" : bin.go_version(), kMinGoMinor));
  const RuntimeLayout layout = ResolveRuntimeLayout(bin);
  ProcessMemory mem(target.pid);

  RuntimeStats first = ReadRuntimeStats(target, layout, mem);
  if (!args.watch) {
    std::string out = args.json ? RuntimeStatsJson(target.pid, first).dump(2) + "\n"
                                : FormatRuntimeStatsText(target.pid, first);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }

  if (args.json)
    fmt::print("{}\n", RuntimeStatsJson(target.pid, first).dump());
  else
    fmt::print("{}{}", RuntimeStatsWatchHeader(), RuntimeStatsWatchLine(first, first));
  std::fflush(stdout);
  RunControl run(target.pid, 0);
  RuntimeStats prev = std::move(first);
  const int interval_ms = static_cast<int>(*args.watch * 1000);
  while (run.Wait(interval_ms)) {
    RuntimeStats cur;
    try {
      cur = ReadRuntimeStats(target, layout, mem);
    } catch (const Error&) {
      if (ProcessAlive(target.pid)) throw;
      break;  // exited between the wait and the read
    }
    if (args.json)
      fmt::print("{}\n", RuntimeStatsJson(target.pid, cur).dump());
    else
      fmt::print("{}", RuntimeStatsWatchLine(prev, cur));
    std::fflush(stdout);
    prev = std::move(cur);
  }
  fmt::print(stderr, "goscope stats: {}\n", ProcessAlive(target.pid) ? run.why() : fmt::format("process {} exited", target.pid));
  return 0;
}

}  // namespace

Command AddStatsCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(goscope, "stats", "the runtime's MemStats, goroutines and threads, from memory (no probes)",
                             kDetails);
  auto args = std::make_shared<StatsArgs>();
  AddPidOption(*cmd, args->pid, "the Go process to read")->required();
  AddNumberOption(*cmd, "--watch", args->watch, "S", "read again every S seconds, a line each, until interrupted")
      ->check(NumberInRange(1, 86400, "must be between 1 and 86400"));
  AddJsonFlag(*cmd, args->json, "print JSON (with --watch, a document per line)");
  return {cmd, [args] { return RunStats(*args); }};
}

}  // namespace goscope
