#include "cli/trace_cli.h"

#include <ctime>

#include <fmt/format.h>

#include "error.h"

namespace goscope {

std::vector<OptionSpec> TraceOptionSpecs() {
  return {
      {"--interval", true, "seconds between status lines and goroutine snapshots (default 10)"},
      {"--alloc-mode", true, "heap profiling: sampled (default, Go's own sampler), exact (every allocation), off"},
      {"--heap-rate", true, "sampled: MemProfileRate to set when the program's is 0 (default 524288)"},
      {"--no-write", false, "never write to the target (sampled heap profiling then needs the program's own rate)"},
      {"--format", true, "extra heap outputs: folded (heap.folded and flame.svg)"},
      {"--ring-size", true, "goroutine events' ring buffer in bytes (power of two; default 16777216); "
                            "smaller loses events sooner (counted in events_lost)"},
  };
}

TraceOptions TraceOptionsFrom(const CliArgs& args, const std::string& command) {
  TraceOptions o;
  o.command = command;
  o.interval_s = args.get_int("--interval").value_or(10);
  o.alloc_mode = args.get_or("--alloc-mode", "sampled");
  o.heap_rate = args.get_int("--heap-rate").value_or(kDefaultHeapRate);
  o.allow_write = !args.has("--no-write");
  std::string format = args.get_or("--format", "");
  if (!format.empty() && format != "folded") throw Error("--format: the only extra format is folded");
  o.folded = format == "folded";
  o.goroutine_ring_bytes = static_cast<uint32_t>(args.get_int("--ring-size").value_or(16 << 20));
  ValidateTraceOptions(o);
  return o;
}

std::string DefaultOutDir(pid_t pid) {
  char ts[32];
  time_t now = time(nullptr);
  strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", localtime(&now));
  return fmt::format("goscope-{}-{}", pid, ts);
}

const char* const kTraceOutputsHelp =
    "  summary.json        counts: goroutines created, exited, live; heap samples; GC cycles\n"
    "                      and pause quantiles; events lost\n"
    "  heap.pb.gz          heap profile (go tool pprof): alloc and inuse, as Go's own; exact\n"
    "                      mode: alloc only (it sees no frees)\n"
    "  leaks.json/.txt     leak suspects: goroutines with one creation site and one\n"
    "                      blocked stack, parked in a channel/select/lock wait, ranked by growth\n"
    "  goroutines.pb.gz    live goroutines at the end (go tool pprof)\n"
    "  timeline.json       each goroutine's life, per creation site, and GC cycles and pauses\n"
    "                      (Perfetto, chrome://tracing)\n"
    "  heap.folded, flame.svg   with --format folded\n"
    "Sampled heap profiling uses Go's own sampler; a program that never imported\n"
    "runtime/pprof runs it at rate 0, and goscope then writes --heap-rate into\n"
    "runtime.MemProfileRate for the run and writes 0 back at the end: the only write goscope\n"
    "makes to a process (--no-write forbids it). Another goscope on the same process samples\n"
    "at the rate already written and the last to leave writes 0 back; a rate left by a\n"
    "goscope that was killed is restored by the next (records in /run/lock).\n"
    "Output files and every JSON field: docs/OUTPUTS.md.\n";

}  // namespace goscope
