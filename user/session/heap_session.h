// One heap-profiling window over a live process, the same for `goscope heap`
// and `goscope attach`. Sampled: switch Go's sampler on if the runtime forced
// it off (and only then), read Go's own profile from the process's memory at
// the start and at the end, restore the rate on every path; the profile is
// what Go's sampler recorded, with no probe. Exact: attach the counting
// probes, detach, read the kernel's counts.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"
#include "output/heap_profile.h"
#include "probe_sites.h"
#include "probes/heap_tracer.h"
#include "process/heap_buckets.h"
#include "process/memprofilerate.h"
#include "process/process_memory.h"
#include "process/target_process.h"

namespace goscope {

constexpr int64_t kDefaultHeapRate = 512 * 1024;

enum class AllocMode {
  kSampled,  // Go's own sampler (MemProfileRate), read from the process's memory
  kExact,    // every allocation counted by a probe (HeapMode::kExact)
};

struct HeapOptions {
  AllocMode mode = AllocMode::kSampled;
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
  // Checks that profiling can work (throws HeapUnavailable or Error); exact
  // mode loads its BPF program, sampled mode needs none.
  HeapSession(const TargetProcess& target, const RuntimeLayout& layout, const HeapOptions& opts);
  ~HeapSession();

  // The window starts here. Exact: attaches. Sampled: writes the rate if
  // needed, then reads where Go's profile stands.
  void Start(const std::vector<ProbeSite>& sites);
  // Sampled: reads Go's profile again every few seconds, so that a process
  // that exits leaves what it had sampled until shortly before. Cheap to call often.
  void Poll();
  // Detaches (exact), reads Go's profile again and restores the rate
  // (sampled). Idempotent; the destructor calls it too.
  void Stop();

  size_t probes() const { return tracer_ ? tracer_->probes() : 0; }
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
  // memprofilerate_written, memprofilerate_restored, ...
  nlohmann::json SummaryJson() const;
  // One line for stderr at the end.
  std::string Outcome() const;

 private:
  struct WindowSamples {
    uint64_t allocs = 0, frees = 0, inuse = 0;  // sampled mode: Go's counts, raw
  };
  WindowSamples Window() const;

  const TargetProcess& target_;
  HeapOptions opts_;
  uint64_t rate_address_ = 0;
  std::unique_ptr<HeapTracer> tracer_;         // exact
  std::optional<HeapBucketReader> buckets_;    // sampled
  ProcessMemory memory_;
  std::vector<HeapBucket> before_, after_;     // sampled: Go's profile at the start and the last read
  bool read_after_ = false;                     // after_ holds a reading
  uint64_t after_ns_ = 0, last_try_ns_ = 0;    // when after_ was read; when a read was last tried
  std::string read_error_;                     // sampled: why nothing after the start could be read
  std::string read_note_;                      // sampled: the last read was before the end, and why
  std::unique_ptr<MemProfileRateOverride> rate_;
  bool started_ = false, stopped_ = false, wrote_ = false, restored_ = false, restore_failed_ = false;
  std::string restore_message_;
  int64_t start_wall_ns_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0;
};


}  // namespace goscope
