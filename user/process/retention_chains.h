// The chains that keep a heap's objects alive, built as a HeapMarker marks
// (goscope retain): a tree of path nodes (a root, then the object each step
// passes through, named by its type and the field it points on through), the
// node each reached object hangs under, and the type the runtime (malloc
// header, span) or DWARF (the field that points to it) gives it. 8 bytes per
// object slot, 12 with DWARF. Knows nothing of how roots are found or named.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "dwarf_types.h"
#include "model/retention.h"
#include "process/heap_marker.h"
#include "process/heap_spans.h"
#include "process/runtime_types.h"

namespace goscope {

class RetentionChains : public MarkObserver {
 public:
  // dwarf: the binary's types, or null (stripped): then chains name objects
  // by what the runtime records only.
  RetentionChains(const HeapSpans& heap, RuntimeTypes& types, DwarfTypes* dwarf, int max_depth);

  // The chain objects reached from now on start from (root, then sub).
  void StartRoot(const std::string& root, const std::string& sub = "");
  // The DWARF type a root word points to, when known (a global's field).
  void SetRootPointee(DwarfTypes::TypeId t) { root_pointee_ = DwarfIndex(t); }

  void Reached(const HeapObject& obj, const HeapObject* from, uint64_t offset) override;
  void Scanning(const HeapObject& obj, uint64_t offset, const uint8_t* data, size_t len) override;

  // Every marked object under its chain, into out->paths (bytes descending),
  // with the totals. Reads nothing of the process.
  void Collect(const HeapMarker& marker, Retention* out);

 private:
  struct Node {
    uint32_t parent, label, depth;
  };

  // What a reached object is called: its type, else its size.
  uint32_t ObjectLabel(const HeapObject& obj);
  uint32_t Label(const std::string& s);
  uint32_t Child(uint32_t parent, uint32_t label);
  // "T", or "[]T" for an object that holds several.
  uint32_t TypeLabel(const HeapObject& obj, const std::string& name, uint64_t size);
  // The type the runtime recorded for obj (its malloc header or span); DWARF
  // then knows its fields by that name.
  void SetRuntimeType(const HeapObject& obj, uint64_t type_addr);
  uint32_t DwarfLabel(const HeapObject& obj, uint32_t index);
  // A small index for a DWARF type (0: none), so each object holds 4 bytes.
  uint32_t DwarfIndex(DwarfTypes::TypeId t);

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

}  // namespace goscope
