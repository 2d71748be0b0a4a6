// Heap profiles from heap-tracer data, without BPF: runtime/pprof's scaling,
// window semantics of in-use (frees matched to allocations by address), Go's
// cut of the allocator's runtime frames, the pprof shape `go tool pprof`
// reads (sample types, period, default type, object-size label) and folded
// stacks.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "error.h"
#include "output/heap_profile.h"
#include "heap_test_util.h"

namespace goscope {
namespace {

// pcs of a fake binary: each is one function (inlining at kInlinedPc).
constexpr uint64_t kProfileAllocPc = 0x1000, kMallocgcPc = 0x1100, kMakeslicePc = 0x1200, kLeafPc = 0x2000,
                   kInlinedPc = 0x2100, kMainPc = 0x3000, kRuntimeMainPc = 0x4000, kGoexitPc = 0x5000,
                   kGarbagePc = 0x6000, kGrowslicePc = 0x1300, kBgPc = 0x4100;

std::vector<Frame> Fake(uint64_t pc) {
  switch (pc) {
    case kProfileAllocPc: return {{"runtime.profilealloc", "malloc.go", 1}};
    case kMallocgcPc: return {{"runtime.mallocgc", "malloc.go", 2}};
    case kMakeslicePc: return {{"runtime.makeslice", "slice.go", 3}};
    case kGrowslicePc: return {{"runtime.growslice", "slice.go", 4}};
    case kLeafPc: return {{"main.leaf", "a.go", 10}};
    case kInlinedPc: return {{"main.inner", "a.go", 20}, {"main.outer", "a.go", 21}};
    case kMainPc: return {{"main.main", "a.go", 30}};
    case kRuntimeMainPc: return {{"runtime.main", "proc.go", 40}};
    case kGoexitPc: return {{"runtime.goexit", "asm.s", 50}};
    case kBgPc: return {{"runtime.bgsweep", "mgcsweep.go", 60}};
    default: return {};
  }
}

// A memory-profile bucket as the runtime keeps it: counts over all its cycles.
HeapBucket Bucket(uint64_t addr, uint64_t size, std::vector<uint64_t> stack, uint64_t allocs, uint64_t frees) {
  return {addr, size, std::move(stack), allocs, frees, allocs * size, frees * size};
}

TEST(HeapProfile, ScaleMatchesRuntimePprof) {
  // Go: scaleHeapSample(count, size, rate) with scale = 1/(1-exp(-avg/rate)).
  auto [c, s] = ScaleHeapSample(3, 3 * 4096, 512 * 1024);
  double scale = 1 / (1 - std::exp(-4096.0 / (512 * 1024)));
  EXPECT_EQ(c, static_cast<int64_t>(3 * scale));
  EXPECT_EQ(s, static_cast<int64_t>(3 * 4096 * scale));
  EXPECT_EQ(c, 385);  // 3 * 128.50...
  EXPECT_EQ(ScaleHeapSample(5, 500, 1), (std::pair<int64_t, int64_t>{5, 500}));  // rate 1: every allocation
  EXPECT_EQ(ScaleHeapSample(5, 500, 0), (std::pair<int64_t, int64_t>{5, 500}));  // unknown: unscaled
  EXPECT_EQ(ScaleHeapSample(0, 0, 4096), (std::pair<int64_t, int64_t>{0, 0}));
  // Large objects are nearly always sampled: scale -> 1.
  EXPECT_EQ(ScaleHeapSample(1, 64 << 20, 512 * 1024).first, 1);
}

TEST(HeapProfile, AllocsAreTheWindowsAndInuseIsEverySampledObjectNotFreed) {
  std::vector<uint64_t> a = {kLeafPc, kMainPc}, b = {kInlinedPc, kMainPc}, c = {kMainPc};
  std::vector<HeapBucket> before = {Bucket(0x10, 4096, a, 5, 3), Bucket(0x20, 512, c, 2, 2), Bucket(0x30, 64, c, 2, 0),
                                    Bucket(0x40, 64, b, 9, 1)};
  std::vector<HeapBucket> now = {Bucket(0x50, 512, b, 1, 1),   // new since: one sampled, freed
                                 Bucket(0x10, 4096, a, 7, 4),  // two sampled in the window, three in use
                                 Bucket(0x20, 512, c, 2, 2),   // nothing then or now: left out
                                 Bucket(0x30, 64, c, 2, 0),    // nothing in the window, two in use from before
                                 Bucket(0x40, 64, b, 8, 1)};   // a count that went down: a torn read, not negative
  auto recs = HeapRecordsBetween(before, now);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].stack, b);
  EXPECT_EQ(recs[0].alloc_objects, 1);
  EXPECT_EQ(recs[0].alloc_bytes, 512);
  EXPECT_EQ(recs[0].inuse_objects, 0);
  EXPECT_EQ(recs[1].stack, a);
  EXPECT_EQ(recs[1].size, 4096u);
  EXPECT_EQ(recs[1].alloc_objects, 2);
  EXPECT_EQ(recs[1].alloc_bytes, 2 * 4096);
  EXPECT_EQ(recs[1].inuse_objects, 3);
  EXPECT_EQ(recs[1].inuse_bytes, 3 * 4096);
  EXPECT_EQ(recs[2].alloc_objects, 0);
  EXPECT_EQ(recs[2].inuse_objects, 2);
  EXPECT_EQ(recs[3].alloc_objects, 0);
  EXPECT_EQ(recs[3].inuse_objects, 7);
  // The first read of a process: everything since its sampler ran.
  auto all = HeapRecordsBetween({}, now);
  ASSERT_EQ(all.size(), 5u);  // 0x20 too: two sampled and freed since the sampler ran
  EXPECT_EQ(all[1].alloc_objects, 7);
  HeapBucketTotals t = Totals(now);
  EXPECT_EQ(t.allocs, 1u + 7 + 2 + 2 + 8);
  EXPECT_EQ(t.frees, 1u + 4 + 2 + 0 + 1);
}

TEST(HeapProfile, StackDropsTheAllocatorAndEndsBeforeGoexit) {
  // As mProf_Malloc sees it: profilealloc, mallocgc, makeslice, then user code.
  EXPECT_EQ(HeapProfileStack({kProfileAllocPc, kMallocgcPc, kMakeslicePc, kLeafPc, kMainPc, kRuntimeMainPc,
                              kGoexitPc, kGarbagePc},
                             Fake),
            (std::vector<uint64_t>{kLeafPc, kMainPc, kRuntimeMainPc}));
  // Unknown pcs are not runtime: they stop the cut, as in Go.
  EXPECT_EQ(HeapProfileStack({kMallocgcPc, kGarbagePc, kLeafPc}, Fake),
            (std::vector<uint64_t>{kGarbagePc, kLeafPc}));
  // The runtime allocating for itself: from mallocgc's caller, like Go's second try.
  EXPECT_EQ(HeapProfileStack({kProfileAllocPc, kMallocgcPc, kGrowslicePc, kBgPc, kGoexitPc}, Fake),
            (std::vector<uint64_t>{kGrowslicePc, kBgPc}));
  // Exact mode's stacks start at mallocgc's caller already.
  EXPECT_EQ(HeapProfileStack({kMakeslicePc, kInlinedPc, kMainPc}, Fake),
            (std::vector<uint64_t>{kInlinedPc, kMainPc}));
  EXPECT_TRUE(HeapProfileStack({}, Fake).empty());
}

TEST(HeapProfile, SampledProfileReadsInGoToolPprof) {
  std::vector<uint64_t> leaf = {kProfileAllocPc, kMallocgcPc, kMakeslicePc, kLeafPc, kMainPc, kRuntimeMainPc, kGoexitPc};
  std::vector<uint64_t> inl = {kProfileAllocPc, kMallocgcPc, kInlinedPc, kMainPc, kRuntimeMainPc, kGoexitPc};
  const std::vector<HeapRecord> records =
      HeapRecordsBetween({}, {Bucket(0x1, 4096, leaf, 4, 1), Bucket(0x2, 65536, inl, 1, 0)});
  HeapProfileInfo info;
  info.rate = 512 * 1024;
  info.duration_ns = 2'000'000'000;
  info.comments = {"test profile"};
  info.mappings = {{0x1000, 0x7000, 0, "/opt/fake/prog", "abcd"}};
  heaptest::TempDir dir;
  const std::string path = dir.path() + "/heap.pb.gz";
  BuildHeapProfile(records, info, Fake).WriteFile(path);
  heaptest::RawHeapProfile p = heaptest::ReadHeapProfile(path);
  EXPECT_EQ(p.sample_types, "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes");
  EXPECT_EQ(p.header["PeriodType"], "space bytes");
  EXPECT_EQ(p.header["Period"], "524288");
  EXPECT_FALSE(p.default_type_marked);
  EXPECT_EQ(p.header["Comment"], "test profile");
  heaptest::SiteValues leafv = p.sites[{"main.leaf", 4096}];
  auto [ao, ab] = ScaleHeapSample(4, 4 * 4096, 512 * 1024);
  auto [io, ib] = ScaleHeapSample(3, 3 * 4096, 512 * 1024);
  EXPECT_EQ(leafv.alloc_objects, ao);
  EXPECT_EQ(leafv.alloc_space, ab);
  EXPECT_EQ(leafv.inuse_objects, io);
  EXPECT_EQ(leafv.inuse_space, ib);
  EXPECT_EQ(leafv.raw_alloc, 4);
  EXPECT_EQ(leafv.raw_inuse, 3);
  // The leaf of an inlined pc is its innermost function.
  EXPECT_EQ((p.sites[{"main.inner", 65536}].raw_alloc), 1);
  // Go's "heap" profile names no default sample type: pprof shows the last, inuse_space.
  int rc = 0;
  const auto& tc = testing::InstalledGoToolchains().back();
  std::string top = testing::RunCommand(
      testing::GoEnvPrefix() + tc.Tool("pprof") + " -top -nodecount=3 " + testing::ShellQuote(path), "", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(top.find("Type: inuse_space"), std::string::npos) << top;
  // No runtime frame of the allocator and no goexit in any stack.
  std::string traces = testing::RunCommand(
      testing::GoEnvPrefix() + tc.Tool("pprof") + " -traces " + testing::ShellQuote(path), "", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(traces.find("runtime.mallocgc"), std::string::npos) << traces;
  EXPECT_EQ(traces.find("runtime.goexit"), std::string::npos) << traces;
  EXPECT_NE(traces.find("runtime.main"), std::string::npos) << traces;
}

// A run whose heap probes never attached still writes heap.pb.gz: no
// samples, no symbolizer, the reason as a comment; pprof reads it.
TEST(HeapProfile, AProfileWithNoSamplesSaysWhyAndReads) {
  HeapProfileInfo info;
  info.rate = 512 * 1024;
  info.comments = {"no heap samples: process 42 exited"};
  heaptest::TempDir dir;
  const std::string path = dir.path() + "/heap.pb.gz";
  BuildHeapProfile({}, info, {}).WriteFile(path);
  heaptest::RawHeapProfile p = heaptest::ReadHeapProfile(path);
  EXPECT_EQ(p.sample_types, "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes");
  EXPECT_EQ(p.header["Comment"], "no heap samples: process 42 exited");
  EXPECT_TRUE(p.sites.empty());
  int rc = 0;
  std::string top = testing::RunCommand(testing::GoEnvPrefix() + testing::InstalledGoToolchains().back().Tool("pprof") +
                                            " -top " + testing::ShellQuote(path) + " 2>&1",
                                        "", &rc);
  EXPECT_EQ(rc, 0) << top;
  EXPECT_NE(top.find("no heap samples: process 42 exited"), std::string::npos) << top;
}

TEST(HeapProfile, ExactProfileHasAllocValuesOnlyAtPeriodOne) {
  std::vector<HeapExactRecord> exact = {
      {{kMakeslicePc, kLeafPc, kMainPc}, 112, false, 10000, 1120000},
      {{kInlinedPc, kMainPc}, 8, true, 5000, 40000},
  };
  HeapProfileInfo info;
  info.exact = true;
  info.mappings = {{0x1000, 0x7000, 0, "/opt/fake/prog", "abcd"}};
  heaptest::TempDir dir;
  const std::string path = dir.path() + "/exact.pb.gz";
  auto records = ExactHeapRecords(exact);
  BuildHeapProfile(records, info, Fake).WriteFile(path);
  heaptest::RawHeapProfile p = heaptest::ReadHeapProfile(path);
  EXPECT_EQ(p.sample_types, "alloc_objects/count alloc_space/bytes");
  EXPECT_EQ(p.header["Period"], "1");
  EXPECT_TRUE(p.default_type_marked);
  EXPECT_NE(p.header["Comment"].find("no frees"), std::string::npos) << p.header["Comment"];
  heaptest::SiteValues leaf = p.sites[{"main.leaf", 112}], tiny = p.sites[{"main.inner", 8}];
  EXPECT_EQ(leaf.alloc_objects, 10000);
  EXPECT_EQ(leaf.alloc_space, 1120000);
  EXPECT_EQ(tiny.alloc_objects, 5000);
  int rc = 0;
  std::string top = testing::RunCommand(testing::GoEnvPrefix() + testing::InstalledGoToolchains().back().Tool("pprof") +
                                            " -top " + testing::ShellQuote(path),
                                        "", &rc);
  EXPECT_NE(top.find("Type: alloc_space"), std::string::npos) << top;
  EXPECT_THROW(FoldedHeapStacks(records, info, "bogus", Fake), Error);
}

TEST(HeapProfile, FoldedStacksRootFirstWithInlinedFrames) {
  auto recs = HeapRecordsBetween(
      {}, {Bucket(0x1, 4096, {kProfileAllocPc, kMallocgcPc, kMakeslicePc, kLeafPc, kMainPc, kRuntimeMainPc, kGoexitPc}, 2, 0),
           Bucket(0x3, 512, {kProfileAllocPc, kMallocgcPc, kInlinedPc, kMainPc, kRuntimeMainPc, kGoexitPc}, 1, 1)});
  HeapProfileInfo info;
  info.rate = 1;  // unscaled: easy numbers
  EXPECT_EQ(FoldedHeapStacks(recs, info, "alloc_space", Fake),
            "runtime.main;main.main;main.leaf 8192\n"
            "runtime.main;main.main;main.outer;main.inner 512\n");
  EXPECT_EQ(FoldedHeapStacks(recs, info, "alloc_objects", Fake),
            "runtime.main;main.main;main.leaf 2\n"
            "runtime.main;main.main;main.outer;main.inner 1\n");
  // Freed: no in-use line.
  EXPECT_EQ(FoldedHeapStacks(recs, info, "inuse_space", Fake), "runtime.main;main.main;main.leaf 8192\n");
  EXPECT_TRUE(IsHeapValueName("inuse_objects"));
  EXPECT_FALSE(IsHeapValueName("samples"));
}

}  // namespace
}  // namespace goscope
