// Heap profiles from heap-tracer data, in the shapes Go's own tools use: a
// pprof profile with runtime/pprof's sample types and scaling, and folded
// stacks ("f1;f2;f3 value") for flame graphs. Knows nothing of BPF: it takes
// events and records (user/heap_tracer.h) and a symbolizer.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "heap_tracer.h"
#include "pprof_profile.h"

namespace goscope {

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

// The stack as Go's heap profile shows it: leading runtime frames (the
// allocator: mProf_Malloc, profilealloc, mallocgc, newobject, makeslice...)
// dropped up to the first non-runtime frame (all kept if every frame is
// runtime's), and the stack cut before runtime.goexit, the root of every
// goroutine (a frame-pointer walk can read on past it). Names come from the
// symbolizer's innermost frame at each pc, as runtime.FuncForPC does.
std::vector<uint64_t> HeapProfileStack(const std::vector<uint64_t>& stack, const PprofSymbolizer& symbolize);

struct HeapProfileInfo {
  bool exact = false;    // exact mode: alloc_* only, period 1
  int64_t rate = 0;      // sampled mode: MemProfileRate in effect (the period)
  int64_t time_ns = 0;   // wall clock at the start of the window (unix ns)
  int64_t duration_ns = 0;
  std::vector<std::string> comments;
  struct Mapping {  // the binary's executable segment, at runtime addresses
    uint64_t start = 0, limit = 0, offset = 0;
    std::string file, build_id;
  };
  std::vector<Mapping> mappings;
};

// Sampled: alloc_objects/count, alloc_space/bytes, inuse_objects/count,
// inuse_space/bytes scaled per record as runtime/pprof does, period type
// space/bytes, period = rate, no default sample type (pprof shows inuse_space,
// as for Go's "heap" profile), a "bytes" label with the object size.
// Exact: alloc_objects/count, alloc_space/bytes, unscaled, period 1.
// symbolize maps a return address to frames, innermost first (it is also the
// profile's location symbolizer).
PprofProfile BuildHeapProfile(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                              const PprofSymbolizer& symbolize);

// Which value a folded-stacks output sums: "alloc_objects", "alloc_space",
// "inuse_objects", "inuse_space" (scaled like the profile). False if unknown.
bool IsHeapValueName(const std::string& name);

// One line per distinct stack, "root;caller;...;leaf value" (inlined frames
// expanded), for flamegraph.pl, speedscope, inferno; zero lines omitted;
// sorted by stack. Stacks are cut as in HeapProfileStack.
std::string FoldedHeapStacks(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                             const std::string& value, const PprofSymbolizer& symbolize);

}  // namespace goscope
