// One heap-profiling window over a live process, the same for `goscope heap`
// and `goscope attach`: attach the probes, switch Go's sampler on if the
// runtime forced it off (and only then), collect, detach, restore, and turn
// what was seen into a profile. The order of those steps is the point: probes
// before the rate write so no sample is missed, restore on every path.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"
#include "output/heap_profile.h"
#include "probe_sites.h"
#include "probes/heap_tracer.h"
#include "process/memprofilerate.h"
#include "process/target_process.h"

namespace goscope {

constexpr int64_t kDefaultHeapRate = 512 * 1024;

struct HeapOptions {
  HeapMode mode = HeapMode::kSampled;
  int64_t rate = kDefaultHeapRate;  // sampled: written only when the program's rate is 0
  bool allow_write = true;          // false: --no-write
};

// Sampled profiling is impossible without writing (the runtime's rate is 0 and
// writing is forbidden). what() says so and points to exact mode.
class HeapUnavailable : public Error {
 public:
  using Error::Error;
};

class HeapSession {
 public:
  // Checks that profiling can work (throws HeapUnavailable or Error) and loads the BPF program.
  HeapSession(const TargetProcess& target, const RuntimeLayout& layout, const HeapOptions& opts);
  ~HeapSession();

  // Attaches, then (sampled mode) writes the rate if needed. The window starts here.
  void Start(const std::vector<ProbeSite>& sites);
  void Drain();
  // Detaches, drains and restores the rate. Idempotent; the destructor calls it too.
  void Stop();

  size_t probes() const { return tracer_.probes(); }
  uint64_t lost() const { return tracer_.lost(); }
  // ", MemProfileRate 524288 (written by goscope; was 0)" for status lines.
  std::string RateNote() const;
  // After Stop: "runtime.MemProfileRate restored to 0", or why it was not.
  const std::string& restore_message() const { return restore_message_; }
  // After Stop: the target is alive but still holds goscope's rate.
  bool restore_failed() const { return restore_failed_; }

  // After Stop: the profile's records and metadata, and a symbolizer for them.
  std::vector<HeapRecord> Records() const;
  HeapProfileInfo Info() const;
  FrameLookup Symbolizer() const;
  // summary.json fields: alloc_mode, heap_rate, alloc_samples, free_samples,
  // memprofilerate_written, memprofilerate_restored, heap_events_lost, ...
  nlohmann::json SummaryJson() const;
  // One line for stderr at the end.
  std::string Outcome() const;

 private:
  const TargetProcess& target_;
  HeapOptions opts_;
  uint64_t rate_address_ = 0;
  HeapTracer tracer_;
  std::unique_ptr<MemProfileRateOverride> rate_;
  HeapSampleSet samples_;
  bool started_ = false, stopped_ = false, wrote_ = false, restored_ = false, restore_failed_ = false;
  std::string restore_message_;
  int64_t start_wall_ns_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0;
};


}  // namespace goscope
