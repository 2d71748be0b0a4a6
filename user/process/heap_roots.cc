#include "process/heap_roots.h"

#include <sys/user.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "error.h"
#include "model/goroutine.h"
#include "stack_maps.h"

namespace goscope {
namespace {

// At most this much of a system stack is scanned: a g0 stack is 16 KiB (an OS
// thread's own stack is larger, but the runtime's frames on it are few).
constexpr uint64_t kSystemStackWindow = 16 << 10;
constexpr uint64_t kMaxPreciseStack = 64 << 20;  // a larger stack is scanned conservatively, in pieces

// The goroutine whose stack holds sp, if any.
const GRecord* StackOwner(const std::vector<GRecord>& gs, uint64_t sp) {
  for (const GRecord& g : gs)
    if (!IsDeadStatus(g.status) && sp >= g.stack_lo && sp < g.stack_hi) return &g;
  return nullptr;
}

}  // namespace

HeapRoots::HeapRoots(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem,
                     const HeapSpans& heap, HeapMarker& marker)
    : target_(target), layout_(layout), mem_(mem), heap_(heap), marker_(marker),
      g_layout_(ResolveGLayout(layout, target.pid)),
      trap_callers_(TrapFunctionEntries(target.binary->pclntab())) {
  if (const Func* f = target.binary->pclntab().LookupFunction("runtime.goexit")) goexit_ = f->entry;
  if (!layout.Fill({{"runtime.g.m", &g_m_}, {"runtime.m.g0", &m_g0_}, {"runtime.m.gsignal", &m_gsignal_},
                    {"runtime.m.curg", &m_curg_}}).empty())
    g_m_ = 0;
}

std::vector<GRecord> HeapRoots::ReadGoroutines() const {
  const GLayout& L = g_layout_;
  std::vector<uint64_t> gptrs = ReadAllgs(mem_, layout_, target_.load_bias);
  std::vector<uint8_t> buf(gptrs.size() * L.size);
  std::vector<ProcessMemory::Piece> pieces;
  for (size_t i = 0; i < gptrs.size(); i++)
    if (gptrs[i]) pieces.push_back({gptrs[i], buf.data() + i * L.size, L.size});
  mem_.ReadMany(pieces);
  std::vector<GRecord> out;
  for (const auto& p : pieces) {
    if (!p.ok) throw Error(fmt::format("process {}: cannot read the goroutine at {:#x}", target_.pid, p.addr));
    out.push_back(DecodeG(L, buf, static_cast<uint8_t*>(p.out) - buf.data(), p.addr));
  }
  return out;
}

// The pointer words of the binary's data and bss, by the bitmaps the GC
// itself scans them with (moduledata.gcdatamask and gcbssmask): uintptrs
// that happen to hold heap addresses (a stack's bounds, the heap's own
// bookkeeping) are not references.
void HeapRoots::MarkFromGlobals(uint64_t skip_lo, uint64_t skip_hi) {
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
  const uint64_t module = md->address.value + target_.load_bias;
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
      throw Error(fmt::format("process {}: implausible {} [{:#x}, {:#x}) with {} pointer bits", pid, sec.name, lo, hi,
                              bits));
    std::vector<uint8_t> mask((bits + 7) / 8), words((hi - lo) & ~uint64_t{7});
    if ((!mask.empty() && !mem_.Read(bitmap, mask.data(), mask.size())) ||
        (!words.empty() && !mem_.Read(lo, words.data(), words.size())))
      throw Error(fmt::format("process {}: cannot read the globals at [{:#x}, {:#x})", pid, lo, hi));
    for (uint64_t i = 0; i < bits && i * 8 + 8 <= words.size(); i++) {
      if (!(mask[i / 8] >> (i % 8) & 1)) continue;
      const uint64_t at = lo + i * 8;
      if (at >= skip_lo && at < skip_hi) continue;
      uint64_t v;
      std::memcpy(&v, words.data() + i * 8, 8);
      if (!heap_.Find(v)) continue;
      Tell({RootSite::Kind::kGlobal, at});
      marker_.MarkValue(v);
    }
  }
}

// The Ps (runtime.allp) are not scanned: besides the goroutines they queue
// they hold stale pointers, in their GC work and write-barrier buffers and
// their caches of free records. What a program relies on them for is its
// timers (time.After's channel, say).
std::vector<uint64_t> HeapRoots::HidePs() {
  const uint64_t bias = target_.load_bias;
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
    marker_.DoNotScan(p);
    if (std::optional<uint64_t> heap = mem_.ReadU64(p + timers.value); heap && *heap) heaps.push_back(*heap);
  }
  return heaps;
}

void HeapRoots::MarkFromTimers(const std::vector<uint64_t>& heaps) {
  for (uint64_t t : heaps) {
    Tell({RootSite::Kind::kTimers, t});
    marker_.MarkValue(t);
  }
}

// The runtime's special records (span.specials): a finalizer keeps what its
// object reaches (the object itself too, here: conservative), and every
// record's own words (a finalizer's or cleanup's function and its closure)
// are roots. Records live outside the heap (fixalloc).
void HeapRoots::MarkFromSpecials() {
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
  for (const HeapSpan& span : heap_.spans()) {
    uint64_t at = span.specials;
    for (int n = 0; at && n < 1 << 20; n++) {
      if (!mem_.Read(at, rec.data(), rec.size())) break;
      uint64_t off = 0, following = 0;
      std::memcpy(&off, rec.data() + offset, kind - offset);
      std::memcpy(&following, rec.data() + next, 8);
      Tell({RootSite::Kind::kFinalizer, at});
      if (rec[kind] == finalizer && off < span.end - span.start) marker_.MarkValue(span.start + off);
      for (size_t i = size; i + 8 <= rec.size(); i += 8) {
        uint64_t word;
        std::memcpy(&word, rec.data() + i, 8);
        marker_.MarkValue(word);
      }
      at = following;
    }
  }
}

ThreadRoots HeapRoots::ReadThreads(const Freezer& freezer, const std::vector<GRecord>& gs) const {
  ThreadRoots out;
  for (pid_t tid : freezer.threads()) {
    std::optional<user_regs_struct> regs = freezer.Registers(tid);
    if (!regs) continue;
    const auto* words = reinterpret_cast<const uint64_t*>(&*regs);
    out.registers.insert(out.registers.end(), words, words + sizeof(*regs) / 8);
    if (const GRecord* g = StackOwner(gs, regs->rsp))
      out.on_cpu.insert(g->addr);
    else
      out.system_stacks.push_back({regs->rip, regs->rsp});
    // Go code keeps its g in R14 (1.17+ register ABI); C code (cgo) may hold
    // anything there, so the g is taken only if its M says it is one of its own.
    if (!g_m_) continue;
    const uint64_t g = regs->r14;
    std::optional<uint64_t> m = g ? mem_.ReadU64(g + g_m_) : std::nullopt;
    if (!m || !*m) continue;
    std::optional<uint64_t> g0 = mem_.ReadU64(*m + m_g0_), gsignal = mem_.ReadU64(*m + m_gsignal_),
                            curg = mem_.ReadU64(*m + m_curg_);
    if (!g0 || !gsignal || !curg || (g != *g0 && g != *gsignal && g != *curg)) continue;
    for (uint64_t s : {*g0, *gsignal})
      if (s) out.system_gs.insert(s);
  }
  return out;
}

void HeapRoots::MarkFromThreads(const ThreadRoots& threads, const std::vector<GRecord>& gs) {
  Tell({RootSite::Kind::kThread});
  for (uint64_t v : threads.registers) marker_.MarkValue(v);
  for (uint64_t g : threads.system_gs) ScanDescriptor(g);
  std::vector<Mapping> maps = ReadMaps(target_.pid);
  for (auto [pc, sp] : threads.system_stacks) ScanSystemStack(maps, gs, pc, sp);
}

// A system stack (g0, signal stack) a stopped thread is on, from its SP up:
// to the end of its stack where the runtime carved it from a stack span;
// else (an OS thread's own stack) to the end of its mapping, at most a
// window, and neither into a goroutine's stack (live, or cached with a dead
// g) nor into the heap: stale words there must not count as roots.
void HeapRoots::ScanSystemStack(const std::vector<Mapping>& maps, const std::vector<GRecord>& gs, uint64_t pc,
                                uint64_t sp) {
  if (heap_.Find(sp)) return;
  uint64_t end = 0;
  if (std::optional<std::pair<uint64_t, uint64_t>> stack = heap_.StackAt(sp)) {
    end = stack->second;
  } else {
    for (const Mapping& m : maps) {
      if (sp < m.start || sp >= m.end) continue;
      if (m.perms.empty() || m.perms[0] != 'r') return;
      end = std::min({m.end, sp + kSystemStackWindow, heap_.NextSpanStart(sp)});
      for (const GRecord& g : gs)
        if (g.stack_lo > sp && g.stack_lo < end) end = g.stack_lo;
      break;
    }
  }
  if (end <= sp) return;
  if (ScanSystemFrames(pc, sp, end)) {
    system_stacks_precise_++;
  } else {
    system_stacks_conservative_++;
    marker_.ScanRange(sp & ~uint64_t{7}, end);
  }
}

// The runtime's frames on a system stack, as the GC would see them at a safe
// point: the thread stopped anywhere, so its innermost frame and its
// caller's (whose outgoing arguments the innermost may have spilled into)
// are scanned word by word, and the frames outside them by their stack maps,
// which leave out the dead slots where a scheduler's frames keep stale
// pointers to what goroutines it ran held. From where the walk cannot go on
// (mcall or systemstack switched stacks there; C code) to the end, word by
// word. False if not even the two innermost frames can be found: the caller
// scans it all.
bool HeapRoots::ScanSystemFrames(uint64_t pc, uint64_t sp, uint64_t end) {
  const uint64_t bias = target_.load_bias;
  const Pclntab& tab = target_.binary->pclntab();
  if (sp % 8 || end - sp > kMaxPreciseStack) return false;
  std::vector<uint8_t> stack(end - sp);
  if (!mem_.Read(sp, stack.data(), stack.size())) return false;
  // The frame at (pc, sp): its caller's pc and sp, if it is an ordinary frame.
  auto caller = [&](uint64_t at_pc, uint64_t at_sp) -> std::optional<std::pair<uint64_t, uint64_t>> {
    const Func* f = tab.FindFunc(at_pc - bias);
    if (!f || (f->flags & (kFuncFlagSpWrite | kFuncFlagTopFrame)) || trap_callers_.count(f->entry)) return std::nullopt;
    const int32_t delta = tab.SpDelta(*f, at_pc - bias);
    const uint64_t fp = at_sp + static_cast<uint64_t>(delta) + 8;
    if (delta < 0 || fp > end) return std::nullopt;
    uint64_t ret;
    std::memcpy(&ret, stack.data() + (fp - 8 - sp), 8);
    return std::pair{ret, fp};
  };
  auto frame1 = caller(pc, sp);
  auto frame2 = frame1 ? caller(frame1->first, frame1->second) : std::nullopt;
  if (!frame2) return false;
  // The second frame's arguments (spilled registers) lie above it, in the
  // third's outgoing area, which the third's map leaves to it.
  const int32_t args = tab.ArgsSize(*tab.FindFunc(frame1->first - bias));
  if (args < 0 || frame2->second + static_cast<uint64_t>(args) > end) return false;
  marker_.ScanRange(sp, frame2->second + static_cast<uint64_t>(args));
  FrameWalk walk = WalkFrames(frame2->first, frame2->second, sp, end, stack);
  for (const FrameWord& w : walk.words) {
    if (!heap_.Find(w.value)) continue;
    Tell({RootSite::Kind::kThread, 0, w.pc, w.offset});
    marker_.MarkValue(w.value);
  }
  if (walk.unwalked) marker_.ScanRange(*walk.unwalked, end);
  return true;
}

// A g's words but its stack bounds: uintptrs, and stack.hi, one past the
// stack, can be the address of the heap object that follows it.
void HeapRoots::ScanDescriptor(uint64_t g) {
  const uint64_t a = std::min(g_layout_.stack_lo, g_layout_.stack_hi);
  const uint64_t b = std::max(g_layout_.stack_lo, g_layout_.stack_hi);
  marker_.ScanRange(g, g + a);
  marker_.ScanRange(g + a + 8, g + b);
  marker_.ScanRange(g + b + 8, g + g_layout_.size);
}

void HeapRoots::MarkFromGoroutine(const GRecord& g) {
  Tell({RootSite::Kind::kGoroutine, g.addr, 0, 0, &g});
  ScanDescriptor(g.addr);
  if (std::optional<std::vector<FrameWord>> words = StackPointers(g)) {
    stacks_precise_++;
    for (const FrameWord& w : *words) {
      if (!heap_.Find(w.value)) continue;
      Tell({RootSite::Kind::kFrame, 0, w.pc, w.offset, &g});
      marker_.MarkValue(w.value);
    }
    return;
  }
  stacks_conservative_++;
  Tell({RootSite::Kind::kStack, g.addr, 0, 0, &g});
  uint64_t sp = g.status == gstatus::kSyscall ? g.syscallsp : g.sched_sp;
  if (!HasSavedStack(g.status) || sp < g.stack_lo || sp >= g.stack_hi) sp = g.stack_lo;
  if (g.stack_hi > sp && g.stack_hi - sp <= (uint64_t{1} << 30)) marker_.ScanRange(sp, g.stack_hi);
}

// The pointer words of a parked goroutine's frames, walked from its saved pc
// and sp by the SP-delta tables; nullopt where the walk or a frame's map
// cannot be trusted (an asynchronous preemption, assembly with locals).
std::optional<std::vector<HeapRoots::FrameWord>> HeapRoots::StackPointers(const GRecord& g) const {
  const bool syscall = g.status == gstatus::kSyscall;
  if (g.status != gstatus::kWaiting && g.status != gstatus::kRunnable && g.status != gstatus::kLeaked && !syscall)
    return std::nullopt;
  const uint64_t lo = syscall ? g.syscallsp : g.sched_sp, hi = g.stack_hi;
  if (lo < g.stack_lo || lo >= hi || hi - lo > kMaxPreciseStack) return std::nullopt;
  std::vector<uint8_t> stack(hi - lo);
  if (!mem_.Read(lo, stack.data(), stack.size())) return std::nullopt;
  FrameWalk walk = WalkFrames(syscall ? g.syscallpc : g.sched_pc, lo, lo, hi, stack);
  if (walk.unwalked) return std::nullopt;
  return std::move(walk.words);
}

HeapRoots::FrameWalk HeapRoots::WalkFrames(uint64_t pc, uint64_t sp, uint64_t lo, uint64_t hi,
                                           const std::vector<uint8_t>& stack) const {
  const uint64_t bias = target_.load_bias;
  auto word = [&](uint64_t addr, uint64_t* v) {
    if (addr < lo || addr + 8 > hi) return false;
    std::memcpy(v, stack.data() + (addr - lo), 8);
    return true;
  };
  const Pclntab& tab = target_.binary->pclntab();
  FrameWalk out;
  for (int depth = 0;; depth++) {
    const Func* f = tab.FindFunc(pc - bias);
    if (!f || depth > 10000 || trap_callers_.count(f->entry) || (depth > 0 && (f->flags & kFuncFlagSpWrite))) {
      out.unwalked = sp;
      return out;
    }
    if (f->entry == goexit_) return out;
    std::optional<FramePointerMap> map = FramePointerMapAt(tab, *f, pc - bias);
    const size_t before = out.words.size();
    bool ok = map.has_value();
    for (uint32_t off : ok ? map->pointer_words : std::vector<uint32_t>{}) {
      uint64_t v;
      if (!(ok = word(sp + off, &v))) break;
      out.words.push_back({v, pc, off});
    }
    if (!ok) {  // this frame is scanned word by word with the rest
      out.words.resize(before);
      out.unwalked = sp;
      return out;
    }
    for (auto [off, size] : map->objects)
      for (uint64_t a = sp + off; a + 8 <= sp + off + size; a += 8)
        if (uint64_t v; word(a, &v)) out.words.push_back({v, pc, a - sp});
    if (f->flags & kFuncFlagTopFrame) return out;
    const uint64_t fp = sp + map->fp_offset;
    if (!word(fp - 8, &pc) || fp >= hi) {
      out.unwalked = sp;  // conservative from this frame: its words were read, but safe to read again
      return out;
    }
    sp = fp;
  }
}

}  // namespace goscope
