// The heap model: Go's own sampled profile as the runtime keeps it (one bucket
// per allocation stack and object size), allocations as exact mode counts
// them, and the records both fold into (the runtime's memRecord). Plain data;
// knows nothing of BPF, of processes or of profile formats.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace goscope {

// One of the runtime's memory-profile buckets (runtime.bucket with its
// memRecord): the allocations Go's sampler took at one stack and object size,
// and the frees of them the sweeper recorded, over every cycle (published to
// runtime.MemProfile at a GC or not yet).
struct HeapBucket {
  uint64_t addr = 0;            // the bucket itself: the same for the process's life
  uint64_t size = 0;            // bytes per object
  std::vector<uint64_t> stack;  // return addresses (runtime), innermost first
  uint64_t allocs = 0, frees = 0, alloc_bytes = 0, free_bytes = 0;
};

// A package-init boundary (init mode).
struct HeapInitEvent {
  pid_t pid = 0;       // the process: one tracer may serve every process of a binary
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint64_t goid = 0;   // the goroutine that ran it
  // The index of the init function site entered (kInitFunctions site's
  // addresses), or kMarkRuntimeInitDone / kMarkMain.
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
  int64_t inuse_objects = 0;  // sampled and not freed (sampled mode); exact mode sees no frees
  int64_t inuse_bytes = 0;
  std::vector<std::pair<std::string, std::string>> labels;  // pprof string labels, e.g. {"package", "net/http"}
};

// Sampled mode: the records of two reads of one process's buckets. alloc_*
// are the allocations sampled between them (a bucket absent from `before` is
// new); inuse_* are the objects sampled and not freed by `now`, whenever they
// were sampled, as Go's own heap profile has them. Buckets with nothing in
// either are left out.
std::vector<HeapRecord> HeapRecordsBetween(const std::vector<HeapBucket>& before, const std::vector<HeapBucket>& now);

// Sums over a read's buckets.
struct HeapBucketTotals {
  uint64_t allocs = 0, frees = 0;
};
HeapBucketTotals Totals(const std::vector<HeapBucket>& buckets);

// Exact mode: one record per (stack, size) with alloc values only (exact mode
// sees no frees). Tiny allocations keep their requested size as the record's
// size; their bytes are the runtime's (16 per new tiny block, 0 when shared).
std::vector<HeapRecord> ExactHeapRecords(const std::vector<HeapExactRecord>& exact);

// runtime/pprof's scaleHeapSample: (count, size) * 1/(1-exp(-avg/rate)), the
// inverse of the probability that a Poisson sampler with mean `rate` bytes
// samples an object of the average size; unscaled when rate <= 1.
std::pair<int64_t, int64_t> ScaleHeapSample(int64_t count, int64_t size, int64_t rate);

}  // namespace goscope
