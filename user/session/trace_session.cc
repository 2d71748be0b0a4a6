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

const char* CreationProbesName(CreationProbes c) {
  switch (c) {
    case CreationProbes::kAlways: return "always";
    case CreationProbes::kOnGrowth: return "on-growth";
    case CreationProbes::kOff: return "off";
  }
  return "?";
}

void ValidateTraceOptions(const TraceOptions& o) {
  if (o.interval_s <= 0) throw Error("--interval must be positive");
  if (o.snapshot_interval_s <= 0) throw Error("the snapshot interval must be positive");
  if (o.exit_probe && o.creations != CreationProbes::kAlways)
    throw Error("--exit-times needs --creations always (an exit is timed against its creation)");
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
      memory_(target.pid),
      trace_(target, layout,
             {.probes = opts_.creations != CreationProbes::kAlways ? LifecycleProbes::kNone
                        : opts_.exit_probe                          ? LifecycleProbes::kCreationAndExit
                                                                    : LifecycleProbes::kCreation}),
      next_status_(static_cast<double>(opts_.interval_s)) {}

TraceSession::~TraceSession() = default;

void TraceSession::Say(const std::string& line) const {
  if (!opts_.quiet) fmt::print(stderr, "goscope {}: {}\n", opts_.command, line);
}

void TraceSession::AttachGoroutinesAndGc() {
  goroutines_ = std::make_unique<GoroutineTracer>(target_, layout_, opts_.goroutine_ring_bytes);
  if (opts_.creations == CreationProbes::kAlways) {
    goroutines_->Attach(sites_, opts_.exit_probe);
    creations_on_at_ = 0;
  }
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
  // Exited or exec'd meanwhile: the run ends, its outputs are still written.
  if (!Refresh()) return;
  DrainGoroutines();
  trace_.Seed();
  counts_start_ = counts_now_;
  next_snapshot_ = opts_.snapshot_interval_s;
}

bool TraceSession::Refresh() {
  try {
    trace_.Refresh();
  } catch (const Error& e) {
    counts_now_.reset();
    EndOnReadError(e);
    return false;
  }
  try {
    counts_now_ = ReadGoroutineCounts(target_, layout_, memory_);
  } catch (const Error& e) {
    // The counts then come from the lifecycle; the summary says why.
    if (counts_error_.empty()) counts_error_ = e.what();
    counts_now_.reset();
  }
  return true;
}

uint64_t TraceSession::created() const {
  if (!counts_start_ || !counts_now_) return trace_.lifecycle().created();
  return counts_now_->created - std::min(counts_now_->created, counts_start_->created);
}

uint64_t TraceSession::exited() const {
  if (!counts_start_ || !counts_now_) return trace_.lifecycle().exited();
  const int64_t grew = static_cast<int64_t>(counts_now_->existing) - static_cast<int64_t>(counts_start_->existing);
  return static_cast<uint64_t>(std::max<int64_t>(static_cast<int64_t>(created()) - grew, 0));
}

// From here every goroutine's creation is an event; a snapshot just after the
// probes went live adopts those created since the last one (their events, if
// any, only add their stacks).
void TraceSession::CreationProbesOn(double at_s) {
  try {
    goroutines_->Attach(sites_, false);
  } catch (const Error& e) {
    creations_why_ = fmt::format("{}; creation probes could not be attached: {}", trace_.GrowthNote(), e.what());
    Say(creations_why_);
    opts_.creations = CreationProbes::kOff;  // not again every snapshot
    return;
  }
  creations_on_at_ = at_s;
  creations_why_ = trace_.GrowthNote();
  DrainGoroutines();
  if (!Refresh()) return;
  trace_.set_probes(LifecycleProbes::kCreation);
  Say(fmt::format("{:.0f}s: {}: creation probes on (a probe hit per goroutine) until the end", at_s, creations_why_));
}

size_t TraceSession::probes() const {
  return (goroutines_ ? goroutines_->probes() : 0) + (gc_ ? gc_->probes() : 0) + (heap_ ? heap_->probes() : 0);
}

std::string TraceSession::Description() const {
  const char* creations = opts_.creations == CreationProbes::kAlways     ? "every creation probed"
                          : opts_.creations == CreationProbes::kOnGrowth ? "creations probed once leak suspects grow"
                                                                         : "creations not probed";
  return fmt::format("goroutines ({}){}{}{}", creations, gc_ ? ", GC" : "",
                     heap_ ? fmt::format(", heap ({})", opts_.alloc_mode) : "", heap_ ? heap_->RateNote() : "");
}

int TraceSession::DrainGoroutines() {
  return goroutines_->Drain([&](const GoroutineEvent& e) {
    (e.kind == GoroutineEvent::kCreate ? creation_events_ : exit_events_)++;
    trace_.OnGoroutine(e);
  });
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
    if (goroutines_) n = DrainGoroutines();
    DrainGc();
    if (heap_) heap_->Poll();
  } catch (const Error& e) {
    error_ = e.what();
  }
  return n;
}

void TraceSession::MaybeReport(const RunControl& run) {
  if (!error_.empty()) return;
  const double now = run.elapsed_seconds();
  if (now >= next_snapshot_) {
    // The target may have exited or exec'd mid-read: what we have is still written.
    if (!Refresh()) return;
    const double done = run.elapsed_seconds();
    next_snapshot_ = done + std::max(opts_.snapshot_interval_s, (done - now) / ProcessTrace::kSnapshotCpuShare);
    if (opts_.creations == CreationProbes::kOnGrowth && !creations_on_at_ && trace_.leaks_grow())
      CreationProbesOn(now);
  }
  if (now < next_status_) return;
  next_status_ += static_cast<double>(opts_.interval_s);
  Say(fmt::format("{:.0f}s: {} created, {} exited, {} goroutines, {} events lost", now, created(), exited(),
                  trace_.snapshot().user_goroutines(), goroutines_->lost()));
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
  if (error_.empty()) {
    try {
      DrainGoroutines();
      if (!run.target_exited() && ProcessAlive(target_.pid)) Refresh();
      else if (opts_.creations == CreationProbes::kAlways) counts_now_.reset();  // the events saw it all
      else counts_stale_ = true;  // the last snapshot's counts stand, and say so
    } catch (const Error& e) {
      EndOnReadError(e);
    }
  }
  const size_t probe_count = probes();
  const size_t goroutine_probes = goroutines_->probes();
  if (heap_) heap_->Stop();  // detaches, and restores MemProfileRate before anything else can fail
  goroutines_->Detach();
  DrainGoroutines();
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
      {"goroutines_created", created()},
      {"goroutines_exited", exited()},
      {"goroutine_counts", !counts_start_ || !counts_now_ ? "probes and snapshots"
                           : counts_stale_ ? "goroutine ids in memory at the last snapshot (the process exited after it)"
                                           : "goroutine ids in memory"},
      {"exits", opts_.exit_probe ? "probed" : "inferred from goroutine snapshots"},
      {"creation_probes", CreationProbesName(opts_.creations)},
      {"creation_probes_on_since_seconds",
       creations_on_at_ ? nlohmann::json(*creations_on_at_) : nlohmann::json(nullptr)},
      {"goroutines_live", trace_.snapshot().user_goroutines()},
      {"goroutines_live_including_system", trace_.snapshot().goroutines.size()},
      {"events_lost", lost},
      {"creation_events", creation_events_},
      {"exit_events", exit_events_},
      {"partial", lost > 0 || !error_.empty()},
      {"ended_because", ended},
      {"target_exited", run.target_exited()},
      {"probes", probe_count},
      {"goroutine_probes", goroutine_probes},
      {"leak_suspects", leaks.suspects.size()},
  };
  if (heap_) summary.update(heap_->SummaryJson());
  else summary["heap_error"] = opts_.alloc_mode == "off" ? "heap profiling off (--alloc-mode off)" : heap_error_;
  if (gc_) summary.update(GcSummaryJson(trace_.gc_cycles()));
  else summary["gc_error"] = gc_error_;
  if (!creations_why_.empty()) summary["creation_probes_why"] = creations_why_;
  if (!counts_error_.empty()) summary["goroutine_counts_error"] = counts_error_;
  if (extra_summary.is_object()) summary.update(extra_summary);
  WriteFileAtomically(dir + "/summary.json", summary.dump(2) + "\n");
  Say(fmt::format("{} created, {} exited, {} live, {} GC cycles, {} lost; {} leak suspect group(s); wrote {}/",
                  created(), exited(), trace_.snapshot().user_goroutines(),
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
