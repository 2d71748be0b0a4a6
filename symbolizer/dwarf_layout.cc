#include "dwarf_layout.h"

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "dwarf_reader.h"
#include "error.h"

namespace goscope {
namespace {

// What to look for, indexed by the DWARF name it is found under.
struct Wanted {
  std::map<std::string_view, std::vector<const LayoutItem*>, std::less<>> types;
  std::map<std::string_view, std::vector<const LayoutItem*>, std::less<>> variables;
  std::set<std::string_view, std::less<>> constants;

  Wanted() {
    for (const LayoutItem& item : CanonicalLayoutItems()) {
      switch (item.kind) {
        case LayoutKind::kField:
        case LayoutKind::kTypeSize: types[item.name].push_back(&item); break;
        case LayoutKind::kVariable:
        case LayoutKind::kVariableSize: variables[item.name].push_back(&item); break;
        case LayoutKind::kConstant: constants.insert(item.name); break;
      }
    }
  }

  bool wants_constant(std::string_view name) const {
    if (constants.contains(name)) return true;
    for (std::string_view prefix : CanonicalConstantPrefixes()) {
      if (name.starts_with(prefix)) return true;
    }
    return false;
  }
};

// Offset of a dotted member path ("sched.sp") inside the struct type `type`.
std::optional<uint64_t> FieldOffset(Dwarf_Die type, std::string_view path) {
  uint64_t total = 0;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view want = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);

    Dwarf_Die peeled;
    if (dwarf_peel_type(&type, &peeled) != 0) return std::nullopt;
    Dwarf_Die child;
    if (dwarf_child(&peeled, &child) != 0) return std::nullopt;
    bool found = false;
    do {
      if (dwarf_tag(&child) != DW_TAG_member) continue;
      const char* name = dwarf_diename(&child);
      if (!name || want != name) continue;
      auto off = MemberOffset(&child);
      if (!off) return std::nullopt;
      total += *off;
      if (!path.empty()) {
        auto next = TypeOf(&child);
        if (!next) return std::nullopt;
        type = *next;
      }
      found = true;
      break;
    } while (dwarf_siblingof(&child, &child) == 0);
    if (!found) return std::nullopt;
  }
  return total;
}

void Put(RuntimeLayout& layout, std::string key, uint64_t value) {
  layout.values.try_emplace(std::move(key), Sourced{value, Source::kDwarf});
}

// Go's linker writes one unit per package plus one per assembly file, and puts
// every type DIE and the runtime's variables and constants in units named
// "runtime"; only their top-level DIEs matter, so nothing else is decoded.
struct Scanner {
  const Wanted& wanted;
  RuntimeLayout& layout;
  std::map<std::string_view, Dwarf_Die, std::less<>> types;  // name -> DIE

  void ScanUnit(Dwarf_Die* cu) {
    Dwarf_Die die;
    if (dwarf_child(cu, &die) != 0) return;
    do {
      const char* cname = dwarf_diename(&die);
      if (!cname) continue;
      std::string_view name(cname);
      switch (dwarf_tag(&die)) {
        case DW_TAG_structure_type:
        case DW_TAG_typedef: {
          auto it = wanted.types.find(name);
          if (it == wanted.types.end()) break;
          // Prefer the struct itself over a typedef of the same name.
          auto [slot, inserted] = types.try_emplace(it->first, die);
          if (!inserted && dwarf_tag(&slot->second) == DW_TAG_typedef) slot->second = die;
          break;
        }
        case DW_TAG_variable: {
          auto it = wanted.variables.find(name);
          if (it == wanted.variables.end()) break;
          for (const LayoutItem* item : it->second) {
            std::optional<uint64_t> v;
            if (item->kind == LayoutKind::kVariable) {
              v = VariableAddress(&die);
            } else if (auto t = TypeOf(&die)) {
              v = TypeSize(*t);
            }
            if (v) Put(layout, item->key(), *v);
          }
          break;
        }
        case DW_TAG_constant:
          if (wanted.wants_constant(name)) {
            if (auto v = ConstantValue(&die)) Put(layout, std::string(name), *v);
          }
          break;
        default: break;
      }
    } while (dwarf_siblingof(&die, &die) == 0);
  }

  void ResolveTypes() {
    for (const auto& [name, items] : wanted.types) {
      auto it = types.find(name);
      if (it == types.end()) continue;
      for (const LayoutItem* item : items) {
        auto v = item->kind == LayoutKind::kTypeSize ? TypeSize(it->second)
                                                     : FieldOffset(it->second, item->field);
        if (v) Put(layout, item->key(), *v);
      }
    }
  }
};

}  // namespace

RuntimeLayout ReadDwarfLayout(const std::string& elf_path) {
  RuntimeLayout layout;
  std::unique_ptr<DwarfFile> file = DwarfFile::Open(elf_path);
  if (!file) return layout;
  static const Wanted wanted;
  Scanner scanner{wanted, layout, {}};
  const bool whole = file->ForEachUnit([&](Dwarf_Die* cu, const char* name) {
    if (std::strcmp(name, "runtime") == 0) scanner.ScanUnit(cu);
  });
  scanner.ResolveTypes();
  // A unit whose header is broken ends the walk: keep what was found.
  if (!whole && layout.empty()) throw Error("dwarf: " + elf_path + ": cannot walk units: " + dwarf_errmsg(-1));
  return layout;
}

}  // namespace goscope
