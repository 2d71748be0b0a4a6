// goscope gc -p PID: garbage-collection cycles and stop-the-world pauses of a
// running Go process, from the runtime's own records, with no change to it.
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "output/atomic_file.h"
#include "binary_info.h"
#include "cli/commands.h"
#include "error.h"
#include "output/gc_report.h"
#include "probes/gc_tracer.h"
#include "output/output_schema.h"
#include "process/run_control.h"
#include "process/target_process.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

struct GcArgs {
  std::optional<long long> pid;
  long long duration = 0;
  bool json = false;
  std::optional<std::string> timeline;
};

constexpr const char* kDetails =
    "Traces the garbage collector of a running Go process with three uprobes (gcStart,\n"
    "stopTheWorldWithSema, startTheWorldWithSema) and reads each cycle from the runtime's\n"
    "own record (runtime.work) when it ends. Prints a line per cycle in the shape of\n"
    "GODEBUG=gctrace=1, with the same numbers:\n"
    "  gc N @Ts: A+B+C ms clock, H0->H1->H2 MB, trigger KIND [(forced)]\n"
    "A and C are the two stop-the-world pauses (sweep termination, mark termination),\n"
    "B the concurrent mark; H0, H1 the heap live at the start and at mark termination,\n"
    "H2 the heap marked live; KIND heap, time or cycle (runtime.GC). @T (seconds since\n"
    "the process started) needs the binary's symbol table.\n"
    "\n"
    "--json prints, at the end: gc_cycles, gc_pause_ns {count p50 p90 p99 max total}\n"
    "(over both pauses of every cycle, in ns), gc_triggers, gc_cycle_list, and every\n"
    "stop-the-world pause the probes timed (stw_pauses; reason from go1.21).\n"
    "Needs root. Writes nothing into the target.\n";

int RunGc(const GcArgs& args) {
  double duration = static_cast<double>(args.duration);
  bool json_out = args.json;

  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*args.pid));
  const GoBinary& bin = *target.binary;
  BinaryInfo info = PrepareBinary(target.binary);
  RequireTraceable(info, fmt::format("process {}", target.pid));
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);

  GcTracer tracer(target, info.layout);
  tracer.Attach(info.sites);
  uint64_t start_ns = MonotonicNs();
  RunControl run(target.pid, duration);
  fmt::print(stderr, "goscope gc: {} probes live on pid {} ({}, runtime.work from {}); tracing GC{}\n",
             tracer.probes(), target.pid, bin.go_version(), tracer.work_source(),
             duration > 0 ? fmt::format(" for {}s", duration) : " until Ctrl-C");

  std::vector<GcCycle> cycles;
  std::vector<StwPause> stw;
  auto on_cycle = [&](const GcCycle& c) {
    cycles.push_back(c);
    if (!json_out) {
      fmt::print("{}\n", GcCycleLine(c));
      std::fflush(stdout);
    }
  };
  auto on_stw = [&](const StwPause& p) { stw.push_back(p); };
  while (run.Wait(100)) tracer.Drain(on_cycle, on_stw);
  tracer.Drain(on_cycle, on_stw);
  const size_t probes = tracer.probes();  // before detaching: how many were live
  tracer.Detach();
  tracer.Drain(on_cycle, on_stw);
  uint64_t end_ns = MonotonicNs();
  fmt::print(stderr, "goscope gc: stopped: {}; probes detached\n", run.why());

  nlohmann::json summary = GcSummaryJson(cycles);
  if (json_out) {
    nlohmann::json pauses = nlohmann::json::array();
    for (const auto& p : stw) {
      nlohmann::json j = {{"start_ns", p.start_ns}, {"duration_ns", p.end_ns - p.start_ns}};
      j["reason"] = p.reason >= 0 ? nlohmann::json(p.reason) : nlohmann::json(nullptr);
      j["reason_name"] = p.reason_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.reason_name);
      j["goid"] = p.goid ? nlohmann::json(p.goid) : nlohmann::json(nullptr);
      pauses.push_back(j);
    }
    nlohmann::json doc = {
        {"schema_version", kOutputSchemaVersion},
        {"pid", target.pid},
        {"go_version", bin.go_version()},
        {"duration_seconds", (end_ns - start_ns) / 1e9},
        {"start_ns", start_ns},
        {"probes", probes},
        {"events_lost", tracer.lost()},
        {"ended_because", run.why()},
        {"stw_pauses", pauses},
    };
    doc.update(summary);
    fmt::print("{}\n", doc.dump(2));
  }
  if (const auto& path = args.timeline) {
    nlohmann::json events = GcTraceEvents(target.pid, 1, start_ns, cycles, stw);
    events.insert(events.begin(), nlohmann::json{{"ph", "M"}, {"name", "process_name"}, {"pid", target.pid},
                                                 {"args", {{"name", "gc"}}}});
    nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
    WriteFileAtomically(*path, doc.dump() + "\n");
  }
  const auto& q = summary["gc_pause_ns"];
  fmt::print(stderr, "goscope gc: {} cycles, {} pauses (p50 {} ms, max {} ms), {} events lost\n", cycles.size(),
             q["count"].get<uint64_t>(), FormatNsAsMs(q["p50"].get<uint64_t>()),
             FormatNsAsMs(q["max"].get<uint64_t>()), tracer.lost());
  if (tracer.lost() > 0)
    fmt::print(stderr, "goscope gc: WARNING: {} events were dropped (ring buffer full); cycles may be missing\n",
               tracer.lost());
  return 0;
}

}  // namespace

Command AddGcCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(goscope, "gc",
                             "garbage-collection cycles and stop-the-world pauses, with the numbers gctrace prints",
                             kDetails);
  auto args = std::make_shared<GcArgs>();
  AddPidOption(*cmd, args->pid, "the Go process to trace")->required();
  AddDurationOption(*cmd, args->duration, "seconds to trace (default: until Ctrl-C, SIGTERM or the process exits)");
  AddJsonFlag(*cmd, args->json, "print one JSON document at the end instead of a line per cycle");
  cmd->add_option("--timeline", args->timeline,
                  "also write the cycles and pauses as Chrome trace JSON (Perfetto) to FILE")
      ->type_name("FILE");
  return {cmd, [args] { return RunGc(*args); }};
}

}  // namespace goscope
