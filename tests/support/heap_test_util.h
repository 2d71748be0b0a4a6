// Helpers shared by the heap-profiling tests: `go tool pprof -raw` summed
// per (site, object size), the heapprog test programs of the manifest, and
// the target's MemProfileRate as goscope reads it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "child.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope::heaptest {

// The suite-wide runner and temp dir, under the names the heap tests use.
using Child = testing::Child;
using TempDir = testing::TempDir;

// Per (leaf function, object size) totals of a heap profile, from `go tool pprof -raw`.
struct SiteValues {
  int64_t alloc_objects = 0, alloc_space = 0, inuse_objects = 0, inuse_space = 0;
  int64_t raw_alloc = 0, raw_inuse = 0;  // unscaled sample counts (scaling inverted per sample)
  int samples = 0;
};
struct RawHeapProfile {
  std::map<std::string, std::string> header;  // "Period" -> "524288", ...
  std::string sample_types;   // "alloc_objects/count alloc_space/bytes ..." ([dflt] removed)
  bool default_type_marked = false;  // a default sample type is set
  std::map<std::pair<std::string, int64_t>, SiteValues> sites;  // (leaf function, bytes label)
  int unlabelled = 0;
};

// runtime/pprof's scale factor for objects of `size` bytes at `rate`.
double HeapScale(int64_t size, int64_t rate);

// Runs `go tool pprof -raw [-base BASE]` (newest toolchain) on path and sums
// its samples by leaf function (after goscope's runtime-frame cut) and
// "bytes" label (with a base, its samples count negatively: a window's diff).
RawHeapProfile ReadHeapProfile(const std::string& path, const std::string& base = "");

// Sum over every object size of a leaf function.
SiteValues SiteTotal(const RawHeapProfile& p, const std::string& fn);

// The heapprog programs of the manifest (name heapprog or heapprog_pprof; plain and stripped).
std::vector<testing::TestBinary> HeapPrograms(const std::string& name);

// runtime.MemProfileRate of a live process, read from its memory as goscope does.
std::optional<int64_t> TargetMemProfileRate(pid_t pid);

// "heapprog: site NAME size=S alloc_objects=N alloc_bytes=N inuse_objects=N inuse_bytes=N" lines.
struct GoSite {
  int64_t alloc_objects = 0, alloc_bytes = 0, inuse_objects = 0, inuse_bytes = 0;
};
std::map<std::pair<std::string, int64_t>, GoSite> ParseGoSites(const std::string& out);

std::string GoscopeBinary();  // the goscope under test

}  // namespace goscope::heaptest
