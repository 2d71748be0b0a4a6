#include "cli/trace_cli.h"

#include <ctime>

#include <fmt/format.h>

#include "cli/options.h"
#include "error.h"

namespace goscope {

void AddTraceOptions(CLI::App& cmd, TraceArgs& args) {
  AddNumberOption(cmd, "--interval", args.interval_s, "S", "seconds between status lines");
  AddChoiceOption(cmd, "--alloc-mode", args.alloc_mode, {"sampled", "exact", "off"},
                  "heap profiling: sampled (Go's own sampler), exact (every allocation), off");
  AddNumberOption(cmd, "--heap-rate", args.heap_rate, "N", "sampled: MemProfileRate to set when the program's is 0");
  AddNoWriteFlag(cmd, args.no_write,
                 "never write to the target (sampled heap profiling then needs the program's own rate)");
  AddChoiceOption(cmd, "--format", args.format, {"folded"}, "extra heap outputs: folded (heap.folded and flame.svg)");
  AddNumberOption(cmd, "--ring-size", args.ring_bytes, "BYTES",
                  "goroutine events' ring buffer in bytes (a power of two); smaller loses events sooner "
                  "(counted in events_lost)");
  AddChoiceOption(cmd, "--creations", args.creations, {"always", "on-growth", "off"},
                  "when goroutine creation is probed (a probe hit per goroutine, for creation times and the "
                  "creator's whole stack): always; on-growth, once the leak suspects grow in 3 snapshots in a "
                  "row, to the end (attach -p's default); off (default: attach -p on-growth, else always)");
  cmd.add_flag("--exit-times", args.exit_times,
               "probe every goroutine exit too, for exact exit times in timeline.json: a second probe hit "
               "per goroutine; implies --creations always (without it, exits are found by the snapshots)");
  cmd.add_flag("--prove-leaks", args.prove_leaks,
               "at the end, prove which goroutines are leaked (as 'goscope leaks': the program is stopped "
               "for about half a millisecond per MiB of heap) and mark the suspects proven in leaks.json/.txt");
}

TraceOptions TraceOptionsFrom(const TraceArgs& args, const std::string& command, CreationProbes creations) {
  TraceOptions o;
  o.creations = args.creations == "always"      ? CreationProbes::kAlways
                : args.creations == "on-growth" ? CreationProbes::kOnGrowth
                : args.creations == "off"       ? CreationProbes::kOff
                : args.exit_times               ? CreationProbes::kAlways
                                                : creations;
  o.command = command;
  o.interval_s = args.interval_s;
  o.alloc_mode = args.alloc_mode;
  o.heap_rate = args.heap_rate;
  o.allow_write = !args.no_write;
  o.folded = args.format == "folded";
  o.goroutine_ring_bytes = static_cast<uint32_t>(args.ring_bytes);
  o.exit_probe = args.exit_times;
  o.prove_leaks = args.prove_leaks;
  // The session holds the rules (its other callers need them too); what it
  // refuses here came from the command line.
  try {
    ValidateTraceOptions(o);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return o;
}

std::string DefaultOutDir(pid_t pid) {
  char ts[32];
  time_t now = time(nullptr);
  strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", localtime(&now));
  return fmt::format("goscope-{}-{}", pid, ts);
}

const char* const kDefaultOutDirHelp = "./goscope-PID-TIME";

const char* const kTraceOutputsHelp =
    "  summary.json        counts: goroutines created, exited, live; heap samples; GC cycles\n"
    "                      and pause quantiles; events lost\n"
    "  heap.pb.gz          heap profile (go tool pprof): alloc and inuse, as Go's own; exact\n"
    "                      mode: alloc only (it sees no frees)\n"
    "  leaks.json/.txt     leak suspects: goroutines with one creation site and one\n"
    "                      blocked stack, parked in a channel/select/lock wait, ranked by growth;\n"
    "                      with --prove-leaks, how many of each are proven leaked\n"
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
