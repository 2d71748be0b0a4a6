#include "agent/agent_process.h"

#include <algorithm>

#include <fmt/format.h>

#include "error.h"
#include "output/goroutine_format.h"
#include "output/leak_report_format.h"
#include "process/leak_prover.h"
#include "process/run_control.h"
#include "process/runtime_stats_reader.h"
#include "session/heap_session.h"

namespace goscope {
namespace {

// Finished goroutines kept for leak ranking: an agent holds many processes.
constexpr size_t kMaxFinished = 1000;

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

AgentProcess::AgentProcess(TargetProcess target, std::shared_ptr<BinaryWatch> watch, const ProcessExecutable& exe,
                           const CgroupLabels& cgroup)
    : watch_(std::move(watch)),
      trace_(std::move(target), watch_->layout(),
             {.max_finished = kMaxFinished, .keep_gc_history = false, .probes = LifecycleProbes::kNone}),
      start_ticks_(exe.start_ticks),
      comm_(exe.comm.empty() ? Basename(exe.path) : exe.comm),
      memory_(trace_.target().pid) {
  labels_ = {{"pid", std::to_string(pid())},
             {"exe", exe.path},
             {"go_version", trace_.target().binary->go_version()},
             {"comm", comm_}};
  if (!cgroup.systemd_unit.empty()) labels_.push_back({"unit", cgroup.systemd_unit});
  if (!cgroup.container_id.empty()) labels_.push_back({"container_id", cgroup.container_id});
  if (!cgroup.pod_uid.empty()) labels_.push_back({"pod_uid", cgroup.pod_uid});
}

void AgentProcess::OnGc(const GcCycle& c) {
  trace_.OnGc(c);
  for (const GcPause& p : c.pauses) {
    double s = p.duration_ns / 1e9;
    pause_sum_ += s;
    size_t i = std::lower_bound(kGcPauseBuckets.begin(), kGcPauseBuckets.end(), s) - kGcPauseBuckets.begin();
    pause_counts_[i]++;
  }
}

void AgentProcess::Refresh(bool allow_write, int64_t heap_rate) {
  // The probes as they are now decide what this snapshot infers.
  trace_.set_probes(creation_probes() ? LifecycleProbes::kCreation : LifecycleProbes::kNone);
  const Snapshot& snapshot = trace_.Refresh();
  trace_.Seed();
  try {
    counts_ = ReadGoroutineCounts(trace_.target(), watch_->layout(), memory_);
  } catch (const Error&) {
    counts_.reset();  // the highest goid in the snapshot stands in
  }
  // The rate is final once the runtime runs goroutines (schedinit sets it to 0
  // in binaries that never use the memory profile, after exec).
  if (!rate_ && snapshot.user_goroutines() > 0) {
    try {
      const TargetProcess& target = trace_.target();
      heap_reader_.emplace(watch_->layout(), target.load_bias);
      rate_ = std::make_unique<MemProfileRateOverride>(target.pid, MemProfileRateAddress(target, watch_->layout()),
                                                       heap_rate, allow_write);
    } catch (const Error&) {
      // Unknown address or unreadable: no heap profile for this process, the rest works.
      heap_reader_.reset();
    }
  }
  if (heap_reader_ && rate_) {
    try {
      heap_ = HeapRecordsBetween({}, heap_reader_->Read(memory_));
    } catch (const Error&) {
      // Mid-change or exiting: the last reading stands.
    }
  }
}

void AgentProcess::ReadStats(size_t keep) {
  stats_.push_back(ReadRuntimeStats(trace_.target(), watch_->layout(), memory_));
  while (stats_.size() > keep) stats_.pop_front();
}

void AgentProcess::KeepBaseline() {
  Baseline b;
  b.unix_ns = stats_.empty() ? 0 : stats_.back().unix_ns;
  b.heap = HeapProfile().SerializeGzipped();
  b.goroutines = GoroutineProfile().SerializeGzipped();
  baseline_ = std::move(b);
}

uint64_t AgentProcess::goroutines_created() const {
  return counts_ ? counts_->created : trace_.snapshot().max_goid;
}

uint64_t AgentProcess::goroutines_exited() const {
  // Every goroutine created and not existing (system ones included) has exited.
  const uint64_t live = counts_ ? counts_->existing : trace_.snapshot().goroutines.size();
  return goroutines_created() > live ? goroutines_created() - live : 0;
}

std::string AgentProcess::RestoreRate() {
  if (!rate_ || !rate_->written()) return "";
  std::string why;
  if (rate_->Restore(&why)) return "";
  return why;
}


HeapProfileInfo AgentProcess::Info() const {
  HeapProfileInfo info;
  info.rate = rate_ ? rate_->effective() : 0;
  info.mappings = trace_.target().ExecutableMappings();
  info.comments.push_back(fmt::format("goscope agent: Go's own heap profile (read from memory), sampled at "
                                      "MemProfileRate {}{}", info.rate, wrote_rate() ? " (set by goscope)" : ""));
  return info;
}

double AgentProcess::heap_alloc_bytes() const {
  int64_t rate = rate_ ? rate_->effective() : 0;
  double total = 0;
  for (const HeapRecord& r : heap_) total += static_cast<double>(ScaleHeapSample(r.alloc_objects, r.alloc_bytes, rate).second);
  return total;
}

double AgentProcess::heap_inuse_bytes() const {
  int64_t rate = rate_ ? rate_->effective() : 0;
  double total = 0;
  for (const HeapRecord& r : heap_) total += static_cast<double>(ScaleHeapSample(r.inuse_objects, r.inuse_bytes, rate).second);
  return total;
}

PprofProfile AgentProcess::HeapProfile() const {
  return BuildHeapProfile(heap_, Info(), trace_.target().symbolizer().ReturnAddressLookup());
}

PprofProfile AgentProcess::GoroutineProfile() const { return trace_.GoroutineProfile(); }

std::string AgentProcess::LeaksJson() const { return LeakReportJson(trace_.leaks()); }

std::string AgentProcess::ProvenLeaksJson(double now) {
  last_proof_ = now;  // an attempt that fails counts too: it stopped the process as well
  auto [proof, groups] = ProveAndGroupLeaks(trace_.target(), watch_->layout());
  LeakReport report = trace_.leaks();
  AddProof(report, std::move(proof), std::move(groups));
  return LeakReportJson(report);
}

}  // namespace goscope
