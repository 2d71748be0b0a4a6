#include "process/retention_walker.h"

#include <elf.h>

#include <algorithm>

#include <fmt/format.h>

#include "dwarf_types.h"
#include "error.h"
#include "model/goroutine.h"
#include "process/freezer.h"
#include "process/heap_marker.h"
#include "process/heap_roots.h"
#include "process/heap_spans.h"
#include "process/process_memory.h"
#include "process/retention_chains.h"
#include "process/runtime_types.h"

namespace goscope {
namespace {

// Globals by address, from the binary's symbol table (none when stripped).
class GlobalNames {
 public:
  explicit GlobalNames(const ElfFile& elf) {
    // Markers such as runtime.bss have no size and share an address with a variable.
    for (const ElfSymbol& s : elf.symbols())
      if (s.type == STT_OBJECT && s.value && s.size) symbols_.push_back(&s);
    std::sort(symbols_.begin(), symbols_.end(), [](auto* a, auto* b) { return a->value < b->value; });
  }
  // addr: link-time.
  std::string Name(uint64_t addr) const {
    auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                               [](uint64_t a, const ElfSymbol* s) { return a < s->value; });
    if (it != symbols_.begin()) {
      const ElfSymbol* s = *--it;
      if (addr < s->value + s->size) return std::string(s->name);
    }
    return fmt::format("global {:#x}", addr);
  }

 private:
  std::vector<const ElfSymbol*> symbols_;
};

// The innermost function at a frame: inlined ones count (`go f(x)` runs f
// inlined into a wrapper from go1.22); outside every Go function, the
// link-time address.
std::string Innermost(const std::vector<Frame>& frames, uint64_t link_pc) {
  return frames.empty() ? fmt::format("{:#x}", link_pc) : frames.front().function;
}

// What a root is called (a global and the field of it, a frame's function and
// slot, a kind of runtime record), and the DWARF type a global's word points to.
class RootNamer {
 public:
  RootNamer(const TargetProcess& target, DwarfTypes* dwarf)
      : sym_(target.symbolizer()), globals_(target.binary->elf()), dwarf_(dwarf) {}

  struct Name {
    std::string root, sub;
    DwarfTypes::TypeId pointee = DwarfTypes::kNone;
  };
  Name Of(const RootSite& site) const {
    switch (site.kind) {
      case RootSite::Kind::kGlobal: {
        const uint64_t addr = site.addr - sym_.load_bias();
        const DwarfTypes::Global* g = dwarf_ ? dwarf_->GlobalAt(addr) : nullptr;
        std::optional<DwarfTypes::PointerField> field = g ? dwarf_->PointerAt(g->type, addr - g->addr) : std::nullopt;
        if (!field) return {globals_.Name(addr), ""};
        return {globals_.Name(addr) + field->path, "", field->pointee};
      }
      case RootSite::Kind::kFrame:
        return {Innermost(sym_.AtReturnAddress(site.pc), site.pc - sym_.load_bias()) + " (frame)",
                fmt::format("sp+{:#x}", site.offset)};
      case RootSite::Kind::kStack:
        return {"stack of " + Innermost(sym_.AtPc(site.g->startpc), site.g->startpc - sym_.load_bias()) +
                    " (read conservatively)",
                ""};
      case RootSite::Kind::kGoroutine:
        return {"goroutine descriptors (runtime.g)", ""};
      case RootSite::Kind::kTimers:
        return {"timers", ""};
      case RootSite::Kind::kFinalizer:
        return {"finalizers and cleanups", ""};
      case RootSite::Kind::kThread:
        return {"threads (registers, system stacks)", ""};
    }
    return {"?", ""};
  }

 private:
  const StackSymbolizer sym_;
  GlobalNames globals_;
  DwarfTypes* dwarf_;
};

}  // namespace

Retention MeasureRetention(const TargetProcess& target, const RuntimeLayout& layout, const RetentionOptions& opts) {
  Retention out;
  out.pid = target.pid;
  out.go_version = target.binary->go_version();
  ProcessMemory mem(target.pid);
  RuntimeTypes types(target, layout, mem);
  // Field names and the types of objects the runtime does not record, where
  // the binary has DWARF; read before the process is stopped.
  std::unique_ptr<DwarfTypes> dwarf;
  try {
    dwarf = DwarfTypes::Read(target.binary->path());
  } catch (const Error& e) {
    out.notes.push_back(std::string(e.what()) + ": chains without field names");
  }

  WhileStopped(target.pid, [&](Freezer& freezer) {
    target.CheckSameProgram();  // exec'd since it was found: its layout is another's
    HeapSpans heap = HeapSpans::Read(mem, layout, target.load_bias);
    HeapMarker marker(mem, heap);
    HeapRoots roots(target, layout, mem, heap, marker);
    std::vector<GRecord> gs = roots.ReadGoroutines();
    marker.OnBatch([&] { freezer.CheckStoppedWithin(opts.max_pause_seconds); });
    RetentionChains chains(heap, types, dwarf.get(), opts.max_depth);
    marker.Observe(&chains);

    // One root at a time: what one root reaches is all marked (and so its own)
    // before the next root starts.
    const RootNamer names(target, dwarf.get());
    RootNamer::Name last;
    roots.OnRoot([&](const RootSite& site) {
      RootNamer::Name name = names.Of(site);
      if (name.root != last.root || name.sub != last.sub) {
        marker.Drain();
        chains.StartRoot(name.root, name.sub);
      }
      chains.SetRootPointee(name.pointee);
      last = std::move(name);
    });

    // The goroutines' descriptors are marked (they are objects allgs holds) but
    // what they hold is each goroutine's, scanned with its stack below. The Ps'
    // caches and buffers hold stale pointers: hidden, as goscope leaks does.
    for (const GRecord& g : gs) marker.DoNotScan(g.addr);
    std::vector<uint64_t> timer_heaps = roots.HidePs();
    roots.MarkFromGlobals();
    for (const GRecord& g : gs)
      if (!IsDeadStatus(g.status)) roots.MarkFromGoroutine(g);
    roots.MarkFromTimers(timer_heaps);
    roots.MarkFromSpecials();
    roots.MarkFromThreads(roots.ReadThreads(freezer, gs), gs);
    marker.Drain();
    freezer.CheckStoppedWithin(opts.max_pause_seconds);
    freezer.CheckAlive();
    out.pause_seconds = freezer.Thaw();
    chains.Collect(marker, &out);  // from what was read: the process runs meanwhile
    out.heap_bytes = heap.bytes();
    out.heap_objects = heap.objects();
    out.stacks_precise = roots.stacks_precise();
    out.stacks_conservative = roots.stacks_conservative();
  });
  if (!types.available() || out.typed_objects == 0)
    out.notes.push_back(out.go_version + " records no object types in its heap (malloc headers came in go1.22): " +
                        (dwarf ? "objects are named by the DWARF type of the field that points to them, else by size"
                               : "objects are shown by size"));
  if (!dwarf) out.notes.push_back("no DWARF: chains without field names");
  return out;
}

}  // namespace goscope
