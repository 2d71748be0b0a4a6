// Heap profiles from heap-tracer data, in the shapes Go's own tools use: a
// pprof profile with runtime/pprof's sample types and scaling, and folded
// stacks ("f1;f2;f3 value") for flame graphs. Knows nothing of BPF: it takes
// the heap model's records (model/heap_samples.h) and a symbolizer.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/heap_samples.h"
#include "output/pprof_profile.h"

namespace goscope {

// The stack as Go's heap profile shows it: leading runtime frames (the
// allocator: mProf_Malloc, profilealloc, mallocgc, newobject, makeslice...)
// dropped up to the first non-runtime frame (all kept if every frame is
// runtime's), and the stack cut before runtime.goexit, the root of every
// goroutine (a frame-pointer walk can read on past it). Names come from the
// symbolizer's innermost frame at each pc, as runtime.FuncForPC does.
std::vector<uint64_t> HeapProfileStack(const std::vector<uint64_t>& stack, const FrameLookup& symbolize);

struct HeapProfileInfo {
  bool exact = false;    // exact mode: alloc_* only, period 1
  int64_t rate = 0;      // sampled mode: MemProfileRate in effect (the period)
  int64_t time_ns = 0;   // wall clock at the start of the window (unix ns)
  int64_t duration_ns = 0;
  std::vector<std::string> comments;
  std::vector<BinaryMapping> mappings;  // the binary's executable segments, at runtime addresses
};

// Sampled: alloc_objects/count, alloc_space/bytes, inuse_objects/count,
// inuse_space/bytes scaled per record as runtime/pprof does, period type
// space/bytes, period = rate, no default sample type (pprof shows inuse_space,
// as for Go's "heap" profile), a "bytes" label with the object size.
// Exact: alloc_objects/count, alloc_space/bytes, unscaled, period 1.
// symbolize maps a return address to frames, innermost first (it is also the
// profile's location symbolizer).
PprofProfile BuildHeapProfile(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                              const FrameLookup& symbolize);

// Which value a folded-stacks output sums: "alloc_objects", "alloc_space",
// "inuse_objects", "inuse_space" (scaled like the profile). False if unknown.
bool IsHeapValueName(const std::string& name);

// One line per distinct stack, "root;caller;...;leaf value" (inlined frames
// expanded), for flamegraph.pl, speedscope, inferno; zero lines omitted;
// sorted by stack. Stacks are cut as in HeapProfileStack.
std::string FoldedHeapStacks(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                             const std::string& value, const FrameLookup& symbolize);

}  // namespace goscope
