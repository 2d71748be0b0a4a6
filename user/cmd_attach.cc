// goscope attach -p PID: goroutine lifecycle tracing of a running Go process,
// from outside and with no change to it, ending in a leak report.
#include <unistd.h>

#include <ctime>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atomic_file.h"
#include "cli_args.h"
#include "commands.h"
#include "error.h"
#include "flame_graph.h"
#include "gc_report.h"
#include "gc_tracer.h"
#include "goroutine_format.h"
#include "goroutine_lifecycle.h"
#include "goroutine_snapshot.h"
#include "goroutine_tracer.h"
#include "heap_session.h"
#include "leak_report.h"
#include "pprof_profile.h"
#include "probe_sites.h"
#include "run_control.h"
#include "runtime_variables.h"
#include "stack_symbolizer.h"
#include "target_process.h"
#include "timeline.h"
#include "trace_support.h"
#include "uprobe_links.h"

namespace goscope {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"-p", true, "the Go process to trace"},
    {"--duration", true, "seconds to trace (default: until Ctrl-C, SIGTERM or the process exits)"},
    {"-o", true, "output directory (default ./goscope-PID-TIME)"},
    {"--interval", true, "seconds between status lines and goroutine snapshots (default 10)"},
    {"--alloc-mode", true, "heap profiling: sampled (default, Go's own sampler), exact (every allocation), off"},
    {"--heap-rate", true, "sampled: MemProfileRate to set when the program's is 0 (default 524288)"},
    {"--no-write", false, "never write to the target (sampled heap profiling then needs the program's own rate)"},
    {"--format", true, "extra heap outputs: folded (heap.folded and flame.svg)"},
    {"--help", false, "show this help"},
};

std::string DefaultOutDir(pid_t pid) {
  char ts[32];
  time_t now = time(nullptr);
  strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", localtime(&now));
  return fmt::format("goscope-{}-{}", pid, ts);
}

}  // namespace

int RunAttach(int argc, char** argv) {
  CliArgs args("attach", kOptions, argc, argv);
  if (args.has("--help")) {
    fmt::print(
        "usage: goscope attach -p PID [--duration S] [-o DIR] [--interval S]\n"
        "                      [--alloc-mode sampled|exact|off] [--heap-rate N] [--no-write] [--format folded]\n\n"
        "Traces goroutine creation and exit, heap allocations and GC cycles in a running Go\n"
        "process with uprobes (no change to it, no restart) and, when the run ends, writes to DIR:\n"
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
        "makes to a process (--no-write forbids it).\n"
        "The run ends at --duration, on SIGINT/SIGTERM or when the process exits, and always\n"
        "writes its outputs. Needs root.\n\n{}",
        CliArgs::Usage(kOptions));
    return 0;
  }
  auto pid = args.get_int("-p");
  if (!pid) throw Error("-p PID is required; see goscope attach --help");
  double duration = static_cast<double>(args.get_int("--duration").value_or(0));
  if (duration < 0) throw Error("--duration must be positive");
  long long interval = args.get_int("--interval").value_or(10);
  if (interval <= 0) throw Error("--interval must be positive");
  std::string alloc_mode = args.get_or("--alloc-mode", "sampled");
  if (alloc_mode != "sampled" && alloc_mode != "exact" && alloc_mode != "off")
    throw Error("--alloc-mode must be sampled, exact or off");
  int64_t heap_rate = args.get_int("--heap-rate").value_or(kDefaultHeapRate);
  if (heap_rate <= 0) throw Error("--heap-rate must be positive");
  std::string format = args.get_or("--format", "");
  if (!format.empty() && format != "folded") throw Error("--format: the only extra format is folded");
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

  GoroutineTracer tracer(target, layout);
  tracer.Attach(sites);
  // GC events are a bonus to the goroutine run: a binary where they cannot be
  // traced still gets its goroutine report, and the summary says why.
  std::unique_ptr<GcTracer> gc;
  std::string gc_error;
  try {
    gc = std::make_unique<GcTracer>(target, layout);
    gc->Attach(sites);
  } catch (const Error& e) {
    gc.reset();
    gc_error = e.what();
  }
  // Heap profiling, likewise optional: a forbidden write or an exotic runtime
  // leaves the goroutine run intact.
  std::unique_ptr<HeapSession> heap;
  std::string heap_error;
  if (alloc_mode != "off") {
    try {
      HeapOptions ho{alloc_mode == "exact" ? HeapMode::kExact : HeapMode::kSampled, heap_rate, !args.has("--no-write")};
      heap = std::make_unique<HeapSession>(target, layout, ho);
      heap->Start(sites);
    } catch (const Error& e) {
      heap.reset();
      heap_error = e.what();
    }
  }
  std::vector<GcCycle> cycles;
  std::vector<StwPause> stw;
  auto drain_gc = [&] {
    if (gc) gc->Drain([&](const GcCycle& c) { cycles.push_back(c); }, [&](const StwPause& p) { stw.push_back(p); });
  };
  uint64_t start_ns = MonotonicNs();
  RunControl run(target.pid, duration);
  fmt::print(stderr, "goscope attach: {} probes live on pid {} ({}); tracing goroutines{}{}{}{}\n",
             tracer.probes() + (gc ? gc->probes() : 0) + (heap ? heap->probes() : 0), target.pid, bin.go_version(),
             gc ? ", GC" : "", heap ? fmt::format(", heap ({})", alloc_mode) : "", heap ? heap->RateNote() : "",
             duration > 0 ? fmt::format(" for {}s", duration) : " until Ctrl-C");
  if (!gc_error.empty()) fmt::print(stderr, "goscope attach: GC events unavailable: {}\n", gc_error);
  if (!heap_error.empty()) fmt::print(stderr, "goscope attach: heap profile unavailable: {}\n", heap_error);

  GoroutineLifecycle life(start_ns);
  auto on_event = [&](const GoroutineEvent& e) { life.OnEvent(e); };
  // Goroutines that already existed come from memory; the probes are live
  // first so that none is missed between the two.
  Snapshot last = TakeSnapshot(target, layout);
  tracer.Drain(on_event);
  life.Seed(last.goroutines);
  std::string error;
  try {
    double next_status = interval;
    // Drain faster while events pour in: the ring buffer holds ~50k creation
    // events, and a goroutine storm fills it in tens of milliseconds.
    int busy = 0;
    while (run.Wait(busy > 5000 ? 10 : 100)) {
      busy = tracer.Drain(on_event);
      drain_gc();
      if (heap) heap->Drain();
      if (run.elapsed_seconds() >= next_status) {
        next_status += interval;
        last = TakeSnapshot(target, layout);
        fmt::print(stderr, "goscope attach: {:.0f}s: {} created, {} exited, {} goroutines, {} events lost\n",
                   run.elapsed_seconds(), life.created(), life.exited(), last.user_goroutines(), tracer.lost());
      }
    }
    tracer.Drain(on_event);
    if (!run.target_exited()) last = TakeSnapshot(target, layout);
  } catch (const Error& e) {
    error = e.what();  // the target may have exited mid-read: still write what we have
  }
  size_t probes = tracer.probes() + (gc ? gc->probes() : 0) + (heap ? heap->probes() : 0);
  if (heap) heap->Stop();  // detaches, and restores MemProfileRate before anything else can fail
  tracer.Detach();
  tracer.Drain(on_event);
  if (gc) gc->Detach();
  drain_gc();
  uint64_t lost = tracer.lost() + (gc ? gc->lost() : 0) + (heap ? heap->lost() : 0);
  uint64_t end_ns = MonotonicNs();
  fmt::print(stderr, "goscope attach: stopped: {}; probes detached\n", error.empty() ? run.why() : error);
  if (heap) {
    fmt::print(stderr, "goscope attach: heap: {}\n", heap->Outcome());
    auto records = heap->Records();
    HeapProfileInfo info = heap->Info();
    PprofSymbolizer symbolize = heap->Symbolizer();
    BuildHeapProfile(records, info, symbolize).WriteFile(dir + "/heap.pb.gz");
    if (format == "folded") {
      const char* value = info.exact ? "alloc_space" : "inuse_space";
      std::string folded = FoldedHeapStacks(records, info, value, symbolize);
      WriteFileAtomically(dir + "/heap.folded", folded);
      FlameGraphOptions fo;
      fo.title = fmt::format("{} of pid {} ({}), {:.0f}s", value, target.pid, bin.go_version(), info.duration_ns / 1e9);
      fo.unit = "bytes";
      WriteFileAtomically(dir + "/flame.svg", FlameGraphSvg(folded, fo));
    }
  }

  auto creation_stack = [&](const TrackedGoroutine& g) {
    return SymbolizeStack(bin, target.load_bias, g.creation_stack);
  };
  LeakReport leaks = FindLeakSuspects(last.goroutines, life, end_ns, creation_stack);
  leaks.pid = target.pid;
  leaks.go_version = bin.go_version();
  WriteFileAtomically(dir + "/leaks.json", LeakReportJson(leaks));
  WriteFileAtomically(dir + "/leaks.txt", LeakReportText(leaks));
  GoroutinesPprof(last, target).WriteFile(dir + "/goroutines.pb.gz");
  // Thousands of spans share a handful of creation sites: name each pc once.
  std::unordered_map<uint64_t, std::string> site_names, func_names;
  auto site = [&](const TrackedGoroutine& g) -> const std::string& {
    auto [it, added] = site_names.try_emplace(g.gopc);
    if (added) {
      GoFrame f = SymbolizeCaller(bin, target.load_bias, g.gopc);
      it->second = fmt::format("created by {} at {}:{}", f.function, f.file, f.line);
    }
    return it->second;
  };
  auto func = [&](const TrackedGoroutine& g) -> const std::string& {
    auto [it, added] = func_names.try_emplace(g.startpc);
    if (added) {
      auto frames = bin.Symbolize(g.startpc - target.load_bias);
      it->second = frames.empty() ? std::string("?") : std::string(frames.back().function);
    }
    return it->second;
  };
  nlohmann::json timeline = TimelineJson(target.pid, life, end_ns, site, func);
  for (auto& ev : GcTraceEvents(target.pid, 0, start_ns, cycles, stw)) timeline["traceEvents"].push_back(ev);
  WriteFileAtomically(dir + "/timeline.json", timeline.dump() + "\n");
  nlohmann::json summary = {
      {"pid", target.pid},
      {"go_version", bin.go_version()},
      {"duration_seconds", (end_ns - start_ns) / 1e9},
      {"goroutines_created", life.created()},
      {"goroutines_exited", life.exited()},
      {"goroutines_live", last.user_goroutines()},
      {"goroutines_live_including_system", last.goroutines.size()},
      {"events_lost", lost},
      {"partial", lost > 0 || !error.empty()},
      {"ended_because", error.empty() ? run.why() : error},
      {"target_exited", run.target_exited()},
      {"probes", probes},
      {"leak_suspects", leaks.suspects.size()},
  };
  if (heap) summary.update(heap->SummaryJson());
  else summary["heap_error"] = alloc_mode == "off" ? "heap profiling off (--alloc-mode off)" : heap_error;
  if (gc) summary.update(GcSummaryJson(cycles));
  else summary["gc_error"] = gc_error;
  WriteFileAtomically(dir + "/summary.json", summary.dump(2) + "\n");
  fmt::print(stderr,
             "goscope attach: {} created, {} exited, {} live, {} GC cycles, {} lost; {} leak suspect group(s); "
             "wrote {}/\n",
             life.created(), life.exited(), last.user_goroutines(), cycles.size(), lost, leaks.suspects.size(), dir);
  if (lost > 0)
    fmt::print(stderr, "goscope attach: WARNING: {} events were dropped (ring buffer full); counts are partial\n",
               lost);
  if (heap && heap->restore_failed()) {
    fmt::print(stderr, "goscope attach: ERROR: {}\n", heap->restore_message());
    return 1;
  }
  return 0;
}

}  // namespace goscope
