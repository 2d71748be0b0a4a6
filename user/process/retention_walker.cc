#include "process/retention_walker.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "dwarf_types.h"
#include "error.h"
#include "model/goroutine.h"
#include "process/freezer.h"
#include "process/heap_marker.h"
#include "process/heap_roots.h"
#include "process/heap_spans.h"
#include "process/process_memory.h"
#include "process/runtime_types.h"

namespace goscope {
namespace {

constexpr uint32_t kMaxPathNodes = 1 << 20;  // past it, objects count at their parent's path

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

// The chains: a tree of path nodes (a root, or an object type under its
// parent node), each reached object's node, and the type the runtime
// recorded for it.
class Attribution : public MarkObserver {
 public:
  // dwarf: the binary's types, or null (stripped): then chains name objects
  // by what the runtime records only.
  Attribution(const HeapSpans& heap, RuntimeTypes& types, DwarfTypes* dwarf, int max_depth)
      : heap_(heap), types_(types), dwarf_(dwarf), max_depth_(max_depth), node_of_(heap.objects()),
        type_of_(heap.objects()), dwarf_of_(dwarf ? heap.objects() : 0) {
    labels_.push_back("");  // label 0: not known
    nodes_.push_back({0, 0, 0});
    dwarf_ids_.push_back(DwarfTypes::kNone);  // 0: not known
  }

  // The chain objects reached from now on start from (root, then sub).
  void StartRoot(const std::string& root, const std::string& sub = "") {
    uint32_t n = Child(0, Label(root));
    if (!sub.empty()) n = Child(n, Label(sub));
    current_ = n;
    root_pointee_ = 0;
  }
  // The DWARF type a root word points to, when known (a global's field).
  void SetRootPointee(DwarfTypes::TypeId t) { root_pointee_ = DwarfIndex(t); }

  void Reached(const HeapObject& obj, const HeapObject* from, uint64_t offset) override {
    const HeapSpan& span = heap_.spans()[obj.span];
    if (span.large_type) SetRuntimeType(obj, span.large_type);
    if (!from) {
      node_of_[obj.index] = current_;
      if (dwarf_ && !dwarf_of_[obj.index]) dwarf_of_[obj.index] = root_pointee_;
      return;
    }
    // Which field of `from` this is, and so what obj is, where DWARF says.
    std::optional<DwarfTypes::PointerField> field;
    // (From 1.22 a malloc header is the first word; the value follows it.)
    const uint64_t header = heap_.spans()[from->span].malloc_header ? 8 : 0;
    if (dwarf_ && dwarf_of_[from->index] && offset >= header) {
      const DwarfTypes::TypeId t = dwarf_ids_[dwarf_of_[from->index]];
      const uint64_t size = dwarf_->Size(t), at = offset - header;
      field = dwarf_->PointerAt(t, size && at >= size ? at % size : at);
      if (field && !dwarf_of_[obj.index]) dwarf_of_[obj.index] = DwarfIndex(field->pointee);
    }
    const uint32_t parent = node_of_[from->index];
    if (nodes_[parent].depth >= max_depth_ || nodes_.size() >= kMaxPathNodes) {
      node_of_[obj.index] = parent;
      cut_++;
      return;
    }
    const uint32_t edge = ObjectLabel(*from);
    node_of_[obj.index] = Child(parent, field && !field->path.empty() ? Label(labels_[edge] + field->path) : edge);
  }

  void Scanning(const HeapObject& obj, uint64_t offset, const uint8_t* data, size_t len) override {
    if (offset != 0 || len < 8 || !heap_.spans()[obj.span].malloc_header) return;
    uint64_t type;
    std::memcpy(&type, data, 8);
    SetRuntimeType(obj, type);
  }

  // What a reached object is called: its type, else its size.
  uint32_t ObjectLabel(const HeapObject& obj) {
    if (uint32_t t = type_of_[obj.index]) return t;
    if (dwarf_ && dwarf_of_[obj.index])
      if (uint32_t t = DwarfLabel(obj, dwarf_of_[obj.index])) return t;
    auto [it, added] = size_labels_.try_emplace(obj.size << 1 | obj.noscan, 0);
    if (added)
      it->second = Label(obj.noscan ? fmt::format("({} B, no pointers)", obj.size) : fmt::format("({} B)", obj.size));
    return it->second;
  }

  // Every marked object under its chain, then the chains written out.
  void Collect(const HeapMarker& marker, Retention* out) {
    std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> totals;  // (node, type) -> bytes, objects
    for (const HeapSpan& span : heap_.spans()) {
      for (uint32_t i = 0; i < span.objects; i++) {
        const uint64_t index = span.first_index + i;
        if (!marker.IsMarkedIndex(index)) continue;
        HeapObject obj{span.start + i * span.elemsize, span.elemsize, span.noscan, index,
                       static_cast<uint32_t>(&span - heap_.spans().data())};
        auto& t = totals[uint64_t{node_of_[index]} << 32 | ObjectLabel(obj)];
        t.first += obj.size;
        t.second++;
        if (type_of_[index]) out->typed_objects++;
      }
    }
    for (const auto& [key, t] : totals) {
      RetainedPath p;
      p.frames.push_back(labels_[key & 0xffffffff]);
      for (uint32_t n = key >> 32; n; n = nodes_[n].parent) p.frames.push_back(labels_[nodes_[n].label]);
      std::reverse(p.frames.begin(), p.frames.end());
      p.bytes = t.first;
      p.objects = t.second;
      out->reachable_bytes += p.bytes;
      out->reachable_objects += p.objects;
      out->paths.push_back(std::move(p));
    }
    std::sort(out->paths.begin(), out->paths.end(), [](const RetainedPath& a, const RetainedPath& b) {
      return a.bytes != b.bytes ? a.bytes > b.bytes : a.frames < b.frames;
    });
    out->paths_cut = cut_;
  }

 private:
  struct Node {
    uint32_t parent, label, depth;
  };

  uint32_t Label(const std::string& s) {
    auto [it, added] = label_index_.try_emplace(s, static_cast<uint32_t>(labels_.size()));
    if (added) labels_.push_back(s);
    return it->second;
  }
  uint32_t Child(uint32_t parent, uint32_t label) {
    const uint64_t key = uint64_t{parent} << 32 | label;
    if (key == last_key_) return last_child_;  // an object's words mostly reach the same kind of thing
    auto [it, added] = child_index_.try_emplace(key, static_cast<uint32_t>(nodes_.size()));
    if (added) nodes_.push_back({parent, label, parent ? nodes_[parent].depth + 1 : 0});
    last_key_ = key;
    return last_child_ = it->second;
  }
  // "T", or "[]T" for an object that holds several (an array, a slice's backing).
  uint32_t TypeLabel(const HeapObject& obj, const std::string& name, uint64_t size) {
    return Label(size && obj.size >= 2 * size ? "[]" + name : name);
  }
  // The type the runtime recorded for obj (its malloc header or span); DWARF
  // then knows its fields by that name.
  void SetRuntimeType(const HeapObject& obj, uint64_t type_addr) {
    const RuntimeType* t = types_.At(type_addr);
    if (!t) return;
    type_of_[obj.index] = TypeLabel(obj, t->name, t->size);
    if (dwarf_ && !dwarf_of_[obj.index]) dwarf_of_[obj.index] = DwarfIndex(dwarf_->Named(t->name));
  }
  uint32_t DwarfLabel(const HeapObject& obj, uint32_t index) {
    const DwarfTypes::TypeId t = dwarf_ids_[index];
    const uint64_t size = dwarf_->Size(t);
    const bool array = size && obj.size >= 2 * size;
    auto [it, added] = dwarf_labels_.try_emplace(uint64_t{index} << 1 | array, 0);
    if (added) {
      const std::string name = dwarf_->Name(t);
      it->second = name.empty() ? 0 : Label(array ? "[]" + name : name);
    }
    return it->second;
  }
  // A small index for a DWARF type (0: none), so each object holds 4 bytes.
  uint32_t DwarfIndex(DwarfTypes::TypeId t) {
    if (t == DwarfTypes::kNone) return 0;
    auto [it, added] = dwarf_index_.try_emplace(t, static_cast<uint32_t>(dwarf_ids_.size()));
    if (added) dwarf_ids_.push_back(t);
    return it->second;
  }

  const HeapSpans& heap_;
  RuntimeTypes& types_;
  DwarfTypes* dwarf_;
  const uint32_t max_depth_;
  std::vector<uint32_t> node_of_;  // by object index
  std::vector<uint32_t> type_of_;  // by object index: a label, 0 if the runtime recorded none
  std::vector<uint32_t> dwarf_of_;  // by object index: a DwarfIndex, 0 if not known (empty without DWARF)
  std::vector<DwarfTypes::TypeId> dwarf_ids_;
  std::unordered_map<DwarfTypes::TypeId, uint32_t> dwarf_index_;
  std::unordered_map<uint64_t, uint32_t> dwarf_labels_;  // DwarfIndex << 1 | array -> label (0: unnamed)
  uint32_t root_pointee_ = 0;
  std::vector<std::string> labels_;
  std::unordered_map<std::string, uint32_t> label_index_;
  std::vector<Node> nodes_;  // node 0: above every root
  std::unordered_map<uint64_t, uint32_t> child_index_;
  uint64_t last_key_ = UINT64_MAX;
  uint32_t last_child_ = 0;
  std::unordered_map<uint64_t, uint32_t> size_labels_;  // size << 1 | noscan -> label
  uint32_t current_ = 0;
  uint64_t cut_ = 0;
};

// The function a frame's pc is in, inlined ones included (`go f(x)` runs f
// inlined into a wrapper from go1.22). pc is a return address.
std::string FrameFunction(const TargetProcess& target, uint64_t pc) {
  std::vector<Frame> frames = target.binary->Symbolize(pc - 1 - target.load_bias);
  return frames.empty() ? fmt::format("{:#x}", pc - target.load_bias) : frames.front().function;
}

}  // namespace

Retention MeasureRetention(const TargetProcess& target, const RuntimeLayout& layout, const RetentionOptions& opts) {
  Retention out;
  out.pid = target.pid;
  out.go_version = target.binary->go_version();
  ProcessMemory mem(target.pid);
  RuntimeTypes types(target, layout, mem);
  GlobalNames globals(target.binary->elf());
  // Field names and the types of objects the runtime does not record, where
  // the binary has DWARF; read before the process is stopped.
  std::unique_ptr<DwarfTypes> dwarf;
  try {
    dwarf = DwarfTypes::Read(target.binary->path());
  } catch (const Error& e) {
    out.notes.push_back(std::string(e.what()) + ": chains without field names");
  }

  WhileStopped(target.pid, [&](Freezer& freezer) {
    HeapSpans heap = HeapSpans::Read(mem, layout, target.load_bias);
    HeapMarker marker(mem, heap);
    HeapRoots roots(target, layout, mem, heap, marker);
    std::vector<GRecord> gs = roots.ReadGoroutines();
    marker.OnBatch([&] { freezer.CheckStoppedWithin(opts.max_pause_seconds); });
    Attribution chains(heap, types, dwarf.get(), opts.max_depth);
    marker.Observe(&chains);

    // One root at a time: what one root reaches is all marked (and so its own)
    // before the next root starts.
    std::pair<std::string, std::string> last;
    auto start = [&](std::string root, std::string sub = "") {
      if (last.first == root && last.second == sub) return;
      marker.Drain();
      chains.StartRoot(root, sub);
      last = {std::move(root), std::move(sub)};
    };
    roots.OnRoot([&](const RootSite& site) {
      switch (site.kind) {
        case RootSite::Kind::kGlobal: {
          const uint64_t addr = site.addr - target.load_bias;
          const DwarfTypes::Global* g = dwarf ? dwarf->GlobalAt(addr) : nullptr;
          std::optional<DwarfTypes::PointerField> field = g ? dwarf->PointerAt(g->type, addr - g->addr) : std::nullopt;
          start(globals.Name(addr) + (field ? field->path : ""));
          if (field) chains.SetRootPointee(field->pointee);
          return;
        }
        case RootSite::Kind::kFrame:
          return start(FrameFunction(target, site.pc) + " (frame)", fmt::format("sp+{:#x}", site.offset));
        case RootSite::Kind::kStack:
          return start("stack of " + FrameFunction(target, site.g->startpc + 1) + " (read conservatively)");
        case RootSite::Kind::kGoroutine:
          return start("goroutine descriptors (runtime.g)");
        case RootSite::Kind::kTimers:
          return start("timers");
        case RootSite::Kind::kFinalizer:
          return start("finalizers and cleanups");
        case RootSite::Kind::kThread:
          return start("threads (registers, system stacks)");
      }
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
