#include "session/startup_trace.h"

#include <fmt/format.h>

#include "error.h"
#include "model/init_report.h"
#include "output/atomic_file.h"
#include "output/heap_profile.h"
#include "output/init_report_format.h"
#include "probes/heap_tracer.h"
#include "process/run_control.h"
#include "session/heap_session.h"

namespace goscope {
namespace {

std::vector<std::string> InitFunctionNames(const GoBinary& bin, const std::vector<ProbeSite>& sites) {
  std::vector<std::string> names;
  for (const ProbeSite& s : sites) {
    if (s.purpose != ProbePurpose::kInitFunctions) continue;
    for (uint64_t a : s.addresses) {
      const Func* f = bin.pclntab().FindFunc(a);
      names.push_back(f ? std::string(f->name) : "?");
    }
  }
  return names;
}

}  // namespace

void RequireInitSites(const std::vector<ProbeSite>& sites) {
  for (const ProbeSite& s : sites) {
    bool needed = s.purpose == ProbePurpose::kMalloc || s.purpose == ProbePurpose::kMallocSpecialized ||
                  s.purpose == ProbePurpose::kInitFunctions || s.purpose == ProbePurpose::kRuntimeInitDone ||
                  s.purpose == ProbePurpose::kMainMain;
    if (needed && !s.ok() && !s.not_needed())
      throw Error(fmt::format("cannot trace package init: probe site {}: {}", PurposeName(s.purpose), s.error));
  }
}

int TraceFromFirstInstruction(const TargetProcess& target, const RuntimeLayout& layout,
                              const std::vector<ProbeSite>& sites, const StartupTraceOptions& opts,
                              const std::function<void()>& resume) {
  const GoBinary& bin = *target.binary;
  const std::string& cmd = opts.trace.command;
  auto say = [&](const std::string& line) {
    if (!opts.trace.quiet) fmt::print(stderr, "goscope {}: {}\n", cmd, line);
  };
  HeapTracer init(target, layout, HeapMode::kInit);
  init.Attach(sites);
  // --until main: the init phase's GC cycles only; else the whole run, as attach traces it.
  TraceSession session(target, layout, sites, opts.trace);
  if (opts.until_main)
    session.AttachGc();
  else
    session.AttachGoroutinesAndGc();
  say(fmt::format("{} probes on pid {} ({}) before its first instruction", init.probes() + session.probes(),
                  target.pid, bin.go_version()));

  std::vector<InitMark> marks;
  bool main_started = false;
  std::string layout_error;
  auto on_mark = [&](const HeapInitEvent& e) {
    marks.push_back({e.ts_ns, e.mark});
    if (e.mark != HeapInitEvent::kMarkMain) return;
    main_started = true;
    // main.main runs on the first goroutine: a goid read there through the
    // layout that is not 1 means the offsets are wrong, and so is every count
    // keyed on them (the init goroutine's allocations).
    if (e.goid != 1)
      layout_error = fmt::format("the goid read at main.main is {}, not 1: the runtime layout of this binary "
                                 "does not validate; the init report is unreliable",
                                 e.goid);
  };
  const uint64_t start_ns = MonotonicNs();
  resume();
  RunControl run(target.pid, opts.duration_s, opts.end_on_signals);

  // Phase 1: package init, until main.main or the end of the program.
  while (!main_started && run.Wait(5)) {
    init.Drain(on_mark);
    session.Poll();
  }
  init.Detach();
  init.Drain(on_mark);
  session.Poll();
  const std::vector<std::string> names = InitFunctionNames(bin, sites);
  const auto records = init.ReadExact();
  InitReport report = BuildInitReport(marks, names, records, session.gc_cycles(), start_ns);
  report.pid = target.pid;
  report.go_version = bin.go_version();
  nlohmann::json init_json = InitReportJson(report);
  if (!layout_error.empty()) init_json["error"] = layout_error;
  WriteFileAtomically(opts.dir + "/init.json", init_json.dump(2) + "\n");
  WriteFileAtomically(opts.dir + "/init.txt", InitReportText(report));
  HeapProfileInfo info;
  info.exact = true;
  info.duration_ns = static_cast<int64_t>((report.main_ns ? report.main_ns : MonotonicNs()) - start_ns);
  info.comments.push_back(fmt::format("goscope {}: package init of pid {}", cmd, target.pid));
  info.mappings = target.ExecutableMappings();
  BuildHeapProfile(InitHeapRecords(records, names), info, target.symbolizer().ReturnAddressLookup())
      .WriteFile(opts.dir + "/init-heap.pb.gz");
  const HeapExactStats stats = init.exact_stats();
  say(fmt::format("init: {} packages, {} allocations ({} bytes) before main.main in {:.1f} ms; wrote {}/init.*",
                  report.packages.size(), report.startup_allocs, report.startup_bytes,
                  report.complete() ? (report.main_ns - start_ns) / 1e6 : 0.0, opts.dir));
  if (!report.complete()) say("main.main was never entered; the init report holds what ran");
  if (!layout_error.empty()) fmt::print(stderr, "goscope {}: ERROR: {}\n", cmd, layout_error);
  if (stats.counts_full || stats.stacks_full || init.lost())
    fmt::print(stderr, "goscope {}: WARNING: init report partial: {} counts and {} stacks did not fit, {} marks lost\n",
               cmd, stats.counts_full, stats.stacks_full, init.lost());

  // Phase 2: the rest of the run.
  if (opts.until_main) return 0;  // the session's probes go with it
  if (main_started && !run.target_exited()) session.StartHeap();
  session.TraceUntilEnd(run);
  return session.Finish(opts.dir, run, {{"init", InitReportJson(report)["init_total"]}});
}

}  // namespace goscope
