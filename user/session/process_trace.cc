#include "session/process_trace.h"

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
  if (seeded_ && opts_.probes != LifecycleProbes::kCreationAndExit)
    life_.Reconcile(snapshot_.goroutines, MonotonicNs(), opts_.probes == LifecycleProbes::kNone);
  return snapshot_;
}

void ProcessTrace::Seed() {
  if (seeded_) return;
  life_.Seed(snapshot_.goroutines);
  seeded_ = true;
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
