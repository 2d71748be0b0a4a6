// The heap model: allocations and frees as the heap probes report them, and
// the records they fold into (the runtime's memRecord: one per stack and
// object size). Plain data; knows nothing of BPF or of profile formats.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace goscope {

// A sampled allocation or free (sampled mode), or a package-init boundary (init mode).
struct HeapEvent {
  enum Kind { kAlloc, kFree, kInitMark } kind = kAlloc;
  pid_t pid = 0;       // the process: one tracer may serve every process of a binary
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint64_t addr = 0;   // the object (runtime address); frees are matched to allocs by it
  uint64_t size = 0;   // bytes the runtime's profile records for the object
  uint64_t goid = 0;   // allocs only
  std::vector<uint64_t> stack;  // allocs only: return addresses (runtime), innermost first
  // kInitMark: the index of the init function site entered (kInitFunctions
  // site's addresses), or kMarkRuntimeInitDone / kMarkMain.
  uint32_t mark = 0;
  static constexpr uint32_t kMarkRuntimeInitDone = 0xfffffffe;
  static constexpr uint32_t kMarkMain = 0xffffffff;
};

// Exact mode: allocations from one stack with one accounted size.
struct HeapExactRecord {
  std::vector<uint64_t> stack;  // return addresses (runtime), innermost first; empty if the stack map was full
  uint64_t size = 0;            // slot size (size class or whole pages); tiny: requested size
                                // (bytes then adds 16 per new tiny block and 0 per shared one,
                                // as the runtime accounts them)
  bool tiny = false;            // served by the tiny allocator (noscan, < 16 bytes)
  uint64_t count = 0;
  uint64_t bytes = 0;
  // kInit only:
  int64_t init_fn = -1;         // index of the init function site running; -1: none
  bool init_g = false;          // allocated by the init goroutine itself (as inittrace counts)
  bool after_main = false;      // allocated after main.main was entered
};

struct HeapExactStats {
  uint64_t calls = 0;          // mallocgc calls with size > 0
  uint64_t zero_size = 0;      // size 0 (no allocation)
  uint64_t stacks_full = 0;    // counted, but the stack was not stored
  uint64_t counts_full = 0;    // not counted: the count map was full
};

// Allocations from one stack with one object size: the runtime's memRecord.
// Counts are raw (what was observed), not scaled.
struct HeapRecord {
  std::vector<uint64_t> stack;  // return addresses (runtime), innermost first
  uint64_t size = 0;            // bytes per object
  int64_t alloc_objects = 0;
  int64_t alloc_bytes = 0;
  int64_t inuse_objects = 0;  // allocated in the window and not freed by its end
  int64_t inuse_bytes = 0;
  std::vector<std::pair<std::string, std::string>> labels;  // pprof string labels, e.g. {"package", "net/http"}
};

// Sampled mode: folds the allocation and free events of one window into
// records. A free is matched to the live sampled allocation at its address;
// frees of objects sampled before the window match nothing and are counted
// apart, so in-use means "allocated during the window and still live".
class HeapSampleSet {
 public:
  void Add(const HeapEvent& e);
  std::vector<HeapRecord> Records() const { return records_; }

  uint64_t allocs() const { return allocs_; }
  uint64_t frees_matched() const { return frees_matched_; }
  uint64_t frees_unmatched() const { return frees_unmatched_; }  // sampled before the window
  size_t live() const { return live_.size(); }

 private:
  std::vector<HeapRecord> records_;
  std::map<std::pair<std::vector<uint64_t>, uint64_t>, size_t> index_;  // (stack, size) -> record
  std::unordered_map<uint64_t, size_t> live_;                           // address -> record
  uint64_t allocs_ = 0, frees_matched_ = 0, frees_unmatched_ = 0;
};

// Exact mode: one record per (stack, size) with alloc values only (exact mode
// sees no frees). Tiny allocations keep their requested size as the record's
// size; their bytes are the runtime's (16 per new tiny block, 0 when shared).
std::vector<HeapRecord> ExactHeapRecords(const std::vector<HeapExactRecord>& exact);

// runtime/pprof's scaleHeapSample: (count, size) * 1/(1-exp(-avg/rate)), the
// inverse of the probability that a Poisson sampler with mean `rate` bytes
// samples an object of the average size; unscaled when rate <= 1.
std::pair<int64_t, int64_t> ScaleHeapSample(int64_t count, int64_t size, int64_t rate);

}  // namespace goscope
