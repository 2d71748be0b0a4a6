#include "process/goroutine_snapshot.h"

#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "error.h"
#include "go_names.h"
#include "process/freezer.h"
#include "process/g_records.h"
#include "stack_maps.h"

namespace goscope {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What was read of one g, and of its stack.
struct RawG : GRecord {
  RawG() = default;
  explicit RawG(const GRecord& r) : GRecord(r) {}
  // Copy of [stack_base, stack_base + stack_size) of the goroutine's stack.
  uint64_t stack_base = 0;
  size_t stack_size = 0;
  const uint8_t* stack_data = nullptr;  // in the snapshot's arena, or own_stack
  std::vector<uint8_t> own_stack;        // for a stack read again alone
  bool stack_read = false;
  std::string note;  // why there is no stack
  bool unavailable = false;
  bool torn = false;  // parked, says the status, but the saved sp is not in the stack: read mid-change
};

RawG Decode(const GLayout& L, std::span<const uint8_t> buf, size_t base, uint64_t addr) {
  return RawG(DecodeG(L, buf, base, addr));
}

// The fields whose change between two reads means the stack read in between
// may be torn: the goroutine ran, or its stack moved.
bool SameState(const RawG& a, const RawG& b) {
  return a.goid == b.goid && a.status == b.status && a.sched_sp == b.sched_sp && a.sched_pc == b.sched_pc &&
         a.sched_bp == b.sched_bp && a.stack_lo == b.stack_lo && a.stack_hi == b.stack_hi &&
         a.syscallsp == b.syscallsp && a.syscallpc == b.syscallpc;
}

// The stack range to copy for g, or an explanation of why there is none.
constexpr uint64_t kMaxStackCopy = 1 << 20;

bool PlanStack(RawG& g) {
  if (g.status == gstatus::kRunning) {
    g.unavailable = true;
    g.note = "goroutine running on other thread; stack unavailable";
    return false;
  }
  if (g.status == gstatus::kCopystack) {
    g.unavailable = true;
    g.note = "stack being copied; stack unavailable";
    return false;
  }
  if (!HasSavedStack(g.status)) {
    g.unavailable = true;
    g.note = "no saved stack in state " + StateName(g.status);
    return false;
  }
  uint64_t sp = g.status == gstatus::kSyscall ? g.syscallsp : g.sched_sp;
  if (g.stack_hi <= g.stack_lo || g.stack_hi - g.stack_lo > (uint64_t{1} << 30) || sp < g.stack_lo ||
      sp >= g.stack_hi) {
    g.unavailable = true;
    g.torn = true;
    g.note = fmt::format("saved sp {:#x} outside the stack [{:#x}, {:#x})", sp, g.stack_lo, g.stack_hi);
    return false;
  }
  g.stack_base = sp;
  g.stack_size = std::min(g.stack_hi - sp, kMaxStackCopy);
  return true;
}

// ---- unwinding ---------------------------------------------------------

struct RawFrame {
  uint64_t pc = 0;      // runtime pc as found (return address, or exact pc for trap frames)
  uint64_t sym_pc = 0;  // the pc to symbolize: pc-1 for return addresses
  const Func* func = nullptr;
};

struct Unwound {
  std::vector<RawFrame> frames;
  StackQuality quality = StackQuality::kComplete;
  std::string note;
  bool depth_limited = false;
  bool SamePcs(const Unwound& o) const {
    if (frames.size() != o.frames.size()) return false;
    for (size_t i = 0; i < frames.size(); i++)
      if (frames[i].pc != o.frames[i].pc) return false;
    return true;
  }
};

class Unwinder {
 public:
  Unwinder(const GoBinary& bin, uint64_t bias, int max_depth)
      : bin_(bin), bias_(bias), max_depth_(max_depth), trap_callers_(TrapFunctionEntries(bin.pclntab())) {
    if (const Func* f = bin.pclntab().LookupFunction("runtime.goexit")) goexit_ = f->entry;
    if (const Func* f = bin.pclntab().LookupFunction("runtime.systemstack_switch")) systemstack_switch_ = f->entry;
  }

  Unwound Run(const RawG& g, bool frame_pointers) const {
    return frame_pointers ? ByFramePointers(g) : BySpDelta(g);
  }

 private:
  bool Load(const RawG& g, uint64_t addr, uint64_t* out) const {
    if (!g.stack_data || addr < g.stack_base || addr + 8 > g.stack_base + g.stack_size) return false;
    std::memcpy(out, g.stack_data + (addr - g.stack_base), 8);
    return true;
  }

  // Adds the frame at pc; false (and a note) if pc is in no Go function.
  bool Push(Unwound& u, uint64_t pc, bool trap) const {
    // As Go's unwinder: the function is the one at pc; its line is looked
    // up at pc-1 (the CALL) unless pc is exact (an entry, or a pc a signal
    // interrupted).
    uint64_t link = pc - bias_;
    const Func* f = bin_.pclntab().FindFunc(link);
    if (!f) {
      u.quality = StackQuality::kTruncated;
      u.note = fmt::format("unwinding stopped at pc {:#x}, outside Go code", pc);
      return false;
    }
    bool exact = trap || link == f->entry;
    u.frames.push_back({pc, exact ? pc : pc - 1, f});
    return true;
  }

  bool DepthLimit(Unwound& u) const {
    if (static_cast<int>(u.frames.size()) < max_depth_) return false;
    u.quality = StackQuality::kTruncated;
    u.note = fmt::format("more than {} frames", max_depth_);
    u.depth_limited = true;
    return true;
  }

  bool Finish(Unwound& u) const {  // true if the last frame ends the stack
    if (u.frames.back().func->entry == goexit_) {
      u.frames.pop_back();  // Go's tracebacks and profiles leave goexit out
      return true;
    }
    return (u.frames.back().func->flags & kFuncFlagTopFrame) != 0;
  }

  bool IsTrapCaller(const RawFrame& f) const { return trap_callers_.count(f.func->entry) > 0; }

  // Go's own method (runtime/traceback.go): each frame's size comes from the
  // pclntab's SP-delta table at its pc, the return address sits just below
  // the caller's SP.
  Unwound BySpDelta(const RawG& g) const {
    Unwound u;
    bool syscall = g.status == gstatus::kSyscall;
    uint64_t pc = syscall ? g.syscallpc : g.sched_pc;
    uint64_t sp = syscall ? g.syscallsp : g.sched_sp;
    bool trap = false;
    for (;;) {
      if (!Push(u, pc, trap)) return u;
      const RawFrame& fr = u.frames.back();
      if (Finish(u)) return u;
      const Func& f = *fr.func;
      if ((f.flags & kFuncFlagSpWrite) && u.frames.size() > 1) {
        u.quality = StackQuality::kTruncated;
        u.note = fmt::format("cannot unwind past {}, which switches stacks", f.name);
        return u;
      }
      if (DepthLimit(u)) return u;
      int32_t delta = bin_.pclntab().SpDelta(f, pc - bias_);
      if (delta < 0) {
        u.quality = StackQuality::kTruncated;
        u.note = fmt::format("no SP delta for {} at {:#x}", f.name, pc);
        return u;
      }
      uint64_t fp = sp + static_cast<uint64_t>(delta) + 8;
      uint64_t lr;
      if (!Load(g, fp - 8, &lr)) {
        u.quality = StackQuality::kTruncated;
        u.note = fmt::format("return address of {} at {:#x} is outside the stack", f.name, fp - 8);
        return u;
      }
      trap = IsTrapCaller(fr);
      pc = lr, sp = fp;
      if (pc == 0) {
        u.quality = StackQuality::kTruncated;
        u.note = fmt::format("zero return address above {}", f.name);
        return u;
      }
    }
  }

  // The frame-pointer chain: BP points at the caller's saved BP, the return
  // address is just above it.
  Unwound ByFramePointers(const RawG& g) const {
    Unwound u;
    bool syscall = g.status == gstatus::kSyscall;
    uint64_t pc = syscall ? g.syscallpc : g.sched_pc;
    uint64_t bp = syscall ? g.syscallbp : g.sched_bp;
    if (!Push(u, pc, false)) return u;
    if (Finish(u)) return u;
    if (u.frames.back().func->entry == systemstack_switch_ &&
        bin_.pclntab().SpDelta(*u.frames.back().func, pc - bias_) == 0) {
      // Switched to the system stack (GC work, say), not parked. Before
      // go1.21 systemstack (and systemstack_switch, which stands in for it)
      // has no frame: its caller's return address is at SP, and BP is still
      // that caller's. From go1.21 both push BP and the chain is the usual one.
      uint64_t ret;
      if (!Load(g, g.sched_sp, &ret) || !Push(u, ret, false)) {
        u.quality = StackQuality::kTruncated;
        if (u.note.empty()) u.note = "no return address above runtime.systemstack_switch";
        return u;
      }
      if (Finish(u)) return u;
    }
    if (syscall && bin_.version() && bin_.version()->second < 23) {
      u.quality = StackQuality::kTruncated;
      u.note = "before go1.23 entersyscall saves no frame pointer";
      return u;
    }
    if (bp == 0) {
      // A goroutine that has not run yet: its entry pc, and goexit's return
      // address at SP.
      uint64_t ret;
      const Func* f = Load(g, g.sched_sp, &ret) ? bin_.pclntab().FindFunc(ret - bias_) : nullptr;
      if (f && f->entry == goexit_) return u;
      u.quality = StackQuality::kTruncated;
      u.note = "no frame pointer saved";
      return u;
    }
    for (;;) {
      if (DepthLimit(u)) return u;
      uint64_t next_bp, ret;
      if ((bp & 7) != 0 || !Load(g, bp, &next_bp) || !Load(g, bp + 8, &ret)) {
        u.quality = StackQuality::kTruncated;
        u.note = fmt::format("frame pointer {:#x} outside the stack", bp);
        return u;
      }
      bool trap = IsTrapCaller(u.frames.back());
      if (!Push(u, ret, trap)) return u;
      if (Finish(u)) return u;
      if (next_bp == 0 || next_bp <= bp) {
        u.quality = StackQuality::kTruncated;
        u.note = fmt::format("frame-pointer chain ends at {:#x}", bp);
        return u;
      }
      bp = next_bp;
    }
  }

  const GoBinary& bin_;
  uint64_t bias_;
  int max_depth_;
  std::set<uint64_t> trap_callers_;
  uint64_t goexit_ = ~uint64_t{0}, systemstack_switch_ = ~uint64_t{0};
};

std::string NameForPrint(std::string_view name) { return GoFuncNameForPrint(name); }

// Symbolizes frames once per pc (a snapshot of thousands of goroutines parked
// in a few places looks up the same pcs again and again).
class FrameSymbolizer {
 public:
  explicit FrameSymbolizer(StackSymbolizer sym) : sym_(std::move(sym)) {}

  const std::vector<Frame>& Frames(const RawFrame& rf) {
    auto [it, fresh] = cache_.try_emplace(rf.sym_pc);
    if (!fresh) return it->second;
    std::vector<Frame> fs = sym_.AtPc(rf.sym_pc);
    if (fs.empty() && rf.func) {  // a function without line tables
      fs.push_back(Frame::Unknown(rf.pc));
      fs.back().function = rf.func->name;
      fs.back().file = "?";
    }
    for (Frame& f : fs) {
      f.function = NameForPrint(f.function);
      f.pc = rf.pc;
      f.entry = rf.func ? rf.func->entry + sym_.load_bias() : 0;
    }
    it->second = std::move(fs);
    return it->second;
  }

  // The frames of an unwound stack, one shared copy per distinct stack.
  SharedFrames Stack(const std::vector<RawFrame>& raw) {
    std::vector<uint64_t> key;
    key.reserve(raw.size() * 2);
    for (const RawFrame& rf : raw) key.insert(key.end(), {rf.pc, rf.sym_pc});
    auto [it, fresh] = stacks_.try_emplace(std::move(key));
    if (fresh) {
      std::vector<Frame> frames;
      for (const RawFrame& rf : raw) {
        const std::vector<Frame>& fs = Frames(rf);
        frames.insert(frames.end(), fs.begin(), fs.end());
      }
      it->second = SharedFrames(std::move(frames));
    }
    return it->second;
  }

  // Go's "created by" frame of a gopc, one shared copy per go statement.
  std::shared_ptr<const Frame> CreatedBy(uint64_t gopc) {
    auto [it, fresh] = created_by_.try_emplace(gopc);
    if (fresh)
      if (std::optional<Frame> f = sym_.CreatedBy(gopc)) {
        f->function = NameForPrint(f->function);
        it->second = std::make_shared<const Frame>(std::move(*f));
      }
    return it->second;
  }

 private:
  const StackSymbolizer sym_;
  std::unordered_map<uint64_t, std::vector<Frame>> cache_;
  std::map<std::vector<uint64_t>, SharedFrames> stacks_;  // by (pc, sym_pc) of each physical frame
  std::unordered_map<uint64_t, std::shared_ptr<const Frame>> created_by_;  // by gopc; null if none
};

// runtime.isSystemGoroutine: started at a runtime.* function other than
// runtime.main, runtime.handleAsyncEvent and runtime.corostart. The
// finalizer goroutine (runtime.runfinq) counts as system: NumGoroutine
// leaves it out (it is counted in sched.ngsys when created).
bool IsSystem(const GoBinary& bin, uint64_t startpc_link) {
  const Func* f = bin.pclntab().FindFunc(startpc_link);
  if (!f) return false;
  std::string_view n = f->name;
  if (n == "runtime.main" || n == "runtime.handleAsyncEvent" || n == "runtime.corostart") return false;
  return n.starts_with("runtime.");
}

double MonotonicNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace

namespace {

// Reads gs and their stacks. Unless the process is frozen, each goroutine is
// read, then its stack, then it again; one whose state or saved registers
// changed meanwhile is read again alone. Work goes in chunks so that the
// time between a goroutine's two reads stays short (a goroutine that wakes,
// runs and parks again at the same place within it would go unnoticed).
class GReader {
 public:
  GReader(const ProcessMemory& mem, const GLayout& L, bool frozen, bool include_dead)
      : mem_(mem), L_(L), frozen_(frozen), include_dead_(include_dead) {}

  static constexpr size_t kChunk = 128;

  void ReadChunk(std::span<const uint64_t> gptrs, std::vector<RawG>* out) {
    std::unique_ptr<uint8_t[]> buf_mem(new uint8_t[gptrs.size() * L_.size]);  // not zeroed: read over
    std::span<uint8_t> buf(buf_mem.get(), gptrs.size() * L_.size);
    std::vector<ProcessMemory::Piece> pieces;
    for (size_t i = 0; i < gptrs.size(); i++)
      if (gptrs[i]) pieces.push_back({gptrs[i], buf.data() + i * L_.size, L_.size});
    mem_.ReadMany(pieces);
    size_t first = out->size();
    for (const auto& p : pieces) {
      if (!p.ok) continue;
      RawG g = Decode(L_, buf, static_cast<uint8_t*>(p.out) - buf.data(), p.addr);
      max_goid_ = std::max(max_goid_, g.goid);
      if (IsDeadStatus(g.status) && !include_dead_) continue;
      out->push_back(std::move(g));
    }
    std::span<RawG> gs(out->data() + first, out->size() - first);

    std::vector<size_t> owners, torn;
    size_t total = 0;
    for (size_t k = 0; k < gs.size(); k++) {
      if (PlanStack(gs[k]))
        owners.push_back(k), total += gs[k].stack_size;
      else if (gs[k].torn && !frozen_)
        torn.push_back(k);
    }
    arenas_.emplace_back(new uint8_t[total]);
    uint8_t* arena = arenas_.back().get();
    std::vector<ProcessMemory::Piece> stacks;
    for (size_t k : owners) {
      gs[k].stack_data = arena;
      stacks.push_back({gs[k].stack_base, arena, gs[k].stack_size});
      arena += gs[k].stack_size;
    }
    mem_.ReadMany(stacks);
    for (size_t j = 0; j < owners.size(); j++) gs[owners[j]].stack_read = stacks[j].ok;

    std::vector<size_t> suspects = torn;
    if (frozen_) {  // nothing changes
      for (size_t k : owners)
        if (!gs[k].stack_read) suspects.push_back(k);
    } else {
      std::vector<ProcessMemory::Piece> again;
      for (size_t j = 0; j < owners.size(); j++) again.push_back({gs[owners[j]].addr, buf.data() + j * L_.size, L_.size});
      mem_.ReadMany(again);
      for (size_t j = 0; j < owners.size(); j++) {
        RawG& g = gs[owners[j]];
        if (!g.stack_read || !again[j].ok || !SameState(g, Decode(L_, buf, j * L_.size, g.addr)))
          suspects.push_back(owners[j]);
      }
    }
    for (size_t k : suspects) Reread(gs[k]);
  }

  uint64_t max_goid() const { return max_goid_; }
  // Drops the stack copies of the chunk-th ReadChunk: the RawGs that point
  // into them must be done with.
  void ReleaseStacks(size_t chunk) { arenas_.at(chunk).reset(); }

  // Reads g and its stack again, alone, until two reads of g around the
  // stack agree (at most three times); else marks the stack unavailable.
  void Reread(RawG& g) {
    std::vector<uint8_t> buf(L_.size);
    for (int attempt = 0; attempt < 3; attempt++) {
      if (!mem_.Read(g.addr, buf.data(), L_.size)) break;
      RawG now = Decode(L_, buf, 0, g.addr);
      if (now.goid != g.goid || IsDeadStatus(now.status)) {  // exited (the g may even be reused)
        g.unavailable = true;
        g.note = "goroutine exited while the snapshot was taken";
        return;
      }
      g = std::move(now);
      if (!PlanStack(g)) {
        if (g.torn && !frozen_) continue;  // caught mid-change again
        return;  // now running, say: g says why
      }
      g.own_stack.resize(g.stack_size);
      g.stack_data = g.own_stack.data();
      g.stack_read = mem_.Read(g.stack_base, g.own_stack.data(), g.stack_size);
      if (frozen_ && g.stack_read) return;
      if (g.stack_read && mem_.Read(g.addr, buf.data(), L_.size) && SameState(g, Decode(L_, buf, 0, g.addr))) return;
    }
    if (g.torn) return;  // the last read's note stands
    g.unavailable = true;
    g.note = g.stack_read ? "goroutine kept running while its stack was read; stack unavailable" : "stack unreadable";
  }

 private:
  const ProcessMemory& mem_;
  const GLayout& L_;
  bool frozen_, include_dead_;
  uint64_t max_goid_ = 0;
  std::vector<std::unique_ptr<uint8_t[]>> arenas_;  // stack copies; RawG points into them
};

// Whether the frame-pointer chain must agree with the SP-delta unwinding: for
// goroutines parked through mcall (gopark, gosched), which saves BP.
bool FramePointersComparable(const RawG& g) { return IsWaitingStatus(g.status); }

}  // namespace

Snapshot TakeSnapshot(const TargetProcess& target, const RuntimeLayout& layout, const SnapshotOptions& opts) {
  const GoBinary& bin = *target.binary;
  const pid_t pid = target.pid;
  const uint64_t bias = target.load_bias;
  GLayout L = ResolveGLayout(layout, pid);
  ProcessMemory mem(pid);

  Snapshot snap;
  snap.pid = pid;
  snap.go_version = bin.go_version();

  // Static data first, outside the timed (and possibly frozen) part.
  WaitReasons reasons(mem, layout, bias);
  snap.wait_reasons_from = reasons.source();
  Unwinder unwinder(bin, bias, std::max(1, opts.max_depth));

  GReader reader(mem, L, opts.freeze, opts.include_dead);
  FrameSymbolizer sym(target.symbolizer());
  double now_ns = 0;  // when the goroutines were read: their wait times end there
  // A goroutine from its copies (the process may run on meanwhile).
  auto build = [&](std::vector<RawG>& gs) {
    for (RawG& r : gs) {
      Unwound u;
      if (!r.unavailable && !IsDeadStatus(r.status)) {
        u = unwinder.Run(r, opts.frame_pointers);
        // A stack copied while its goroutine ran (and parked again at the same
        // place before it was read again) does not unwind cleanly, or the two
        // unwinders disagree: read it again.
        for (int attempt = 0; !opts.freeze && attempt < 2; attempt++) {
          bool suspect = u.quality == StackQuality::kTruncated && !u.depth_limited;
          if (!suspect && FramePointersComparable(r)) suspect = !u.SamePcs(unwinder.Run(r, !opts.frame_pointers));
          if (!suspect) break;
          reader.Reread(r);
          if (r.unavailable) break;
          u = unwinder.Run(r, opts.frame_pointers);
        }
      }
      Goroutine g;
      g.goid = r.goid;
      g.status = r.status;
      g.state = StateName(r.status);
      if (IsWaitingStatus(r.status) && r.waitreason != 0) g.wait_reason = reasons.Name(r.waitreason);
      if ((IsWaitingStatus(r.status) || r.status == gstatus::kSyscall) && r.waitsince > 0 && now_ns > 0)
        g.wait_seconds = std::max(0.0, (now_ns - static_cast<double>(r.waitsince)) / 1e9);
      if (r.parent_goid && *r.parent_goid != 0) g.parent_goid = r.parent_goid;
      g.gopc = r.gopc;
      g.startpc = r.startpc;
      g.system = IsSystem(bin, r.startpc - bias);
      // Goroutine 1 (main) comes from the runtime's bootstrap, not a go
      // statement: its gopc points into start-up code (rt0_go, or newproc's ABI
      // wrapper), and Go prints no "created by" for it either.
      if (r.gopc && r.goid != 1) g.created_by = sym.CreatedBy(r.gopc);
      if (r.unavailable) {
        g.stack_quality = StackQuality::kUnavailable;
        g.stack_note = r.note;
      } else if (!IsDeadStatus(r.status)) {
        g.stack_quality = u.quality;
        g.stack_note = u.note;
        for (const RawFrame& rf : u.frames) g.stack_pcs.push_back(rf.sym_pc + 1);  // runtime.Callers: symbolize at pc-1
        g.stack = sym.Stack(u.frames);
      }
      snap.goroutines.push_back(std::move(g));
    }
  };

  std::optional<Freezer> freezer;
  const auto t0 = Clock::now();
  if (opts.freeze) freezer.emplace(pid);
  std::vector<uint64_t> gptrs = ReadAllgs(mem, layout, bias);
  snap.allgs_len = gptrs.size();
  now_ns = MonotonicNow();
  snap.goroutines.reserve(gptrs.size());
  auto chunk = [&](size_t i) {
    return std::span<const uint64_t>(gptrs).subspan(i * GReader::kChunk,
                                                    std::min(GReader::kChunk, gptrs.size() - i * GReader::kChunk));
  };
  const size_t chunks = (gptrs.size() + GReader::kChunk - 1) / GReader::kChunk;
  if (freezer) {
    // Frozen, nothing changes: everything is read, the process let go, and
    // then each chunk is made into goroutines and its stack copies dropped,
    // so that the copies and the goroutines made of them are never all held
    // at once.
    std::vector<std::vector<RawG>> raw(chunks);
    for (size_t i = 0; i < chunks; i++) reader.ReadChunk(chunk(i), &raw[i]);
    snap.stopped_seconds = freezer->Thaw();
    snap.frozen = true;
    snap.read_seconds = Seconds(Clock::now() - t0);
    for (size_t i = 0; i < chunks; i++) {
      build(raw[i]);
      std::vector<RawG>().swap(raw[i]);
      reader.ReleaseStacks(i);
    }
  } else {
    // Each chunk is made into goroutines and its stack copies dropped before
    // the next is read: memory stays at one chunk's copies, whatever the count.
    Clock::duration reading = Clock::now() - t0;
    std::vector<RawG> gs;
    for (size_t i = 0; i < chunks; i++) {
      auto r0 = Clock::now();
      reader.ReadChunk(chunk(i), &gs);
      reading += Clock::now() - r0;
      build(gs);
      gs.clear();
      reader.ReleaseStacks(i);
    }
    snap.read_seconds = Seconds(reading);
  }
  snap.max_goid = reader.max_goid();
  std::sort(snap.goroutines.begin(), snap.goroutines.end(),
            [](const Goroutine& a, const Goroutine& b) { return a.goid < b.goid; });
  return snap;
}

}  // namespace goscope
