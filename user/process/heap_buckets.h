// Go's own heap profile, read from a live process's memory: the memory
// profile's buckets (runtime.mbuckets, one per allocation stack and object
// size) with the samples Go's sampler recorded in each and the frees of them
// the sweeper recorded. What runtime.MemProfile reads, without the program's
// help and without a probe: sampled heap profiling costs the program what
// Go's sampler costs it, nothing more. Knows nothing of profile formats.
#pragma once
#include <cstdint>
#include <vector>

#include "model/heap_samples.h"
#include "process/process_memory.h"
#include "runtime_layout.h"

namespace goscope {

// The layout items the buckets need, resolved once per binary.
class HeapBucketReader {
 public:
  // Throws Error naming what the layout lacks (runtime.mbuckets, or a field
  // of runtime.bucket or runtime.memRecord).
  HeapBucketReader(const RuntimeLayout& layout, uint64_t load_bias);

  // Every memory-profile bucket, newest first. A bucket's counts are summed
  // over its cycles (published to runtime.MemProfile at a GC, and not yet),
  // so what was sampled a moment ago is there. Throws Error if the list
  // cannot be read or is not shaped like the runtime's.
  std::vector<HeapBucket> Read(const ProcessMemory& mem) const;

 private:
  uint64_t mbuckets_ = 0;  // runtime address of runtime.mbuckets
  uint64_t header_ = 0, allnext_ = 0, typ_ = 0, size_ = 0, nstk_ = 0;
  uint64_t cycle_ = 0, allocs_ = 0, frees_ = 0, active_ = 0, future_ = 0;
  bool has_bytes_ = false;  // memRecordCycle has alloc_bytes, free_bytes (before 1.27)
  uint64_t alloc_bytes_ = 0, free_bytes_ = 0;
};

}  // namespace goscope
