#include "session/process_trace.h"

#include <fmt/format.h>

#include "output/goroutine_format.h"
#include "process/goroutine_snapshot.h"
#include "process/run_control.h"

namespace goscope {

ProcessTrace::ProcessTrace(TargetProcess target, const RuntimeLayout& layout, ProcessTraceOptions opts)
    : target_(std::move(target)), layout_(layout), opts_(opts), life_(MonotonicNs(), opts.max_finished) {}

void ProcessTrace::OnGc(const GcCycle& c) {
  gc_count_++;
  if (opts_.keep_gc_history) cycles_.push_back(c);
}

void ProcessTrace::OnStw(const StwPause& p) {
  if (opts_.keep_gc_history) stw_.push_back(p);
}

const Snapshot& ProcessTrace::Refresh() {
  snapshot_ = TakeSnapshot(target_, layout_);
  if (!seeded_) return snapshot_;
  if (opts_.probes != LifecycleProbes::kCreationAndExit)
    life_.Reconcile(snapshot_.goroutines, MonotonicNs(), opts_.probes == LifecycleProbes::kNone);
  RankLeaks();
  return snapshot_;
}

void ProcessTrace::Seed() {
  if (seeded_) return;
  life_.Seed(snapshot_.goroutines);
  seeded_ = true;
  RankLeaks();
}

size_t ProcessTrace::suspect_goroutines() const {
  size_t n = 0;
  for (const LeakSuspect& s : leaks_.suspects) n += s.count;
  return n;
}

std::string ProcessTrace::GrowthNote() const {
  return fmt::format("leak suspects grew in {} snapshots in a row (now {} goroutines)", growing_refreshes_,
                     suspect_goroutines());
}

void ProcessTrace::RankLeaks() {
  const size_t before = suspect_goroutines();
  leaks_ = FindLeaks(MonotonicNs());
  const size_t after = suspect_goroutines();
  growing_refreshes_ = after > before && after >= kGrowthFloor ? growing_refreshes_ + 1 : 0;
}

LeakReport ProcessTrace::FindLeaks(uint64_t end_ns) const {
  const StackSymbolizer sym = target_.symbolizer();
  LeakReport r = FindLeakSuspects(snapshot_.goroutines, life_, end_ns,
                                  [&](const TrackedGoroutine& g) {
                                    return g.creation_stack ? sym.Stack(*g.creation_stack) : std::vector<Frame>{};
                                  });
  r.pid = target_.pid;
  r.go_version = target_.binary->go_version();
  return r;
}

PprofProfile ProcessTrace::GoroutineProfile() const {
  return GoroutinesPprof(snapshot_, target_.ExecutableMappings());
}

}  // namespace goscope
