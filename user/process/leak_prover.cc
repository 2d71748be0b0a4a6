#include "process/leak_prover.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "error.h"
#include "process/freezer.h"
#include "process/goroutine_snapshot.h"
#include "process/g_records.h"
#include "process/heap_marker.h"
#include "process/heap_roots.h"
#include "process/heap_spans.h"
#include "process/process_memory.h"
#include "process/runtime_types.h"

namespace goscope {
namespace {

constexpr uint64_t kSemTabSize = 251;       // runtime.semTabSize
constexpr uint64_t kSemTabStride = 64;      // semaRoot padded to cpu.CacheLinePadSize (amd64)
constexpr size_t kMaxSudogs = 1 << 20;

// What a blocked goroutine's wait reason says about waking it.
enum class Wait {
  kMayRun,   // sleep, IO, syscall, GC...: not goroutine-to-goroutine, so not judged
  kNever,    // select {} or a nil channel: nothing can wake it
  kChannel,  // channel operation or select: any of g.waiting's channels
  kSync,     // mutex, RWMutex, WaitGroup, Cond, semaphore: the sudog's elem
};

Wait Classify(const std::string& reason) {
  static const std::map<std::string, Wait, std::less<>> kReasons = {
      {"select (no cases)", Wait::kNever},      {"chan send (nil chan)", Wait::kNever},
      {"chan receive (nil chan)", Wait::kNever}, {"chan receive", Wait::kChannel},
      {"chan send", Wait::kChannel},            {"select", Wait::kChannel},
      {"sync.Cond.Wait", Wait::kSync},          {"sync.WaitGroup.Wait", Wait::kSync},
      {"sync.Mutex.Lock", Wait::kSync},         {"sync.RWMutex.Lock", Wait::kSync},
      {"sync.RWMutex.RLock", Wait::kSync},      {"semacquire", Wait::kSync},
  };
  auto it = kReasons.find(reason);
  return it == kReasons.end() ? Wait::kMayRun : it->second;
}

struct SudogLayout {
  uint64_t g = 0, next = 0, prev = 0, elem = 0, c = 0, waitlink = 0;
  uint64_t traceable_vu = 0;  // 1.26+: c and elem are maybeTraceablePtr{vp, vu}; the address is vu
  size_t span = 0;            // bytes to read to cover every field
};

SudogLayout ResolveSudogLayout(const RuntimeLayout& l, pid_t pid) {
  SudogLayout s;
  std::string missing = l.Fill({{"runtime.sudog.g", &s.g},
                                {"runtime.sudog.next", &s.next},
                                {"runtime.sudog.prev", &s.prev},
                                {"runtime.sudog.elem", &s.elem},
                                {"runtime.sudog.c", &s.c},
                                {"runtime.sudog.waitlink", &s.waitlink}});
  if (!missing.empty())
    throw Error(fmt::format("process {}: runtime layout incomplete, cannot follow waits: {} unknown", pid, missing));
  if (Sourced vu = l.get("runtime.maybeTraceablePtr.vu"); vu.known()) s.traceable_vu = vu.value;
  s.span = std::max({s.g, s.next, s.prev, s.elem, s.c, s.waitlink}) + 16;
  return s;
}

struct Sudog {
  uint64_t g = 0, next = 0, prev = 0, elem = 0, c = 0, waitlink = 0;
};

std::optional<Sudog> ReadSudog(const ProcessMemory& mem, const SudogLayout& L, uint64_t addr) {
  std::vector<uint8_t> buf(L.span);
  if (!mem.Read(addr, buf.data(), buf.size())) return std::nullopt;
  auto at = [&](uint64_t off) {
    uint64_t v;
    std::memcpy(&v, buf.data() + off, 8);
    return v;
  };
  return Sudog{at(L.g), at(L.next), at(L.prev), at(L.elem + L.traceable_vu), at(L.c + L.traceable_vu),
               at(L.waitlink)};
}

// Semaphore waiters by g, from runtime.semtable's treaps (before go1.26 a g
// waiting on a semaphore does not point at its sudog).
std::unordered_map<uint64_t, uint64_t> SemaphoreWaiters(const ProcessMemory& mem, const SudogLayout& L,
                                                        uint64_t semtable, uint64_t treap_off,
                                                        std::vector<uint64_t>* sudogs) {
  std::unordered_map<uint64_t, uint64_t> elem_of;
  std::vector<uint64_t> todo;
  for (uint64_t i = 0; i < kSemTabSize; i++)
    if (auto t = mem.ReadU64(semtable + i * kSemTabStride + treap_off); t && *t) todo.push_back(*t);
  std::set<uint64_t> seen;
  while (!todo.empty() && seen.size() < kMaxSudogs) {
    uint64_t a = todo.back();
    todo.pop_back();
    if (!seen.insert(a).second) continue;
    sudogs->push_back(a);
    std::optional<Sudog> s = ReadSudog(mem, L, a);
    if (!s) continue;
    if (s->g) elem_of[s->g] = s->elem;
    // Children in the treap (prev, next), and waiters on the same address (waitlink).
    for (uint64_t n : {s->prev, s->next, s->waitlink})
      if (n) todo.push_back(n);
  }
  return elem_of;
}

struct Candidate {
  GRecord g;
  std::string reason;
  Wait wait = Wait::kMayRun;
  std::vector<uint64_t> blocking;
  bool may_run = false;
};

class Prover {
 public:
  Prover(const TargetProcess& target, const RuntimeLayout& layout, const LeakProofOptions& opts)
      : target_(target), layout_(layout), opts_(opts), mem_(target.pid), types_(target, layout, mem_) {}

  LeakProof Run() {
    const pid_t pid = target_.pid;
    if (!ResolveGLayout(layout_, pid).waiting)
      throw Error(fmt::format("process {}: runtime.g.waiting unknown: cannot follow waits", pid));
    SudogLayout SL = ResolveSudogLayout(layout_, pid);
    const uint64_t bias = target_.load_bias;
    const int minor = target_.binary->version() ? target_.binary->version()->second : 0;
    // From go1.26 a g waiting on a semaphore or Cond points at its sudog.
    const bool sync_in_g = minor >= 26;
    Sourced semtable = layout_.get("runtime.semtable");
    Sourced treap = layout_.get("runtime.semaRoot.treap");
    WaitReasons reasons(mem_, layout_, bias);

    LeakProof proof;
    proof.pid = pid;
    proof.go_version = target_.binary->go_version();

    return WhileStopped(pid, [&](Freezer& freezer) {
      target_.CheckSameProgram();  // exec'd since it was found: its layout is another's
      HeapSpans heap = HeapSpans::Read(mem_, layout_, bias);
      HeapMarker marker(mem_, heap);
      HeapRoots roots(target_, layout_, mem_, heap, marker);
      std::vector<GRecord> gs = roots.ReadGoroutines();
      marker.OnBatch([&] { freezer.CheckStoppedWithin(opts_.max_pause_seconds); });
      freezer.CheckStoppedWithin(opts_.max_pause_seconds);

      // What the runtime's own records would make reachable from any blocked
      // goroutine is hidden, as the runtime hides it while it decides: the gs
      // (a g points at its sudogs), the sudogs (at the channel or semaphore),
      // the semaphore table, and the Ps (stale GC buffers and caches).
      std::unordered_map<uint64_t, uint64_t> sema_elem;
      std::vector<uint64_t> sudogs;
      if (!sync_in_g && semtable.known() && treap.known())
        sema_elem = SemaphoreWaiters(mem_, SL, semtable.value + bias, treap.value, &sudogs);
      for (const GRecord& g : gs) marker.DoNotScan(g.addr);
      std::vector<uint64_t> timer_heaps = roots.HidePs();

      // Which goroutines run now: a thread is on their stack, whatever their
      // status says. The threads' registers are roots.
      const ThreadRoots threads = roots.ReadThreads(freezer, gs);
      for (uint64_t g : threads.system_gs) marker.DoNotScan(g);

      std::vector<Candidate> blocked;
      std::vector<const GRecord*> running;
      std::map<std::string, size_t> unjudged;
      for (const GRecord& g : gs) {
        if (IsDeadStatus(g.status)) continue;
        proof.goroutines++;
        Candidate c{g, IsWaitingStatus(g.status) ? reasons.Name(g.waitreason) : "", Wait::kMayRun, {}, true};
        if (threads.on_cpu.count(g.addr)) {
          // runs
        } else if (g.status == gstatus::kLeaked) {
          c.may_run = false;  // the runtime proved it itself, and keeps the status
        } else if (g.status == gstatus::kWaiting) {
          c.wait = Classify(c.reason);
          if (c.wait == Wait::kChannel) {
            c.may_run = !WaitingChannels(SL, g.waiting, &c.blocking, &sudogs);
          } else if (c.wait == Wait::kSync) {
            uint64_t elem = 0;
            if (sync_in_g && g.waiting) {
              if (auto s = ReadSudog(mem_, SL, g.waiting)) elem = s->elem;
              sudogs.push_back(g.waiting);
            } else if (auto it = sema_elem.find(g.addr); it != sema_elem.end()) {
              elem = it->second;
            }
            if (elem) {
              c.blocking.push_back(elem);
              c.may_run = false;
            } else {
              unjudged[c.reason]++;
            }
          } else if (c.wait == Wait::kNever) {
            c.may_run = false;
          }
        }
        if (c.may_run) {
          running.push_back(&g);
        } else {
          proof.blocked++;
          blocked.push_back(std::move(c));
        }
      }
      for (uint64_t s : sudogs) marker.DoNotScan(s);

      // Roots: globals, timers, finalizers, registers, system stacks,
      // goroutines that can run.
      if (semtable.known())
        roots.MarkFromGlobals(semtable.value + bias, semtable.value + bias + kSemTabSize * kSemTabStride);
      else
        roots.MarkFromGlobals();
      roots.MarkFromTimers(timer_heaps);
      roots.MarkFromSpecials();
      roots.MarkFromThreads(threads, gs);
      for (const GRecord* g : running) roots.MarkFromGoroutine(*g);
      marker.Drain();
      freezer.CheckStoppedWithin(opts_.max_pause_seconds);

      // Until no blocked goroutine turns out able to run.
      for (bool changed = true; changed;) {
        proof.rounds++;
        changed = false;
        for (Candidate& c : blocked) {
          if (c.may_run || c.g.status == gstatus::kLeaked) continue;
          for (uint64_t b : c.blocking)
            if (!marker.InHeap(b) || marker.IsMarked(b)) c.may_run = true;
          if (c.may_run) {
            roots.MarkFromGoroutine(c.g);
            changed = true;
          }
        }
        marker.Drain();
        freezer.CheckStoppedWithin(opts_.max_pause_seconds);
      }
      freezer.CheckAlive();
      proof.pause_seconds = freezer.Thaw();

      for (const Candidate& c : blocked) {
        if (c.may_run) continue;
        // As the runtime: main blocked in select {} counts as leaked while
        // deciding (so what it holds hides nothing) but is not reported.
        if (c.g.goid == 1 && c.reason == "select (no cases)") continue;
        proof.leaked.push_back({c.g.goid, c.reason, c.blocking, c.g.status == gstatus::kLeaked,
                                c.wait == Wait::kChannel ? ChannelTypes(c.blocking) : std::vector<std::string>(
                                                                                          c.blocking.size())});
      }
      std::sort(proof.leaked.begin(), proof.leaked.end(),
                [](const ProvenLeak& a, const ProvenLeak& b) { return a.goid < b.goid; });
      for (const auto& [reason, n] : unjudged)
        proof.notes.push_back(fmt::format("{} goroutine{} in {} not judged (what {} wait{} on is not recorded by go1.{}); "
                                          "counted as able to run",
                                          n, n == 1 ? "" : "s", reason, n == 1 ? "it" : "they", n == 1 ? "s" : "", minor));
      proof.heap_bytes = heap.bytes();
      proof.heap_objects = heap.objects();
      proof.bytes_scanned = marker.stats().bytes_scanned;
      proof.objects_marked = marker.stats().objects_marked;
      proof.stacks_precise = roots.stacks_precise();
      proof.stacks_conservative = roots.stacks_conservative();
      proof.system_stacks_precise = roots.system_stacks_precise();
      proof.system_stacks_conservative = roots.system_stacks_conservative();
      return proof;
    });
  }

 private:
  // "chan T" for each channel, from its element type (runtime.hchan.elemtype,
  // a type descriptor whose name the process holds); "" where unknown.
  std::vector<std::string> ChannelTypes(const std::vector<uint64_t>& channels) {
    std::vector<std::string> out(channels.size());
    Sourced elemtype = layout_.get("runtime.hchan.elemtype");
    if (!elemtype.known() || !types_.available()) return out;
    for (size_t i = 0; i < channels.size(); i++)
      if (std::optional<uint64_t> t = mem_.ReadU64(channels[i] + elemtype.value))
        if (const RuntimeType* type = types_.At(*t)) out[i] = "chan " + type->name;
    return out;
  }

  // The channels of g's sudog list; false if it cannot be read (then g is
  // counted as able to run).
  bool WaitingChannels(const SudogLayout& L, uint64_t sudog, std::vector<uint64_t>* out,
                       std::vector<uint64_t>* sudogs) const {
    for (size_t n = 0; sudog && n < kMaxSudogs; n++) {
      sudogs->push_back(sudog);
      std::optional<Sudog> s = ReadSudog(mem_, L, sudog);
      if (!s) return false;
      if (s->c) out->push_back(s->c);
      sudog = s->waitlink;
    }
    return !out->empty();
  }

  const TargetProcess& target_;
  const RuntimeLayout& layout_;
  const LeakProofOptions& opts_;
  ProcessMemory mem_;
  RuntimeTypes types_;
};

}  // namespace

LeakProof ProveGoroutineLeaks(const TargetProcess& target, const RuntimeLayout& layout, const LeakProofOptions& opts) {
  return Prover(target, layout, opts).Run();
}

GroupedLeakProof ProveAndGroupLeaks(const TargetProcess& target, const RuntimeLayout& layout,
                                    const LeakProofOptions& opts) {
  GroupedLeakProof out;
  out.proof = ProveGoroutineLeaks(target, layout, opts);
  std::vector<Goroutine> goroutines;
  try {
    goroutines = TakeSnapshot(target, layout).goroutines;
  } catch (const Error&) {
    target.CheckSameProgram();  // the clearer reason, if that is what happened
    throw;
  }
  target.CheckSameProgram();  // the stacks must be of the goroutines proven leaked
  out.groups = GroupProvenLeaks(out.proof, goroutines);
  return out;
}

}  // namespace goscope
