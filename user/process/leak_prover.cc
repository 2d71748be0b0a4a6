#include "process/leak_prover.h"

#include <sys/user.h>

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
#include "process/heap_spans.h"
#include "process/proc_maps.h"
#include "stack_maps.h"
#include "process/process_memory.h"

namespace goscope {
namespace {

constexpr uint64_t kSemTabSize = 251;       // runtime.semTabSize
constexpr uint64_t kSemTabStride = 64;      // semaRoot padded to cpu.CacheLinePadSize (amd64)
// At most this much of a system stack is scanned: a g0 stack is 16 KiB (an OS
// thread's own stack is larger, but the runtime's frames on it are few).
constexpr uint64_t kSystemStackWindow = 16 << 10;
constexpr size_t kMaxSudogs = 1 << 20;
constexpr uint64_t kMaxPreciseStack = 64 << 20;  // a larger stack is scanned conservatively, in pieces

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
      : target_(target), layout_(layout), opts_(opts), mem_(target.pid),
        trap_callers_(TrapFunctionEntries(target.binary->pclntab())) {
    if (const Func* f = target.binary->pclntab().LookupFunction("runtime.goexit")) goexit_ = f->entry;
  }

  LeakProof Run() {
    const pid_t pid = target_.pid;
    GLayout GL = ResolveGLayout(layout_, pid);
    if (!GL.waiting) throw Error(fmt::format("process {}: runtime.g.waiting unknown: cannot follow waits", pid));
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

    Freezer freezer(pid);
    std::vector<uint64_t> gptrs = ReadAllgs(mem_, layout_, bias);
    std::vector<GRecord> gs = ReadGs(GL, gptrs);
    HeapSpans heap = HeapSpans::Read(mem_, layout_, bias);
    HeapMarker marker(mem_, heap);
    marker.OnBatch([&] { CheckPause(freezer); });
    CheckPause(freezer);

    // What the runtime's own records would make reachable from any blocked
    // goroutine is hidden, as the runtime hides it while it decides: the gs
    // (a g points at its sudogs), the sudogs (at the channel or semaphore),
    // the semaphore table, and the Ps (stale GC buffers and caches).
    std::unordered_map<uint64_t, uint64_t> sema_elem;
    std::vector<uint64_t> sudogs;
    if (!sync_in_g && semtable.known() && treap.known())
      sema_elem = SemaphoreWaiters(mem_, SL, semtable.value + bias, treap.value, &sudogs);
    for (const GRecord& g : gs) marker.DoNotScan(g.addr);
    std::vector<uint64_t> timer_heaps = HidePs(marker, bias);

    // Which goroutines run now: a thread is on their stack, whatever their
    // status says. The threads' registers are roots.
    std::vector<Mapping> maps = ReadMaps(pid);
    std::set<uint64_t> on_cpu;  // g addresses
    std::vector<uint64_t> system_sps, registers;
    for (pid_t tid : freezer.threads()) {
      std::optional<user_regs_struct> regs = freezer.Registers(tid);
      if (!regs) continue;
      const auto* words = reinterpret_cast<const uint64_t*>(&*regs);
      registers.insert(registers.end(), words, words + sizeof(*regs) / 8);
      if (const GRecord* g = StackOwner(gs, regs->rsp))
        on_cpu.insert(g->addr);
      else
        system_sps.push_back(regs->rsp);
    }

    std::vector<Candidate> blocked;
    std::vector<const GRecord*> running;
    std::map<std::string, size_t> unjudged;
    for (const GRecord& g : gs) {
      if (IsDeadStatus(g.status)) continue;
      proof.goroutines++;
      Candidate c{g, IsWaitingStatus(g.status) ? reasons.Name(g.waitreason) : "", Wait::kMayRun, {}, true};
      if (on_cpu.count(g.addr)) {
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
    MarkFromGlobals(marker, bias, semtable.known() ? semtable.value + bias : 0);
    for (uint64_t t : timer_heaps) marker.MarkValue(t);
    MarkFromSpecials(marker, heap);
    for (uint64_t v : registers) marker.MarkValue(v);
    for (uint64_t sp : system_sps) ScanSystemStack(marker, heap, maps, gs, sp);
    for (const GRecord* g : running) MarkFromGoroutine(marker, GL, *g);
    marker.Drain();
    CheckPause(freezer);

    // Until no blocked goroutine turns out able to run.
    for (bool changed = true; changed;) {
      proof.rounds++;
      changed = false;
      for (Candidate& c : blocked) {
        if (c.may_run || c.g.status == gstatus::kLeaked) continue;
        for (uint64_t b : c.blocking)
          if (!marker.InHeap(b) || marker.IsMarked(b)) c.may_run = true;
        if (c.may_run) {
          MarkFromGoroutine(marker, GL, c.g);
          changed = true;
        }
      }
      marker.Drain();
      CheckPause(freezer);
    }
    proof.pause_seconds = freezer.Thaw();

    for (const Candidate& c : blocked) {
      if (c.may_run) continue;
      // As the runtime: main blocked in select {} counts as leaked while
      // deciding (so what it holds hides nothing) but is not reported.
      if (c.g.goid == 1 && c.reason == "select (no cases)") continue;
      proof.leaked.push_back({c.g.goid, c.reason, c.blocking, c.g.status == gstatus::kLeaked});
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
    proof.stacks_precise = stats_precise_;
    proof.stacks_conservative = stats_conservative_;
    return proof;
  }

 private:
  // The pointer words of the binary's data and bss, by the bitmaps the GC
  // itself scans them with (moduledata.gcdatamask and gcbssmask): uintptrs
  // that happen to hold heap addresses (a stack's bounds, the heap's own
  // bookkeeping) are not references. runtime.semtable is left out.
  void MarkFromGlobals(HeapMarker& marker, uint64_t bias, uint64_t semtable) const {
    const pid_t pid = target_.pid;
    const std::optional<Moduledata>& md = target_.binary->moduledata();
    struct Section {
      const char* name;
      uint64_t start = 0, end = 0, mask = 0;  // offsets in moduledata
    } sections[] = {{"data"}, {"bss"}};
    uint64_t n_off = 0, bytes_off = 0;
    const std::string missing = layout_.Fill({{"runtime.moduledata.data", &sections[0].start},
                                              {"runtime.moduledata.edata", &sections[0].end},
                                              {"runtime.moduledata.gcdatamask", &sections[0].mask},
                                              {"runtime.moduledata.bss", &sections[1].start},
                                              {"runtime.moduledata.ebss", &sections[1].end},
                                              {"runtime.moduledata.gcbssmask", &sections[1].mask},
                                              {"runtime.bitvector.n", &n_off},
                                              {"runtime.bitvector.bytedata", &bytes_off}});
    if (!md || !missing.empty())
      throw Error(fmt::format("process {}: cannot find the globals: {}", pid,
                              md ? missing + " unknown" : "runtime.firstmoduledata not found"));
    const uint64_t module = md->address.value + bias;
    auto field = [&](uint64_t off, const char* what) {
      std::optional<uint64_t> v = mem_.ReadU64(module + off);
      if (!v) throw Error(fmt::format("process {}: cannot read moduledata's {}", pid, what));
      return *v;
    };
    for (const Section& sec : sections) {
      const uint64_t lo = field(sec.start, sec.name), hi = field(sec.end, sec.name);
      const uint64_t bits = field(sec.mask + n_off, sec.name) & 0xffffffff;  // int32
      const uint64_t bitmap = field(sec.mask + bytes_off, sec.name);
      if (hi < lo || hi - lo > (uint64_t{1} << 32) || bits > (hi - lo) / 8 + 64)
        throw Error(fmt::format("process {}: implausible {} [{:#x}, {:#x}) with {} pointer bits", pid, sec.name, lo,
                                hi, bits));
      std::vector<uint8_t> mask((bits + 7) / 8), words((hi - lo) & ~uint64_t{7});
      if ((!mask.empty() && !mem_.Read(bitmap, mask.data(), mask.size())) ||
          (!words.empty() && !mem_.Read(lo, words.data(), words.size())))
        throw Error(fmt::format("process {}: cannot read the globals at [{:#x}, {:#x})", pid, lo, hi));
      for (uint64_t i = 0; i < bits && i * 8 + 8 <= words.size(); i++) {
        if (!(mask[i / 8] >> (i % 8) & 1)) continue;
        const uint64_t at = lo + i * 8;
        if (semtable && at >= semtable && at < semtable + kSemTabSize * kSemTabStride) continue;
        uint64_t v;
        std::memcpy(&v, words.data() + i * 8, 8);
        marker.MarkValue(v);
      }
    }
  }

  std::vector<GRecord> ReadGs(const GLayout& L, const std::vector<uint64_t>& gptrs) const {
    std::vector<uint8_t> buf(gptrs.size() * L.size);
    std::vector<ProcessMemory::Piece> pieces;
    for (size_t i = 0; i < gptrs.size(); i++)
      if (gptrs[i]) pieces.push_back({gptrs[i], buf.data() + i * L.size, L.size});
    mem_.ReadMany(pieces);
    std::vector<GRecord> out;
    for (const auto& p : pieces) {
      if (!p.ok)
        throw Error(fmt::format("process {}: cannot read the goroutine at {:#x}", target_.pid, p.addr));
      out.push_back(DecodeG(L, buf, static_cast<uint8_t*>(p.out) - buf.data(), p.addr));
    }
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

  // A goroutine that can run: its g's own references (defers, panics,
  // labels), and its stack: a parked one's by the stack maps, as the GC scans
  // it; else (running, or a frame without a map) every word from the saved SP
  // up, or all of it when the SP is not known.
  void MarkFromGoroutine(HeapMarker& marker, const GLayout& L, const GRecord& g) {
    marker.ScanRange(g.addr, g.addr + L.size);
    if (std::optional<std::vector<uint64_t>> pointers = StackPointers(g)) {
      stats_precise_++;
      for (uint64_t v : *pointers) marker.MarkValue(v);
      return;
    }
    stats_conservative_++;
    uint64_t sp = g.status == gstatus::kSyscall ? g.syscallsp : g.sched_sp;
    bool parked = g.status == gstatus::kWaiting || g.status == gstatus::kRunnable || g.status == gstatus::kSyscall ||
                  g.status == gstatus::kPreempted;
    if (!parked || sp < g.stack_lo || sp >= g.stack_hi) sp = g.stack_lo;
    if (g.stack_hi > sp && g.stack_hi - sp <= (uint64_t{1} << 30)) marker.ScanRange(sp, g.stack_hi);
  }

  // The pointer words of a parked goroutine's frames, walked from its saved
  // pc and sp by the SP-delta tables; nullopt where the walk or a frame's map
  // cannot be trusted (an asynchronous preemption, assembly with locals).
  std::optional<std::vector<uint64_t>> StackPointers(const GRecord& g) const {
    const bool syscall = g.status == gstatus::kSyscall;
    if (g.status != gstatus::kWaiting && g.status != gstatus::kRunnable && g.status != gstatus::kLeaked && !syscall)
      return std::nullopt;
    const uint64_t bias = target_.load_bias, lo = syscall ? g.syscallsp : g.sched_sp, hi = g.stack_hi;
    if (lo < g.stack_lo || lo >= hi || hi - lo > kMaxPreciseStack) return std::nullopt;
    std::vector<uint8_t> stack(hi - lo);
    if (!mem_.Read(lo, stack.data(), stack.size())) return std::nullopt;
    auto word = [&](uint64_t addr, uint64_t* v) {
      if (addr < lo || addr + 8 > hi) return false;
      std::memcpy(v, stack.data() + (addr - lo), 8);
      return true;
    };
    const Pclntab& tab = target_.binary->pclntab();
    std::vector<uint64_t> out;
    uint64_t pc = syscall ? g.syscallpc : g.sched_pc, sp = lo;
    for (int depth = 0;; depth++) {
      const Func* f = tab.FindFunc(pc - bias);
      if (!f || depth > 10000 || trap_callers_.count(f->entry)) return std::nullopt;
      if (f->entry == goexit_) return out;
      if (depth > 0 && (f->flags & kFuncFlagSpWrite)) return std::nullopt;
      std::optional<FramePointerMap> map = FramePointerMapAt(tab, *f, pc - bias);
      if (!map) return std::nullopt;
      for (uint32_t off : map->pointer_words) {
        uint64_t v;
        if (!word(sp + off, &v)) return std::nullopt;
        out.push_back(v);
      }
      for (auto [off, size] : map->objects)
        for (uint64_t a = sp + off; a + 8 <= sp + off + size; a += 8)
          if (uint64_t v; word(a, &v)) out.push_back(v);
      if (f->flags & kFuncFlagTopFrame) return out;
      const uint64_t fp = sp + map->fp_offset;
      if (!word(fp - 8, &pc) || fp >= hi) return std::nullopt;
      sp = fp;
    }
  }

  // The Ps (runtime.allp) are not scanned: besides the goroutines they queue
  // (gs are never scanned) they hold stale pointers, in their GC work and
  // write-barrier buffers and their caches of free records. What a program
  // relies on them for is its timers (time.After's channel, say): the timer
  // heaps of every P, returned as roots.
  std::vector<uint64_t> HidePs(HeapMarker& marker, uint64_t bias) const {
    Sourced allp = layout_.get("runtime.allp");
    Sourced timers = layout_.get("runtime.p.timers.heap");
    if (!timers.known()) timers = layout_.get("runtime.p.timers");
    if (!allp.known() || !timers.known())
      throw Error(fmt::format("process {}: runtime layout incomplete: {} unknown", target_.pid,
                              allp.known() ? "runtime.p.timers" : "runtime.allp"));
    std::optional<std::vector<uint64_t>> ps = mem_.ReadPointerSlice(allp.value + bias, 4096);
    if (!ps) throw Error(fmt::format("process {}: cannot read runtime.allp and its Ps", target_.pid));
    std::vector<uint64_t> heaps;
    for (uint64_t p : *ps) {
      if (!p) continue;
      marker.DoNotScan(p);
      if (std::optional<uint64_t> heap = mem_.ReadU64(p + timers.value); heap && *heap) heaps.push_back(*heap);
    }
    return heaps;
  }

  // The runtime's special records (span.specials): a finalizer keeps what
  // its object reaches (the object itself too, here: conservative), and
  // every record's own words (a finalizer's or cleanup's function and its
  // closure) are roots. Records live outside the heap (fixalloc).
  void MarkFromSpecials(HeapMarker& marker, const HeapSpans& heap) const {
    uint64_t next = 0, offset = 0, kind = 0, size = 0, finalizer = 0;
    const std::string missing = layout_.Fill({{"runtime.special.next", &next},
                                              {"runtime.special.offset", &offset},
                                              {"runtime.special.kind", &kind},
                                              {"runtime.special#size", &size},
                                              {"runtime._KindSpecialFinalizer", &finalizer}});
    if (!missing.empty() || kind <= offset || kind - offset > 8)
      throw Error(fmt::format("process {}: runtime layout incomplete: the special records' layout is unknown",
                              target_.pid));
    constexpr uint64_t kRecordTail = 32;  // the words after the header: fn, closure, types, handle...
    std::vector<uint8_t> rec(size + kRecordTail);
    for (const HeapSpan& span : heap.spans()) {
      uint64_t at = span.specials;
      for (int n = 0; at && n < 1 << 20; n++) {
        if (!mem_.Read(at, rec.data(), rec.size())) break;
        uint64_t off = 0, following = 0;
        std::memcpy(&off, rec.data() + offset, kind - offset);
        std::memcpy(&following, rec.data() + next, 8);
        if (rec[kind] == finalizer && off < span.end - span.start) marker.MarkValue(span.start + off);
        for (size_t i = size; i + 8 <= rec.size(); i += 8) {
          uint64_t word;
          std::memcpy(&word, rec.data() + i, 8);
          marker.MarkValue(word);
        }
        at = following;
      }
    }
  }

  // The goroutine whose stack holds sp, if any.
  static const GRecord* StackOwner(const std::vector<GRecord>& gs, uint64_t sp) {
    for (const GRecord& g : gs)
      if (!IsDeadStatus(g.status) && sp >= g.stack_lo && sp < g.stack_hi) return &g;
    return nullptr;
  }

  // A system stack (g0, signal stack) a stopped thread is on, from its SP up:
  // to the end of its stack where the runtime carved it from a stack span;
  // else (an OS thread's own stack) to the end of its mapping, at most a
  // window, and neither into a goroutine's stack (live, or cached with a dead
  // g) nor into the heap: stale words there must not count as roots.
  static void ScanSystemStack(HeapMarker& marker, const HeapSpans& heap, const std::vector<Mapping>& maps,
                              const std::vector<GRecord>& gs, uint64_t sp) {
    if (heap.Find(sp)) return;
    if (std::optional<std::pair<uint64_t, uint64_t>> stack = heap.StackAt(sp)) {
      marker.ScanRange(sp & ~uint64_t{7}, stack->second);
      return;
    }
    for (const Mapping& m : maps) {
      if (sp < m.start || sp >= m.end) continue;
      if (m.perms.empty() || m.perms[0] != 'r') return;
      uint64_t end = std::min({m.end, sp + kSystemStackWindow, heap.NextSpanStart(sp)});
      for (const GRecord& g : gs)
        if (g.stack_lo > sp && g.stack_lo < end) end = g.stack_lo;
      marker.ScanRange(sp & ~uint64_t{7}, end);
      return;
    }
  }

  void CheckPause(const Freezer& freezer) const {
    double s = freezer.stopped_seconds();
    if (s > opts_.max_pause_seconds)
      throw Error(fmt::format("process {}: gave up after {:.2f} s stopped (the limit is {:g} s); the process runs on, "
                              "nothing was concluded",
                              target_.pid, s, opts_.max_pause_seconds));
  }

  const TargetProcess& target_;
  const RuntimeLayout& layout_;
  const LeakProofOptions& opts_;
  ProcessMemory mem_;
  std::set<uint64_t> trap_callers_;  // a frame they interrupted has no map at its pc
  uint64_t goexit_ = 0;
  size_t stats_precise_ = 0, stats_conservative_ = 0;
};

}  // namespace

LeakProof ProveGoroutineLeaks(const TargetProcess& target, const RuntimeLayout& layout, const LeakProofOptions& opts) {
  return Prover(target, layout, opts).Run();
}

GroupedLeakProof ProveAndGroupLeaks(const TargetProcess& target, const RuntimeLayout& layout,
                                    const LeakProofOptions& opts) {
  GroupedLeakProof out;
  out.proof = ProveGoroutineLeaks(target, layout, opts);
  out.groups = GroupProvenLeaks(out.proof, TakeSnapshot(target, layout).goroutines);
  return out;
}

}  // namespace goscope
