#include "process/runtime_stats_reader.h"

#include <signal.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <span>

#include <fmt/format.h>

#include "error.h"
#include "size_classes.h"

namespace goscope {
namespace {

// Fetches layout values for one group of stats, remembering what is missing
// so the group's stats can say why they are absent.
class Needs {
 public:
  explicit Needs(const RuntimeLayout& layout) : layout_(layout) {}
  uint64_t operator()(std::string_view key) {
    Sourced v = layout_.get(key);
    if (!v.known()) missing_ += fmt::format("{}{}", missing_.empty() ? "" : ", ", key);
    return v.value;
  }
  bool ok() const { return missing_.empty(); }
  std::string why() const { return fmt::format("runtime layout unknown for this release: {}", missing_); }

 private:
  const RuntimeLayout& layout_;
  std::string missing_;
};

// A block of target memory read in one go, with bounds-checked field access.
struct Block {
  std::vector<uint8_t> bytes;
  uint64_t U(uint64_t off, size_t width = 8) const {
    uint64_t v = 0;
    if (off + width <= bytes.size()) std::memcpy(&v, bytes.data() + off, width);
    return v;
  }
  int64_t I(uint64_t off) const { return static_cast<int64_t>(U(off)); }
};

std::optional<Block> ReadBlock(const ProcessMemory& mem, uint64_t addr, uint64_t size) {
  if (size == 0 || size > (1 << 20)) return std::nullopt;
  Block b;
  b.bytes.resize(size);
  if (!mem.Read(addr, b.bytes.data(), size)) return std::nullopt;
  return b;
}

[[noreturn]] void Unreadable(pid_t pid, std::string_view what, uint64_t addr) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) throw Error(fmt::format("process {} exited while its statistics were read", pid));
  throw Error(fmt::format("process {}: cannot read {}{}", pid, what, addr ? fmt::format(" at {:#x}", addr) : ""));
}

// memstats.heapStats summed over its three generations, as the runtime's
// unsafeRead does with the world stopped.
struct HeapCounters {
  int64_t in_stacks = 0, in_work_bufs = 0, in_ptr_scalar_bits = 0;
  uint64_t tiny_alloc_count = 0, large_alloc = 0, large_alloc_count = 0, large_free = 0, large_free_count = 0;
  std::vector<uint64_t> small_alloc_count, small_free_count;  // per size class
};

std::optional<HeapCounters> SumHeapStats(const Block& mstats, const RuntimeLayout& layout, Needs& need) {
  const uint64_t base = need("runtime.mstats.heapStats.stats");
  const uint64_t delta_size = need("runtime.heapStatsDelta#size");
  auto field = [&](const char* name) { return need(fmt::format("runtime.heapStatsDelta.{}", name)); };
  const uint64_t in_stacks = field("inStacks"), in_work_bufs = field("inWorkBufs"), tiny = field("tinyAllocCount"),
                 large_alloc = field("largeAlloc"), large_alloc_count = field("largeAllocCount"),
                 small_alloc = field("smallAllocCount"), large_free = field("largeFree"),
                 large_free_count = field("largeFreeCount"), small_free = field("smallFreeCount");
  // Gone in 1.25 (no more GC programs); absent means zero there.
  Sourced ptr_scalar = layout.get("runtime.heapStatsDelta.inPtrScalarBits");
  if (!need.ok()) return std::nullopt;

  const size_t classes = GoSizeClassBytes().size();
  HeapCounters c;
  c.small_alloc_count.assign(classes, 0);
  c.small_free_count.assign(classes, 0);
  for (uint64_t gen = 0; gen < 3; gen++) {
    const uint64_t d = base + gen * delta_size;
    c.in_stacks += mstats.I(d + in_stacks);
    c.in_work_bufs += mstats.I(d + in_work_bufs);
    if (ptr_scalar.known()) c.in_ptr_scalar_bits += mstats.I(d + ptr_scalar.value);
    c.tiny_alloc_count += mstats.U(d + tiny);
    c.large_alloc += mstats.U(d + large_alloc);
    c.large_alloc_count += mstats.U(d + large_alloc_count);
    c.large_free += mstats.U(d + large_free);
    c.large_free_count += mstats.U(d + large_free_count);
    for (size_t i = 0; i < classes; i++) {
      c.small_alloc_count[i] += mstats.U(d + small_alloc + 8 * i);
      c.small_free_count[i] += mstats.U(d + small_free + 8 * i);
    }
  }
  return c;
}

// What the Ps' allocation caches have handed out but not yet counted: slots
// used in each cached span since it was cached, and tiny allocations. The
// runtime counts them when it flushes the caches, which ReadMemStats does first.
struct UnflushedCaches {
  std::vector<uint64_t> slots;  // per size class
  uint64_t tiny_allocs = 0;
};

struct PerP {
  std::vector<uint64_t> mcaches;
  int64_t free_gs = 0;  // sum of p.gFree's counts
  // Goroutine ids the Ps took from sched.goidgen and have not handed out yet
  // (p.goidcacheend - p.goidcache); nullopt where the layout lacks them.
  std::optional<uint64_t> goids_unassigned;
};

struct PerPOffsets {
  uint64_t mcache, gfree;
  std::optional<uint64_t> goidcache, goidcacheend;
};

// One batched read of each P's mcache pointer, free-g count and goid cache.
std::optional<PerP> ReadPerP(const ProcessMemory& mem, const std::vector<uint64_t>& ps, const PerPOffsets& off) {
  PerP out;
  std::vector<uint64_t> mcache(ps.size()), goid_next(ps.size()), goid_end(ps.size());
  std::vector<int32_t> gfree(ps.size());
  const bool goids = off.goidcache && off.goidcacheend;
  std::vector<ProcessMemory::Piece> pieces;
  for (size_t i = 0; i < ps.size(); i++) {
    if (!ps[i]) continue;
    pieces.push_back({ps[i] + off.mcache, &mcache[i], 8});
    pieces.push_back({ps[i] + off.gfree, &gfree[i], 4});
    if (!goids) continue;
    pieces.push_back({ps[i] + *off.goidcache, &goid_next[i], 8});
    pieces.push_back({ps[i] + *off.goidcacheend, &goid_end[i], 8});
  }
  if (mem.ReadMany(pieces) != pieces.size()) return std::nullopt;
  if (goids) out.goids_unassigned = 0;
  for (size_t i = 0; i < ps.size(); i++) {
    if (mcache[i]) out.mcaches.push_back(mcache[i]);
    out.free_gs += gfree[i];
    // A P that never created a goroutine has an empty cache (both 0).
    if (goids && goid_end[i] > goid_next[i]) *out.goids_unassigned += goid_end[i] - goid_next[i];
  }
  return out;
}

std::optional<UnflushedCaches> ReadUnflushedCaches(const ProcessMemory& mem, const std::vector<uint64_t>& mcaches,
                                                   uint64_t alloc_off, uint64_t tiny_off, uint64_t count_off,
                                                   uint64_t before_off) {
  const size_t classes = GoSizeClassBytes().size();
  const size_t span_classes = classes * 2;  // with and without pointers
  UnflushedCaches out;
  out.slots.assign(classes, 0);
  struct Span {
    size_t size_class;
    uint16_t count = 0, before = 0;
  };
  std::vector<Span> spans;
  std::vector<uint64_t> span_addrs;
  for (uint64_t mc : mcaches) {
    std::vector<uint64_t> alloc(span_classes);
    uint64_t tiny = 0;
    ProcessMemory::Piece pieces[] = {{mc + alloc_off, alloc.data(), alloc.size() * 8}, {mc + tiny_off, &tiny, 8}};
    if (mem.ReadMany(pieces) != 2) return std::nullopt;
    out.tiny_allocs += tiny;
    for (size_t spc = 0; spc < span_classes; spc++) {
      if (!alloc[spc]) continue;
      spans.push_back({spc >> 1});
      span_addrs.push_back(alloc[spc]);
    }
  }
  std::vector<ProcessMemory::Piece> pieces;
  for (size_t i = 0; i < spans.size(); i++) {
    pieces.push_back({span_addrs[i] + count_off, &spans[i].count, 2});
    pieces.push_back({span_addrs[i] + before_off, &spans[i].before, 2});
  }
  if (mem.ReadMany(pieces) != pieces.size()) return std::nullopt;
  // The empty placeholder span (runtime.emptymspan) reads 0 and 0.
  for (const Span& s : spans)
    if (s.count > s.before) out.slots[s.size_class] += s.count - s.before;
  return out;
}

// Heap objects and their bytes: the consistent counters plus the caches.
void DeriveAllocations(RuntimeStats& s, const HeapCounters& c, const UnflushedCaches& caches) {
  auto sizes = GoSizeClassBytes();
  uint64_t total_alloc = c.large_alloc, n_malloc = c.large_alloc_count;
  uint64_t total_free = c.large_free, n_free = c.large_free_count;
  for (size_t i = 0; i < sizes.size(); i++) {
    uint64_t allocs = c.small_alloc_count[i] + caches.slots[i];
    total_alloc += allocs * sizes[i];
    n_malloc += allocs;
    total_free += c.small_free_count[i] * sizes[i];
    n_free += c.small_free_count[i];
  }
  // Tiny allocations share 16-byte blocks, so they count as both (as in the runtime).
  const uint64_t tiny = c.tiny_alloc_count + caches.tiny_allocs;
  n_malloc += tiny;
  n_free += tiny;
  s[Stat::kAlloc] = s[Stat::kHeapAlloc] = total_alloc - total_free;
  s[Stat::kTotalAlloc] = total_alloc;
  s[Stat::kMallocs] = n_malloc;
  s[Stat::kFrees] = n_free;
  s[Stat::kHeapObjects] = n_malloc - n_free;
}

// gcControllerState.memoryLimitHeapGoal(): the heap the memory limit leaves
// room for, less a headroom (1 MiB up to 1.20; 3%, at least 1 MiB, from 1.21).
uint64_t MemoryLimitHeapGoal(const Block& gc, int minor, uint64_t limit_off, uint64_t free_off, uint64_t alloc_off,
                             uint64_t freed_off, uint64_t ready_off, uint64_t marked_off) {
  const uint64_t limit = gc.U(limit_off), heap_free = gc.U(free_off), mapped_ready = gc.U(ready_off),
                 heap_marked = gc.U(marked_off);
  const uint64_t heap_alloc = gc.U(alloc_off) - gc.U(freed_off);
  const uint64_t non_heap = mapped_ready - heap_free - heap_alloc;
  const uint64_t overage = mapped_ready > limit ? mapped_ready - limit : 0;
  if (non_heap + overage >= limit) return heap_marked;
  uint64_t goal = limit - (non_heap + overage);
  constexpr uint64_t kMinHeadroom = 1 << 20;
  const uint64_t headroom = minor >= 21 ? std::max(goal / 100 * 3, kMinHeadroom) : kMinHeadroom;
  goal = goal < headroom || goal - headroom < headroom ? headroom : goal - headroom;
  return std::max(goal, heap_marked);
}

// gcControllerState.heapGoal() (heapGoalInternal, the same in 1.19-1.27).
std::optional<uint64_t> HeapGoal(const Block& gc, int minor, Needs& need) {
  auto field = [&](const char* f) { return need(fmt::format("runtime.gcControllerState.{}", f)); };
  const uint64_t limit = field("memoryLimit"), percent_goal = field("gcPercentHeapGoal"),
                 sweep_dist = field("sweepDistMinTrigger"), triggered = field("triggered"), heap_free = field("heapFree"),
                 total_alloc = field("totalAlloc"), total_free = field("totalFree"),
                 mapped_ready = field("mappedReady"), heap_marked = field("heapMarked");
  if (!need.ok()) return std::nullopt;
  uint64_t goal = gc.U(percent_goal);
  // Without a limit (math.MaxInt64) the limit's goal is never the smaller.
  if (gc.I(limit) != std::numeric_limits<int64_t>::max()) {
    const uint64_t limit_goal =
        MemoryLimitHeapGoal(gc, minor, limit, heap_free, total_alloc, total_free, mapped_ready, heap_marked);
    if (limit_goal < goal) return limit_goal;
  }
  goal = std::max(goal, gc.U(sweep_dist));
  constexpr uint64_t kMinRunway = 64 << 10;
  const uint64_t trig = gc.U(triggered);
  if (trig != ~uint64_t{0} && goal < trig + kMinRunway) goal = trig + kMinRunway;
  return goal;
}

void AbsentAll(RuntimeStats& s, std::span<const Stat> stats, const std::string& why) {
  for (Stat st : stats) s.SetAbsent(st, why);
}

// A block of the process's memory the stats come from, or why not.
struct Source {
  std::optional<Block> block;
  std::string why;  // when there is no block: the layout keys missing
};

// One read of a runtime variable whose type size the layout gives.
Source ReadVariable(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem,
                    std::string_view var, std::string_view type) {
  Needs need(layout);
  const uint64_t addr = need(var) + target.load_bias;
  const uint64_t size = need(fmt::format("{}#size", type));
  if (!need.ok()) return {std::nullopt, need.why()};
  auto block = ReadBlock(mem, addr, size);
  if (!block) Unreadable(target.pid, var, addr);
  return {std::move(block), ""};
}

// Everything ReadRuntimeStats (and ReadGoroutineCounts) derives from, read
// first and close together: the process-wide blocks in one read each, then
// the Ps.
struct Sources {
  Source mstats, gc, sched;
  std::optional<PerP> per_p;
  std::string per_p_why;
};

// The blocks a reader needs: all of them (ReadRuntimeStats), or only the
// scheduler's (ReadGoroutineCounts, at every snapshot: memstats and the GC
// controller are some kilobytes it would read for nothing).
enum class Blocks { kAll, kSchedOnly };

Sources ReadSources(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem, Blocks blocks) {
  auto heap_block = [&](std::string_view var, std::string_view type) {
    return blocks == Blocks::kAll ? ReadVariable(target, layout, mem, var, type) : Source{std::nullopt, "not read"};
  };
  Sources src{heap_block("runtime.memstats", "runtime.mstats"),
              heap_block("runtime.gcController", "runtime.gcControllerState"),
              ReadVariable(target, layout, mem, "runtime.sched", "runtime.schedt"),
              std::nullopt,
              ""};
  Needs need(layout);
  const uint64_t allp = need("runtime.allp") + target.load_bias;
  const uint64_t p_mcache = need("runtime.p.mcache");
  // p.gFree counts its gs in n up to 1.24, in size from 1.25.
  Sourced p_gfree = layout.get("runtime.p.gFree.n");
  if (!p_gfree.known()) p_gfree = layout.get("runtime.p.gFree.size");
  if (!p_gfree.known()) need("runtime.p.gFree.size");
  if (!need.ok()) {
    src.per_p_why = need.why();
    return src;
  }
  PerPOffsets off{p_mcache, p_gfree.value, std::nullopt, std::nullopt};
  if (Sourced c = layout.get("runtime.p.goidcache"), e = layout.get("runtime.p.goidcacheend"); c.known() && e.known())
    off.goidcache = c.value, off.goidcacheend = e.value;
  auto ps = mem.ReadPointerSlice(allp, 1 << 16);
  if (!ps || !(src.per_p = ReadPerP(mem, *ps, off))) Unreadable(target.pid, "runtime.allp", allp);
  return src;
}

// Alloc, TotalAlloc, Mallocs, Frees, HeapAlloc, HeapObjects: the consistent
// counters plus what the Ps' caches hold. Returns the counters for the rest.
std::optional<HeapCounters> DeriveHeapObjects(RuntimeStats& s, const Sources& src, const RuntimeLayout& layout,
                                              const ProcessMemory& mem, pid_t pid) {
  Needs need(layout);
  std::optional<HeapCounters> counters;
  if (src.mstats.block) counters = SumHeapStats(*src.mstats.block, layout, need);
  const uint64_t alloc = need("runtime.mcache.alloc"), tiny = need("runtime.mcache.tinyAllocs"),
                 count = need("runtime.mspan.allocCount"), before = need("runtime.mspan.allocCountBeforeCache");
  if (counters && src.per_p && need.ok()) {
    auto caches = ReadUnflushedCaches(mem, src.per_p->mcaches, alloc, tiny, count, before);
    if (!caches) Unreadable(pid, "the Ps' allocation caches", 0);
    DeriveAllocations(s, *counters, *caches);
  } else {
    AbsentAll(s, std::array{Stat::kAlloc, Stat::kTotalAlloc, Stat::kMallocs, Stat::kFrees, Stat::kHeapAlloc, Stat::kHeapObjects},
              !src.mstats.block ? src.mstats.why : !src.per_p ? src.per_p_why : need.why());
  }
  return counters;
}

// HeapSys, HeapIdle, HeapInuse, HeapReleased from the controller, and the
// goal of the next cycle.
void DeriveHeapSpans(RuntimeStats& s, const Sources& src, const RuntimeLayout& layout) {
  if (!src.gc.block) {
    AbsentAll(s, std::array{Stat::kHeapSys, Stat::kHeapIdle, Stat::kHeapInuse, Stat::kHeapReleased, Stat::kNextGC}, src.gc.why);
    return;
  }
  const Block& gc = *src.gc.block;
  Needs need(layout);
  const uint64_t in_use = gc.U(need("runtime.gcControllerState.heapInUse")),
                 free = gc.U(need("runtime.gcControllerState.heapFree")),
                 released = gc.U(need("runtime.gcControllerState.heapReleased"));
  if (need.ok()) {
    s[Stat::kHeapSys] = in_use + free + released;
    s[Stat::kHeapIdle] = free + released;
    s[Stat::kHeapInuse] = in_use;
    s[Stat::kHeapReleased] = released;
  } else {
    AbsentAll(s, std::array{Stat::kHeapSys, Stat::kHeapIdle, Stat::kHeapInuse, Stat::kHeapReleased}, need.why());
  }
  Needs goal_need(layout);
  const int minor = GoMinorVersion(s.go_version);
  if (minor == 20 && gc.I(layout.get("runtime.gcControllerState.memoryLimit").value) !=
                         std::numeric_limits<int64_t>::max())
    s.SetAbsent(Stat::kNextGC, "go1.20's goal under a memory limit is not verified (no go1.20 toolchain here)");
  else if (auto goal = HeapGoal(gc, minor, goal_need))
    s[Stat::kNextGC] = *goal;
  else
    s.SetAbsent(Stat::kNextGC, goal_need.why());
}

// Memory obtained from the OS, by purpose: the sys counters, the stacks and
// GC buffers of the consistent counters, and Sys as ReadMemStats totals it.
void DeriveSysMemory(RuntimeStats& s, const Sources& src, const std::optional<HeapCounters>& counters,
                     const RuntimeLayout& layout) {
  static constexpr Stat kDirect[] = {Stat::kMSpanSys, Stat::kMCacheSys, Stat::kBuckHashSys, Stat::kOtherSys};
  static constexpr Stat kDerived[] = {Stat::kStackInuse, Stat::kStackSys, Stat::kGCSys, Stat::kSys};
  if (!src.mstats.block) {
    AbsentAll(s, kDirect, src.mstats.why);
    AbsentAll(s, kDerived, src.mstats.why);
    return;
  }
  Needs need(layout);
  auto sys = [&](const char* f) { return src.mstats.block->U(need(fmt::format("runtime.mstats.{}", f))); };
  const uint64_t stacks_sys = sys("stacks_sys"), mspan_sys = sys("mspan_sys"), mcache_sys = sys("mcache_sys"),
                 buckhash_sys = sys("buckhash_sys"), gc_misc_sys = sys("gcMiscSys"), other_sys = sys("other_sys");
  if (!need.ok()) {
    AbsentAll(s, kDirect, need.why());
    AbsentAll(s, kDerived, need.why());
    return;
  }
  s[Stat::kMSpanSys] = mspan_sys;
  s[Stat::kMCacheSys] = mcache_sys;
  s[Stat::kBuckHashSys] = buckhash_sys;
  s[Stat::kOtherSys] = other_sys;
  if (!counters) {
    AbsentAll(s, kDerived, "runtime layout unknown for this release: runtime.heapStatsDelta");
    return;
  }
  const uint64_t stack_inuse = counters->in_stacks;
  const uint64_t gc_bufs = counters->in_work_bufs + counters->in_ptr_scalar_bits;
  s[Stat::kStackInuse] = stack_inuse;
  s[Stat::kStackSys] = stack_inuse + stacks_sys;
  s[Stat::kGCSys] = gc_misc_sys + gc_bufs;
  if (!s[Stat::kHeapSys]) {
    s.SetAbsent(Stat::kSys, s.absent.at("HeapSys"));
    return;
  }
  s[Stat::kSys] = *s[Stat::kHeapSys] + stacks_sys + mspan_sys + mcache_sys + buckhash_sys + gc_misc_sys + other_sys +
                  stack_inuse + gc_bufs;
}

// LastGC, PauseTotalNs, NumGC, NumForcedGC, GCCPUFraction and the pause ring.
void DeriveGcHistory(RuntimeStats& s, const Sources& src, const RuntimeLayout& layout) {
  Needs need(layout);
  const uint64_t last = need("runtime.mstats.last_gc_unix"), total = need("runtime.mstats.pause_total_ns"),
                 numgc = need("runtime.mstats.numgc"), forced = need("runtime.mstats.numforcedgc"),
                 fraction = need("runtime.mstats.gc_cpu_fraction"), ring = need("runtime.mstats.pause_ns");
  if (!src.mstats.block || !need.ok()) {
    const std::string why = !src.mstats.block ? src.mstats.why : need.why();
    AbsentAll(s, std::array{Stat::kLastGC, Stat::kPauseTotalNs, Stat::kNumGC, Stat::kNumForcedGC}, why);
    s.absent.emplace("GCCPUFraction", why);
    return;
  }
  const Block& m = *src.mstats.block;
  s[Stat::kLastGC] = m.U(last);
  s[Stat::kPauseTotalNs] = m.U(total);
  const uint32_t n = static_cast<uint32_t>(m.U(numgc, 4));
  s[Stat::kNumGC] = n;
  s[Stat::kNumForcedGC] = m.U(forced, 4);
  const uint64_t bits = m.U(fraction);
  double f;
  std::memcpy(&f, &bits, sizeof f);
  s.gc_cpu_fraction = f;
  constexpr uint32_t kRing = 256;  // len(memstats.pause_ns) in every release
  for (uint32_t i = 0; i < std::min(n, kRing); i++) s.recent_pauses_ns.push_back(m.U(ring + 8 * ((n - 1 - i) % kRing)));
}

// The gs that are not free (allglen less the free lists'), system goroutines
// included, as gcount(true) counts them; nullopt with why.
std::optional<int64_t> ExistingGoroutines(const Sources& src, const RuntimeLayout& layout, const ProcessMemory& mem,
                                          const TargetProcess& target, std::string* why) {
  if (!src.sched.block || !src.per_p) {
    *why = !src.sched.block ? src.sched.why : src.per_p_why;
    return std::nullopt;
  }
  const Block& sched = *src.sched.block;
  Needs need(layout);
  const uint64_t allglen_addr = need("runtime.allglen") + target.load_bias;
  // sched.gFree counts its gs in n up to 1.24, in its two lists' sizes from 1.25.
  int64_t sched_free = 0;
  if (layout.has("runtime.schedt.gFree.n")) {
    sched_free = static_cast<int32_t>(sched.U(need("runtime.schedt.gFree.n"), 4));
  } else {
    sched_free = static_cast<int32_t>(sched.U(need("runtime.schedt.gFree.stack.size"), 4)) +
                 static_cast<int32_t>(sched.U(need("runtime.schedt.gFree.noStack.size"), 4));
  }
  if (!need.ok()) {
    *why = need.why();
    return std::nullopt;
  }
  auto allglen = mem.ReadU64(allglen_addr);
  if (!allglen) Unreadable(target.pid, "runtime.allglen", allglen_addr);
  return static_cast<int64_t>(*allglen) - sched_free - src.per_p->free_gs;
}

// runtime.NumGoroutine (gcount): the existing gs less the system goroutines;
// and the Ms the runtime made (mcount).
void DeriveCounts(RuntimeStats& s, const Sources& src, const RuntimeLayout& layout, const ProcessMemory& mem,
                  const TargetProcess& target) {
  std::string why;
  const std::optional<int64_t> existing = ExistingGoroutines(src, layout, mem, target, &why);
  Needs need(layout);
  const uint64_t mnext = need("runtime.schedt.mnext"), nmfreed = need("runtime.schedt.nmfreed"),
                 ngsys = need("runtime.schedt.ngsys");
  if (!existing || !need.ok()) {
    AbsentAll(s, std::array{Stat::kGoroutines, Stat::kThreads}, existing ? need.why() : why);
    return;
  }
  const Block& sched = *src.sched.block;
  const int64_t n = *existing - static_cast<int32_t>(sched.U(ngsys, 4));
  s[Stat::kGoroutines] = static_cast<uint64_t>(std::max<int64_t>(n, 1));  // as gcount: at least the caller
  s[Stat::kThreads] = static_cast<uint64_t>(sched.I(mnext) - sched.I(nmfreed));
}

}  // namespace

GoroutineCounts ReadGoroutineCounts(const TargetProcess& target, const RuntimeLayout& layout,
                                    const ProcessMemory& mem) {
  const Sources src = ReadSources(target, layout, mem, Blocks::kSchedOnly);
  std::string why;
  const std::optional<int64_t> existing = ExistingGoroutines(src, layout, mem, target, &why);
  Needs need(layout);
  const uint64_t goidgen = need("runtime.schedt.goidgen");
  need("runtime.p.goidcache"), need("runtime.p.goidcacheend");  // read with the Ps
  if (!existing || !need.ok())
    throw Error(fmt::format("process {} ({}): cannot count its goroutines: {}", target.pid,
                            target.binary->go_version(), existing ? need.why() : why));
  const uint64_t handed_out = src.sched.block->U(goidgen);
  GoroutineCounts c;
  c.created = handed_out - std::min(handed_out, *src.per_p->goids_unassigned);
  c.existing = static_cast<uint64_t>(std::max<int64_t>(*existing, 0));
  return c;
}

RuntimeStats ReadRuntimeStats(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem) {
  RuntimeStats s;
  s.go_version = target.binary->go_version();
  s.unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
  const Sources src = ReadSources(target, layout, mem, Blocks::kAll);
  if (!src.mstats.block && !src.gc.block && !src.sched.block)
    throw Error(fmt::format("process {} ({}): cannot locate the runtime's statistics: {}", target.pid, s.go_version,
                            src.mstats.why));
  const std::optional<HeapCounters> counters = DeriveHeapObjects(s, src, layout, mem, target.pid);
  DeriveHeapSpans(s, src, layout);
  DeriveSysMemory(s, src, counters, layout);
  DeriveGcHistory(s, src, layout);
  DeriveCounts(s, src, layout, mem, target);
  return s;
}

}  // namespace goscope
