#include "dwarf_types.h"

#include <algorithm>

#include "dwarf_reader.h"

namespace goscope {
namespace {

constexpr int kMaxNesting = 16;  // fields within fields, arrays within arrays

}  // namespace

DwarfTypes::~DwarfTypes() = default;

std::unique_ptr<DwarfTypes> DwarfTypes::Read(const std::string& elf_path) {
  std::unique_ptr<DwarfFile> file = DwarfFile::Open(elf_path);
  if (!file) return nullptr;
  std::unique_ptr<DwarfTypes> out(new DwarfTypes);
  // Go's linker puts globals at the top level of their package's unit and
  // every type at the top level of the runtime's units.
  file->ForEachUnit([&](Dwarf_Die* cu, const char*) {
    Dwarf_Die die;
    if (dwarf_child(cu, &die) != 0) return;
    do {
      const char* name = dwarf_diename(&die);
      if (!name) continue;
      switch (dwarf_tag(&die)) {
        case DW_TAG_variable: {
          std::optional<uint64_t> addr = VariableAddress(&die);
          std::optional<Dwarf_Die> type = TypeOf(&die);
          if (!addr || !type) break;
          out->globals_.push_back({*addr, TypeSize(*type).value_or(8), name, dwarf_dieoffset(&*type)});
          break;
        }
        case DW_TAG_structure_type:
        case DW_TAG_pointer_type:
        case DW_TAG_array_type:
        case DW_TAG_base_type:
        case DW_TAG_typedef:
          // A struct wins over a typedef of the same name.
          if (auto [it, added] = out->by_name_.try_emplace(name, dwarf_dieoffset(&die));
              !added && dwarf_tag(&die) == DW_TAG_structure_type)
            it->second = dwarf_dieoffset(&die);
          break;
        default:
          break;
      }
    } while (dwarf_siblingof(&die, &die) == 0);
  });
  std::sort(out->globals_.begin(), out->globals_.end(),
            [](const Global& a, const Global& b) { return a.addr < b.addr; });
  out->file_ = std::move(file);
  return out;
}

const DwarfTypes::Global* DwarfTypes::GlobalAt(uint64_t addr) const {
  auto it = std::upper_bound(globals_.begin(), globals_.end(), addr,
                             [](uint64_t a, const Global& g) { return a < g.addr; });
  if (it == globals_.begin()) return nullptr;
  --it;
  return addr < it->addr + it->size ? &*it : nullptr;
}

DwarfTypes::TypeId DwarfTypes::Named(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? kNone : it->second;
}

std::string DwarfTypes::Name(TypeId t) { return t == kNone ? "" : Decode(t).name; }
uint64_t DwarfTypes::Size(TypeId t) { return t == kNone ? 0 : Decode(t).size; }

const DwarfTypes::Type& DwarfTypes::Decode(TypeId t) {
  if (auto it = types_.find(t); it != types_.end()) return it->second;
  Type& out = types_[t];
  Dwarf_Die die;
  if (!dwarf_offdie(file_->dwarf(), t, &die)) return out;
  // A typedef (Go's map and channel types, some named types) is its target.
  for (int n = 0; dwarf_tag(&die) == DW_TAG_typedef && n < kMaxNesting; n++) {
    std::optional<Dwarf_Die> target = TypeOf(&die);
    if (!target) return out;
    die = *target;
  }
  const char* name = dwarf_diename(&die);
  out.name = name ? name : "";
  out.size = TypeSize(die).value_or(0);
  switch (dwarf_tag(&die)) {
    case DW_TAG_pointer_type:
      out.kind = Type::Kind::kPointer;
      if (std::optional<Dwarf_Die> target = TypeOf(&die)) out.target = dwarf_dieoffset(&*target);
      out.size = 8;
      break;
    case DW_TAG_array_type:
      out.kind = Type::Kind::kArray;
      if (std::optional<Dwarf_Die> elem = TypeOf(&die)) out.target = dwarf_dieoffset(&*elem);
      break;
    case DW_TAG_structure_type: {
      out.kind = Type::Kind::kStruct;
      Dwarf_Die child;
      if (dwarf_child(&die, &child) != 0) break;
      do {
        if (dwarf_tag(&child) != DW_TAG_member) continue;
        const char* member = dwarf_diename(&child);
        std::optional<uint64_t> off = MemberOffset(&child);
        std::optional<Dwarf_Die> type = TypeOf(&child);
        if (member && off && type) out.members.push_back({member, *off, dwarf_dieoffset(&*type)});
      } while (dwarf_siblingof(&child, &child) == 0);
      break;
    }
    default:
      break;
  }
  return out;  // references into types_ survive its rehashing (node-based)
}

std::optional<DwarfTypes::PointerField> DwarfTypes::PointerAt(TypeId t, uint64_t offset) {
  const auto key = std::pair{t, offset};
  if (auto it = pointer_at_.find(key); it != pointer_at_.end()) return it->second;
  std::optional<PointerField> found;
  std::string path;
  for (int depth = 0; t != kNone && depth < kMaxNesting && !found; depth++) {
    const Type& type = Decode(t);
    if (type.kind == Type::Kind::kPointer) {
      if (offset == 0 && type.target != kNone) found = PointerField{path, type.target};
      break;
    }
    if (type.kind == Type::Kind::kArray) {
      const uint64_t elem = Size(type.target);
      if (!elem || offset >= type.size) break;
      offset %= elem;
      path += "[]";
      t = type.target;
      continue;
    }
    if (type.kind != Type::Kind::kStruct) break;
    const Member* in = nullptr;
    for (const Member& m : type.members)
      if (offset >= m.offset && offset < m.offset + std::max<uint64_t>(Size(m.type), 1)) in = &m;
    if (!in) break;
    offset -= in->offset;
    // A slice's or string's data pointer is the value itself, not a field of note.
    const bool header = type.name.starts_with("[]") || type.name == "string";
    if (!header) path += "." + in->name;
    t = in->type;
  }
  return pointer_at_[key] = found;
}

}  // namespace goscope
