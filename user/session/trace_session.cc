#include "session/trace_session.h"

#include <unistd.h>

#include <unordered_map>

#include <fmt/format.h>

#include "error.h"
#include "model/leak_report.h"
#include "output/atomic_file.h"
#include "output/flame_graph.h"
#include "output/gc_report.h"
#include "output/goroutine_format.h"
#include "output/leak_report_format.h"
#include "output/output_schema.h"
#include "output/pprof_profile.h"
#include "output/timeline.h"
#include "process/leak_prover.h"

namespace goscope {

void ValidateTraceOptions(const TraceOptions& o) {
  if (o.interval_s <= 0) throw Error("--interval must be positive");
  if (o.alloc_mode != "sampled" && o.alloc_mode != "exact" && o.alloc_mode != "off")
    throw Error("--alloc-mode must be sampled, exact or off");
  if (o.heap_rate <= 0) throw Error("--heap-rate must be positive");
  uint32_t r = o.goroutine_ring_bytes;
  if (r < 4096 || (r & (r - 1)) != 0 || r > (1u << 30))
    throw Error("--ring-size must be a power of two from 4096 to 1073741824");
}

TraceSession::TraceSession(const TargetProcess& target, const RuntimeLayout& layout,
                           const std::vector<ProbeSite>& sites, TraceOptions options)
    : target_(target),
      layout_(layout),
      sites_(sites),
      opts_(std::move(options)),
      trace_(target, layout,
             {.probes = opts_.exit_probe ? LifecycleProbes::kCreationAndExit : LifecycleProbes::kCreation}),
      next_status_(static_cast<double>(opts_.interval_s)) {}

TraceSession::~TraceSession() = default;

void TraceSession::Say(const std::string& line) const {
  if (!opts_.quiet) fmt::print(stderr, "goscope {}: {}\n", opts_.command, line);
}

void TraceSession::AttachGoroutinesAndGc() {
  goroutines_ = std::make_unique<GoroutineTracer>(target_, layout_, opts_.goroutine_ring_bytes);
  goroutines_->Attach(sites_, opts_.exit_probe);
  AttachGc();
}

void TraceSession::AttachGc() {
  // GC events are a bonus to the goroutine run: a binary where they cannot be
  // traced still gets its goroutine report, and the summary says why.
  try {
    gc_ = std::make_unique<GcTracer>(target_, layout_);
    gc_->Attach(sites_);
  } catch (const Error& e) {
    gc_.reset();
    gc_error_ = e.what();
    fmt::print(stderr, "goscope {}: GC events unavailable: {}\n", opts_.command, gc_error_);
  }
}

void TraceSession::StartHeap() {
  // Likewise optional: a forbidden write or an exotic runtime leaves the goroutine run intact.
  if (opts_.alloc_mode == "off") return;
  try {
    HeapOptions ho{opts_.alloc_mode == "exact" ? AllocMode::kExact : AllocMode::kSampled, opts_.heap_rate,
                   opts_.allow_write};
    heap_ = std::make_unique<HeapSession>(target_, layout_, ho);
    heap_->Start(sites_);
  } catch (const Error& e) {
    heap_.reset();
    heap_error_ = e.what();
    // A target that has just exited needs no warning: the summary says it ended.
    if (ProcessAlive(target_.pid))
      fmt::print(stderr, "goscope {}: heap profile unavailable: {}\n", opts_.command, heap_error_);
  }
}

void TraceSession::SeedFromMemory() {
  // The probes are live first so that no goroutine is missed between the two.
  try {
    trace_.Refresh();
  } catch (const Error& e) {
    // Exited or exec'd meanwhile: the run ends, its outputs are still written.
    EndOnReadError(e);
    return;
  }
  goroutines_->Drain([&](const GoroutineEvent& e) { trace_.OnGoroutine(e); });
  trace_.Seed();
}

size_t TraceSession::probes() const {
  return (goroutines_ ? goroutines_->probes() : 0) + (gc_ ? gc_->probes() : 0) + (heap_ ? heap_->probes() : 0);
}

std::string TraceSession::Description() const {
  return fmt::format("goroutines{}{}{}", gc_ ? ", GC" : "", heap_ ? fmt::format(", heap ({})", opts_.alloc_mode) : "",
                     heap_ ? heap_->RateNote() : "");
}

void TraceSession::DrainGc() {
  if (gc_) gc_->Drain([&](const GcCycle& c) { trace_.OnGc(c); }, [&](const StwPause& p) { trace_.OnStw(p); });
}

bool TraceSession::ExecDetected() {
  // A process that exec'd is another program: memory reads would mean nothing.
  if (!target_.RunsAnotherFile()) return false;
  char path[4096];
  ssize_t len = readlink(target_.exe_path.c_str(), path, sizeof path - 1);
  error_ = fmt::format("process {} exec'd another program ({})", target_.pid,
                       len > 0 ? std::string(path, static_cast<size_t>(len)) : "?");
  return true;
}

// A read of the target's memory failed. If it exec'd, that is the reason to
// report; but the read can fail while the kernel is still replacing the
// image, a moment before /proc/PID/exe names the new file: look again briefly.
void TraceSession::EndOnReadError(const Error& e) {
  for (int i = 0; i < 20; i++) {
    if (ExecDetected()) return;
    if (!ProcessAlive(target_.pid)) break;
    usleep(5000);
  }
  error_ = e.what();
}

// A proof needs the process alive and unchanged; one that cannot be made is
// said and left out of the report, which is still written.
void TraceSession::ProveLeaks(LeakReport& leaks) {
  if (!ProcessAlive(target_.pid) || ExecDetected()) {
    fmt::print(stderr, "goscope {}: no leak proof: the process is gone\n", opts_.command);
    return;
  }
  try {
    auto [proof, groups] = ProveAndGroupLeaks(target_, layout_);
    Say(fmt::format("leak proof: {} goroutines proven leaked; process stopped {:.1f} ms", proof.leaked.size(),
                    proof.pause_seconds * 1000));
    AddProof(leaks, std::move(proof), std::move(groups));
  } catch (const Error& e) {
    fmt::print(stderr, "goscope {}: no leak proof: {}\n", opts_.command, e.what());
  }
}

int TraceSession::Poll() {
  if (!error_.empty() || ExecDetected()) return 0;
  int n = 0;
  try {
    if (goroutines_) n = goroutines_->Drain([&](const GoroutineEvent& e) { trace_.OnGoroutine(e); });
    DrainGc();
    if (heap_) heap_->Poll();
  } catch (const Error& e) {
    error_ = e.what();
  }
  return n;
}

void TraceSession::MaybeReport(const RunControl& run) {
  if (run.elapsed_seconds() < next_status_ || !error_.empty()) return;
  next_status_ += static_cast<double>(opts_.interval_s);
  try {
    trace_.Refresh();
  } catch (const Error& e) {
    EndOnReadError(e);  // the target may have exited or exec'd mid-read: still write what we have
    return;
  }
  Say(fmt::format("{:.0f}s: {} created, {} exited, {} goroutines, {} events lost", run.elapsed_seconds(),
                  trace_.lifecycle().created(), trace_.lifecycle().exited(), trace_.snapshot().user_goroutines(),
                  goroutines_->lost()));
}

void TraceSession::TraceUntilEnd(RunControl& run) {
  // Drain faster while events pour in: the ring buffer holds ~50k creation
  // events, and a goroutine storm fills it in tens of milliseconds.
  int busy = 0;
  while (!ended() && run.Wait(busy > 5000 ? 10 : 100)) {
    busy = Poll();
    MaybeReport(run);
  }
}

int TraceSession::Finish(const std::string& dir, const RunControl& run, nlohmann::json extra_summary) {
  auto on_event = [&](const GoroutineEvent& e) { trace_.OnGoroutine(e); };
  if (error_.empty()) {
    try {
      goroutines_->Drain(on_event);
      if (!run.target_exited() && ProcessAlive(target_.pid)) trace_.Refresh();
    } catch (const Error& e) {
      EndOnReadError(e);
    }
  }
  const size_t probe_count = probes();
  if (heap_) heap_->Stop();  // detaches, and restores MemProfileRate before anything else can fail
  goroutines_->Detach();
  goroutines_->Drain(on_event);
  if (gc_) gc_->Detach();
  DrainGc();
  const uint64_t lost = goroutines_->lost() + (gc_ ? gc_->lost() : 0);
  const uint64_t end_ns = MonotonicNs();
  const std::string ended = error_.empty() ? run.why() : error_;
  const GoBinary& bin = *target_.binary;
  Say(fmt::format("stopped: {}; probes detached", ended));
  if (heap_) {
    Say("heap: " + heap_->Outcome());
    auto records = heap_->Records();
    HeapProfileInfo info = heap_->Info();
    FrameLookup symbolize = heap_->Symbolizer();
    BuildHeapProfile(records, info, symbolize).WriteFile(dir + "/heap.pb.gz");
    if (opts_.folded) {
      const char* value = info.exact ? "alloc_space" : "inuse_space";
      std::string folded = FoldedHeapStacks(records, info, value, symbolize);
      WriteFileAtomically(dir + "/heap.folded", folded);
      FlameGraphOptions fo;
      fo.title = fmt::format("{} of pid {} ({}), {:.0f}s", value, target_.pid, bin.go_version(), info.duration_ns / 1e9);
      fo.unit = "bytes";
      WriteFileAtomically(dir + "/flame.svg", FlameGraphSvg(folded, fo));
    }
  } else if (opts_.alloc_mode != "off") {
    // The heap probes never attached (the target exited just before, say): the
    // run's files are the same whatever happened, this one with no samples and
    // the reason in it (and in summary.json's heap_error).
    HeapProfileInfo info;
    info.exact = opts_.alloc_mode == "exact";
    info.rate = opts_.heap_rate;
    info.comments.push_back("no heap samples: " + heap_error_);
    BuildHeapProfile({}, info, {}).WriteFile(dir + "/heap.pb.gz");
  }

  LeakReport leaks = trace_.FindLeaks(end_ns);
  if (opts_.prove_leaks) ProveLeaks(leaks);
  WriteFileAtomically(dir + "/leaks.json", LeakReportJson(leaks));
  WriteFileAtomically(dir + "/leaks.txt", LeakReportText(leaks));
  trace_.GoroutineProfile().WriteFile(dir + "/goroutines.pb.gz");
  const StackSymbolizer sym = target_.symbolizer();
  // Thousands of spans share a handful of creation sites: name each pc once.
  std::unordered_map<uint64_t, std::string> site_names, func_names;
  auto site = [&](const TrackedGoroutine& g) -> const std::string& {
    auto [it, added] = site_names.try_emplace(g.gopc);
    if (added) {
      Frame f = sym.CreatedBy(g.gopc).value_or(Frame::Unknown(g.gopc));
      it->second = fmt::format("created by {} at {}:{}", f.function, f.file, f.line);
    }
    return it->second;
  };
  auto func = [&](const TrackedGoroutine& g) -> const std::string& {
    auto [it, added] = func_names.try_emplace(g.startpc);
    if (added) {
      auto frames = sym.AtPc(g.startpc);
      it->second = frames.empty() ? std::string("?") : std::string(frames.back().function);
    }
    return it->second;
  };
  AtomicFileWriter timeline(dir + "/timeline.json");
  WriteTimelineJson(timeline, target_.pid, trace_.lifecycle(), end_ns, site, func,
                    GcTraceEvents(target_.pid, 0, trace_.lifecycle().start_ns(), trace_.gc_cycles(),
                                  trace_.stw_pauses()));
  timeline.Commit();
  nlohmann::json summary = {
      {"schema_version", kOutputSchemaVersion},
      {"pid", target_.pid},
      {"go_version", bin.go_version()},
      {"duration_seconds", (end_ns - trace_.lifecycle().start_ns()) / 1e9},
      {"goroutines_created", trace_.lifecycle().created()},
      {"goroutines_exited", trace_.lifecycle().exited()},
      {"exits", opts_.exit_probe ? "probed" : "inferred from goroutine snapshots"},
      {"goroutines_live", trace_.snapshot().user_goroutines()},
      {"goroutines_live_including_system", trace_.snapshot().goroutines.size()},
      {"events_lost", lost},
      {"partial", lost > 0 || !error_.empty()},
      {"ended_because", ended},
      {"target_exited", run.target_exited()},
      {"probes", probe_count},
      {"leak_suspects", leaks.suspects.size()},
  };
  if (heap_) summary.update(heap_->SummaryJson());
  else summary["heap_error"] = opts_.alloc_mode == "off" ? "heap profiling off (--alloc-mode off)" : heap_error_;
  if (gc_) summary.update(GcSummaryJson(trace_.gc_cycles()));
  else summary["gc_error"] = gc_error_;
  if (extra_summary.is_object()) summary.update(extra_summary);
  WriteFileAtomically(dir + "/summary.json", summary.dump(2) + "\n");
  Say(fmt::format("{} created, {} exited, {} live, {} GC cycles, {} lost; {} leak suspect group(s); wrote {}/",
                  trace_.lifecycle().created(), trace_.lifecycle().exited(), trace_.snapshot().user_goroutines(),
                  trace_.gc_cycles().size(), lost,
                  leaks.suspects.size(), dir));
  if (lost > 0)
    fmt::print(stderr, "goscope {}: WARNING: {} events were dropped (ring buffer full); counts are partial\n",
               opts_.command, lost);
  if (heap_ && heap_->restore_failed()) {
    fmt::print(stderr, "goscope {}: ERROR: {}\n", opts_.command, heap_->restore_message());
    return 1;
  }
  return 0;
}

}  // namespace goscope
