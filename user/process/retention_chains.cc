#include "process/retention_chains.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace goscope {
namespace {

constexpr uint32_t kMaxPathNodes = 1 << 20;  // past it, objects count at their parent's path

// An object at least twice its type's size is an array of it (a slice's
// backing): "[]T".
bool HoldsSeveral(const HeapObject& obj, uint64_t type_size) { return type_size && obj.size >= 2 * type_size; }

}  // namespace

RetentionChains::RetentionChains(const HeapSpans& heap, RuntimeTypes& types, DwarfTypes* dwarf, int max_depth)
    : heap_(heap), types_(types), dwarf_(dwarf), max_depth_(max_depth), node_of_(heap.objects()),
      type_of_(heap.objects()), dwarf_of_(dwarf ? heap.objects() : 0) {
  labels_.push_back("");  // label 0: not known
  nodes_.push_back({0, 0, 0});
  dwarf_ids_.push_back(DwarfTypes::kNone);  // 0: not known
}

void RetentionChains::StartRoot(const std::string& root, const std::string& sub) {
  uint32_t n = Child(0, Label(root));
  if (!sub.empty()) n = Child(n, Label(sub));
  current_ = n;
  root_pointee_ = 0;
}

void RetentionChains::Reached(const HeapObject& obj, const HeapObject* from, uint64_t offset) {
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
    field = dwarf_->PointerAt(t, size ? at % size : at);  // an element of an array of t
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

void RetentionChains::Scanning(const HeapObject& obj, uint64_t offset, const uint8_t* data, size_t len) {
  if (offset != 0 || len < 8 || !heap_.spans()[obj.span].malloc_header) return;
  uint64_t type;
  std::memcpy(&type, data, 8);
  SetRuntimeType(obj, type);
}

uint32_t RetentionChains::ObjectLabel(const HeapObject& obj) {
  if (uint32_t t = type_of_[obj.index]) return t;
  if (dwarf_ && dwarf_of_[obj.index])
    if (uint32_t t = DwarfLabel(obj, dwarf_of_[obj.index])) return t;
  auto [it, added] = size_labels_.try_emplace(obj.size << 1 | obj.noscan, 0);
  if (added)
    it->second = Label(obj.noscan ? fmt::format("({} B, no pointers)", obj.size) : fmt::format("({} B)", obj.size));
  return it->second;
}

void RetentionChains::Collect(const HeapMarker& marker, Retention* out) {
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

uint32_t RetentionChains::Label(const std::string& s) {
  auto [it, added] = label_index_.try_emplace(s, static_cast<uint32_t>(labels_.size()));
  if (added) labels_.push_back(s);
  return it->second;
}

uint32_t RetentionChains::Child(uint32_t parent, uint32_t label) {
  const uint64_t key = uint64_t{parent} << 32 | label;
  if (key == last_key_) return last_child_;  // an object's words mostly reach the same kind of thing
  auto [it, added] = child_index_.try_emplace(key, static_cast<uint32_t>(nodes_.size()));
  if (added) nodes_.push_back({parent, label, parent ? nodes_[parent].depth + 1 : 0});
  last_key_ = key;
  return last_child_ = it->second;
}

uint32_t RetentionChains::TypeLabel(const HeapObject& obj, const std::string& name, uint64_t size) {
  return Label(HoldsSeveral(obj, size) ? "[]" + name : name);
}

void RetentionChains::SetRuntimeType(const HeapObject& obj, uint64_t type_addr) {
  const RuntimeType* t = types_.At(type_addr);
  if (!t) return;
  type_of_[obj.index] = TypeLabel(obj, t->name, t->size);
  if (dwarf_ && !dwarf_of_[obj.index]) dwarf_of_[obj.index] = DwarfIndex(dwarf_->Named(t->name));
}

uint32_t RetentionChains::DwarfLabel(const HeapObject& obj, uint32_t index) {
  const DwarfTypes::TypeId t = dwarf_ids_[index];
  const uint64_t size = dwarf_->Size(t);
  auto [it, added] = dwarf_labels_.try_emplace(uint64_t{index} << 1 | HoldsSeveral(obj, size), 0);
  if (added) {
    const std::string name = dwarf_->Name(t);
    it->second = name.empty() ? 0 : TypeLabel(obj, name, size);
  }
  return it->second;
}

uint32_t RetentionChains::DwarfIndex(DwarfTypes::TypeId t) {
  if (t == DwarfTypes::kNone) return 0;
  auto [it, added] = dwarf_index_.try_emplace(t, static_cast<uint32_t>(dwarf_ids_.size()));
  if (added) dwarf_ids_.push_back(t);
  return it->second;
}

}  // namespace goscope
