#include "process/runtime_stats_reader.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>

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
  throw Error(fmt::format("process {}: cannot read {} at {:#x}", pid, what, addr));
}

// memstats.heapStats summed over its three generations, as the runtime's
// unsafeRead does with the world stopped.
struct HeapCounters {
  int64_t committed = 0, released = 0, in_heap = 0, in_stacks = 0, in_work_bufs = 0, in_ptr_scalar_bits = 0;
  uint64_t tiny_alloc_count = 0, large_alloc = 0, large_alloc_count = 0, large_free = 0, large_free_count = 0;
  std::vector<uint64_t> small_alloc_count, small_free_count;  // per size class
};

std::optional<HeapCounters> SumHeapStats(const Block& mstats, const RuntimeLayout& layout, Needs& need) {
  const uint64_t base = need("runtime.mstats.heapStats.stats");
  const uint64_t delta_size = need("runtime.heapStatsDelta#size");
  auto field = [&](const char* name) { return need(fmt::format("runtime.heapStatsDelta.{}", name)); };
  const uint64_t committed = field("committed"), released = field("released"), in_heap = field("inHeap"),
                 in_stacks = field("inStacks"), in_work_bufs = field("inWorkBufs"), tiny = field("tinyAllocCount"),
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
    c.committed += mstats.I(d + committed);
    c.released += mstats.I(d + released);
    c.in_heap += mstats.I(d + in_heap);
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
};

std::optional<std::vector<uint64_t>> ReadAllp(const ProcessMemory& mem, uint64_t allp) {
  uint64_t header[2];
  if (!mem.Read(allp, header, sizeof header) || header[1] > 1 << 16) return std::nullopt;
  std::vector<uint64_t> ps(header[1]);
  if (!ps.empty() && !mem.Read(header[0], ps.data(), ps.size() * 8)) return std::nullopt;
  return ps;
}

// One batched read of each P's mcache pointer and free-g count.
std::optional<PerP> ReadPerP(const ProcessMemory& mem, const std::vector<uint64_t>& ps, uint64_t mcache_off,
                             uint64_t gfree_off) {
  PerP out;
  std::vector<uint64_t> mcache(ps.size());
  std::vector<int32_t> gfree(ps.size());
  std::vector<ProcessMemory::Piece> pieces;
  for (size_t i = 0; i < ps.size(); i++) {
    if (!ps[i]) continue;
    pieces.push_back({ps[i] + mcache_off, &mcache[i], 8});
    pieces.push_back({ps[i] + gfree_off, &gfree[i], 4});
  }
  if (mem.ReadMany(pieces) != pieces.size()) return std::nullopt;
  for (size_t i = 0; i < ps.size(); i++) {
    if (mcache[i]) out.mcaches.push_back(mcache[i]);
    out.free_gs += gfree[i];
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

// gcControllerState.heapGoal() without a memory limit.
std::optional<uint64_t> HeapGoal(const Block& gc, Needs& need) {
  const uint64_t limit = need("runtime.gcControllerState.memoryLimit"),
                 percent_goal = need("runtime.gcControllerState.gcPercentHeapGoal"),
                 sweep_dist = need("runtime.gcControllerState.sweepDistMinTrigger"),
                 triggered = need("runtime.gcControllerState.triggered");
  if (!need.ok()) return std::nullopt;
  if (gc.I(limit) != std::numeric_limits<int64_t>::max()) return std::nullopt;
  uint64_t goal = gc.U(percent_goal);
  goal = std::max(goal, gc.U(sweep_dist));
  constexpr uint64_t kMinRunway = 64 << 10;
  const uint64_t trig = gc.U(triggered);
  if (trig != ~uint64_t{0} && goal < trig + kMinRunway) goal = trig + kMinRunway;
  return goal;
}

void AbsentAll(RuntimeStats& s, std::initializer_list<Stat> stats, const std::string& why) {
  for (Stat st : stats) s.SetAbsent(st, why);
}

}  // namespace

RuntimeStats ReadRuntimeStats(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem) {
  const pid_t pid = target.pid;
  const uint64_t bias = target.load_bias;
  RuntimeStats s;
  s.go_version = target.binary->go_version();
  s.unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();

  // The process-wide blocks first, so the figures come from as close to one
  // moment as one read each allows.
  Needs mstats_need(layout);
  const uint64_t memstats = mstats_need("runtime.memstats") + bias;
  const uint64_t mstats_size = mstats_need("runtime.mstats#size");
  std::optional<Block> mstats;
  if (mstats_need.ok() && !(mstats = ReadBlock(mem, memstats, mstats_size))) Unreadable(pid, "runtime.memstats", memstats);

  Needs gc_need(layout);
  const uint64_t gc_addr = gc_need("runtime.gcController") + bias;
  const uint64_t gc_size = gc_need("runtime.gcControllerState#size");
  std::optional<Block> gc;
  if (gc_need.ok() && !(gc = ReadBlock(mem, gc_addr, gc_size))) Unreadable(pid, "runtime.gcController", gc_addr);

  Needs sched_need(layout);
  const uint64_t sched_addr = sched_need("runtime.sched") + bias;
  const uint64_t sched_size = sched_need("runtime.schedt#size");
  std::optional<Block> sched;
  if (sched_need.ok() && !(sched = ReadBlock(mem, sched_addr, sched_size))) Unreadable(pid, "runtime.sched", sched_addr);

  if (!mstats && !gc && !sched)
    throw Error(fmt::format("process {} ({}): cannot locate the runtime's statistics: {}", pid, s.go_version,
                            mstats_need.why()));

  // Each P: its allocation cache and its count of free gs.
  Needs p_need(layout);
  const uint64_t allp = p_need("runtime.allp") + bias;
  const uint64_t p_mcache = p_need("runtime.p.mcache");
  Sourced p_gfree = layout.get("runtime.p.gFree.n");
  if (!p_gfree.known()) p_gfree = layout.get("runtime.p.gFree.size");
  if (!p_gfree.known()) p_need("runtime.p.gFree.size");
  std::optional<PerP> per_p;
  if (p_need.ok()) {
    auto ps = ReadAllp(mem, allp);
    if (!ps || !(per_p = ReadPerP(mem, *ps, p_mcache, p_gfree.value))) Unreadable(pid, "runtime.allp", allp);
  }

  // Heap objects: Alloc, TotalAlloc, Mallocs, Frees, HeapAlloc, HeapObjects.
  std::optional<HeapCounters> counters;
  {
    Needs need(layout);
    if (mstats) counters = SumHeapStats(*mstats, layout, need);
    const uint64_t alloc = need("runtime.mcache.alloc"), tiny = need("runtime.mcache.tinyAllocs"),
                   count = need("runtime.mspan.allocCount"), before = need("runtime.mspan.allocCountBeforeCache");
    std::string why = !mstats ? mstats_need.why() : !per_p ? p_need.why() : need.why();
    std::optional<UnflushedCaches> caches;
    if (counters && per_p && need.ok()) {
      caches = ReadUnflushedCaches(mem, per_p->mcaches, alloc, tiny, count, before);
      if (!caches) Unreadable(pid, "the Ps' allocation caches", allp);
      DeriveAllocations(s, *counters, *caches);
    } else {
      AbsentAll(s, {Stat::kAlloc, Stat::kTotalAlloc, Stat::kMallocs, Stat::kFrees, Stat::kHeapAlloc, Stat::kHeapObjects},
                why);
    }
  }

  // Memory obtained from the OS, by purpose.
  if (mstats) {
    Needs need(layout);
    auto sys = [&](const char* f) { return mstats->U(need(fmt::format("runtime.mstats.{}", f))); };
    const uint64_t stacks_sys = sys("stacks_sys"), mspan_sys = sys("mspan_sys"), mcache_sys = sys("mcache_sys"),
                   buckhash_sys = sys("buckhash_sys"), gc_misc_sys = sys("gcMiscSys"), other_sys = sys("other_sys");
    if (need.ok()) {
      s[Stat::kMSpanSys] = mspan_sys;
      s[Stat::kMCacheSys] = mcache_sys;
      s[Stat::kBuckHashSys] = buckhash_sys;
      s[Stat::kOtherSys] = other_sys;
    } else {
      AbsentAll(s, {Stat::kMSpanSys, Stat::kMCacheSys, Stat::kBuckHashSys, Stat::kOtherSys}, need.why());
    }
    if (counters && need.ok()) {
      const uint64_t stack_inuse = counters->in_stacks;
      const uint64_t gc_bufs = counters->in_work_bufs + counters->in_ptr_scalar_bits;
      s[Stat::kStackInuse] = stack_inuse;
      s[Stat::kStackSys] = stack_inuse + stacks_sys;
      s[Stat::kGCSys] = gc_misc_sys + gc_bufs;
      if (gc) {
        Needs heap_need(layout);
        const uint64_t in_use = gc->U(heap_need("runtime.gcControllerState.heapInUse")),
                       free = gc->U(heap_need("runtime.gcControllerState.heapFree")),
                       released = gc->U(heap_need("runtime.gcControllerState.heapReleased"));
        if (heap_need.ok())
          s[Stat::kSys] = in_use + free + released + stacks_sys + mspan_sys + mcache_sys + buckhash_sys + gc_misc_sys +
                          other_sys + stack_inuse + gc_bufs;
        else
          s.SetAbsent(Stat::kSys, heap_need.why());
      } else {
        s.SetAbsent(Stat::kSys, gc_need.why());
      }
    } else {
      AbsentAll(s, {Stat::kStackInuse, Stat::kStackSys, Stat::kGCSys, Stat::kSys},
                need.ok() ? "runtime layout unknown for this release: runtime.heapStatsDelta" : need.why());
    }
  } else {
    AbsentAll(s,
              {Stat::kMSpanSys, Stat::kMCacheSys, Stat::kBuckHashSys, Stat::kOtherSys, Stat::kStackInuse,
               Stat::kStackSys, Stat::kGCSys, Stat::kSys},
              mstats_need.why());
  }

  // The heap's spans, and the next GC's goal.
  if (gc) {
    Needs need(layout);
    const uint64_t in_use = gc->U(need("runtime.gcControllerState.heapInUse")),
                   free = gc->U(need("runtime.gcControllerState.heapFree")),
                   released = gc->U(need("runtime.gcControllerState.heapReleased"));
    if (need.ok()) {
      s[Stat::kHeapSys] = in_use + free + released;
      s[Stat::kHeapIdle] = free + released;
      s[Stat::kHeapInuse] = in_use;
      s[Stat::kHeapReleased] = released;
    } else {
      AbsentAll(s, {Stat::kHeapSys, Stat::kHeapIdle, Stat::kHeapInuse, Stat::kHeapReleased}, need.why());
    }
    Needs goal_need(layout);
    if (auto goal = HeapGoal(*gc, goal_need))
      s[Stat::kNextGC] = *goal;
    else
      s.SetAbsent(Stat::kNextGC, goal_need.ok() ? "a memory limit (GOMEMLIMIT) is set; goscope derives the goal "
                                                  "only without one"
                                                : goal_need.why());
  } else {
    AbsentAll(s, {Stat::kHeapSys, Stat::kHeapIdle, Stat::kHeapInuse, Stat::kHeapReleased, Stat::kNextGC},
              gc_need.why());
  }

  // The GC's history.
  if (mstats) {
    Needs need(layout);
    const uint64_t last = need("runtime.mstats.last_gc_unix"), total = need("runtime.mstats.pause_total_ns"),
                   numgc = need("runtime.mstats.numgc"), forced = need("runtime.mstats.numforcedgc"),
                   fraction = need("runtime.mstats.gc_cpu_fraction"), ring = need("runtime.mstats.pause_ns");
    if (need.ok()) {
      s[Stat::kLastGC] = mstats->U(last);
      s[Stat::kPauseTotalNs] = mstats->U(total);
      const uint32_t n = static_cast<uint32_t>(mstats->U(numgc, 4));
      s[Stat::kNumGC] = n;
      s[Stat::kNumForcedGC] = mstats->U(forced, 4);
      uint64_t bits = mstats->U(fraction);
      double f;
      std::memcpy(&f, &bits, sizeof f);
      s.gc_cpu_fraction = f;
      constexpr uint32_t kRing = 256;  // len(memstats.pause_ns) in every release
      for (uint32_t i = 0; i < std::min(n, kRing); i++) s.recent_pauses_ns.push_back(mstats->U(ring + 8 * ((n - 1 - i) % kRing)));
    } else {
      AbsentAll(s, {Stat::kLastGC, Stat::kPauseTotalNs, Stat::kNumGC, Stat::kNumForcedGC}, need.why());
      s.absent.emplace("GCCPUFraction", need.why());
    }
  } else {
    AbsentAll(s, {Stat::kLastGC, Stat::kPauseTotalNs, Stat::kNumGC, Stat::kNumForcedGC}, mstats_need.why());
    s.absent.emplace("GCCPUFraction", mstats_need.why());
  }

  // runtime.NumGoroutine (gcount): allglen minus the free gs and the system
  // goroutines; and the Ms the runtime created (mcount).
  if (sched && per_p) {
    Needs need(layout);
    const uint64_t mnext = need("runtime.schedt.mnext"), nmfreed = need("runtime.schedt.nmfreed");
    const uint64_t ngsys = need("runtime.schedt.ngsys");
    const uint64_t allglen_addr = need("runtime.allglen") + bias;
    int64_t sched_free = 0;
    if (layout.has("runtime.schedt.gFree.n")) {
      sched_free = static_cast<int32_t>(sched->U(need("runtime.schedt.gFree.n"), 4));
    } else {
      sched_free = static_cast<int32_t>(sched->U(need("runtime.schedt.gFree.stack.size"), 4)) +
                   static_cast<int32_t>(sched->U(need("runtime.schedt.gFree.noStack.size"), 4));
    }
    if (need.ok()) {
      auto allglen = mem.ReadU64(allglen_addr);
      if (!allglen) Unreadable(pid, "runtime.allglen", allglen_addr);
      int64_t n = static_cast<int64_t>(*allglen) - sched_free - static_cast<int32_t>(sched->U(ngsys, 4)) - per_p->free_gs;
      s[Stat::kGoroutines] = static_cast<uint64_t>(std::max<int64_t>(n, 1));  // as gcount: at least the caller
      s[Stat::kThreads] = static_cast<uint64_t>(sched->I(mnext) - sched->I(nmfreed));
    } else {
      AbsentAll(s, {Stat::kGoroutines, Stat::kThreads}, need.why());
    }
  } else {
    AbsentAll(s, {Stat::kGoroutines, Stat::kThreads}, !sched ? sched_need.why() : p_need.why());
  }
  return s;
}

}  // namespace goscope
