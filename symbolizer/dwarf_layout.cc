#include "dwarf_layout.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "error.h"

namespace goscope {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};
struct ElfHandle {
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf) elf_end(elf);
  }
};
struct DwarfHandle {
  Dwarf* dw = nullptr;
  ~DwarfHandle() {
    if (dw) dwarf_end(dw);
  }
};

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

// A missing .debug_info means "no DWARF" (-w, -s, strip), which is normal and
// not an error; libdw's own "no DWARF" error code is not public API.
bool HasDebugInfo(Elf* elf) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (!name) continue;
    // .zdebug_info: GNU-style compression (older Go releases, objcopy);
    // libdw inflates it as well as SHF_COMPRESSED sections.
    if (std::strcmp(name, ".debug_info") == 0 || std::strcmp(name, ".zdebug_info") == 0) {
      return shdr.sh_type != SHT_NOBITS && shdr.sh_size > 0;
    }
  }
  return false;
}

// libdw inflates every compressed debug section when it opens a file, and in
// a large Go binary line tables, location lists and frames are most of that
// work (for cmd/compile 5 of 7 MB compressed) though only .debug_info and
// .debug_abbrev are read here. Marking them SHT_NOBITS in our private mapping
// makes libdw skip them: 3-5x faster on 30-60 MB binaries. Best effort; the
// file itself is never written (no elf_update).
void HideUnusedDebugSections(Elf* elf) {
  static constexpr std::string_view kUnused[] = {
      "line", "loc", "loclists", "frame", "ranges", "rnglists", "aranges",
      "pubnames", "pubtypes", "macro", "macinfo", "gdb_scripts", "names"};
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr)) continue;
    const char* cname = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (!cname) continue;
    std::string_view name(cname);
    if (name.starts_with(".debug_")) {
      name.remove_prefix(7);
    } else if (name.starts_with(".zdebug_")) {
      name.remove_prefix(8);
    } else {
      continue;
    }
    for (std::string_view unused : kUnused) {
      if (name == unused) {
        shdr.sh_type = SHT_NOBITS;
        gelf_update_shdr(scn, &shdr);
        break;
      }
    }
  }
}

std::optional<uint64_t> ReadUleb128(const unsigned char* p, const unsigned char* end) {
  uint64_t v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    v |= uint64_t(*p & 0x7f) << shift;
    if (!(*p++ & 0x80)) return v;
  }
  return std::nullopt;
}

std::optional<Dwarf_Die> TypeOf(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  Dwarf_Die type;
  if (!dwarf_attr_integrate(die, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &type)) {
    return std::nullopt;
  }
  return type;
}

std::optional<uint64_t> MemberOffset(Dwarf_Die* member) {
  Dwarf_Attribute attr;
  if (!dwarf_attr(member, DW_AT_data_member_location, &attr)) {
    // DWARF allows omitting it for offset 0 in unions; Go always emits it.
    return std::nullopt;
  }
  switch (dwarf_whatform(&attr)) {
    case DW_FORM_exprloc:
    case DW_FORM_block:
    case DW_FORM_block1:
    case DW_FORM_block2:
    case DW_FORM_block4: {
      // Old-style location expression; only DW_OP_plus_uconst N means an offset.
      Dwarf_Block block;
      if (dwarf_formblock(&attr, &block) != 0 || block.length < 2 || block.data[0] != DW_OP_plus_uconst) {
        return std::nullopt;
      }
      return ReadUleb128(block.data + 1, block.data + block.length);
    }
    default: {
      Dwarf_Word w = 0;
      if (dwarf_formudata(&attr, &w) != 0) return std::nullopt;
      return w;
    }
  }
}

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

std::optional<uint64_t> TypeSize(Dwarf_Die type) {
  Dwarf_Word size = 0;
  if (dwarf_aggregate_size(&type, &size) != 0) return std::nullopt;
  return size;
}

// Decoded by hand: Go writes DW_FORM_block1 where DWARF 4 wants exprloc, and
// libdw's dwarf_getlocation rejects block forms in version 4 units. 64-bit
// targets only (DW_OP_addr with an 8-byte operand).
std::optional<uint64_t> VariableAddress(Dwarf_Die* var) {
  Dwarf_Attribute attr;
  Dwarf_Block block;
  if (!dwarf_attr(var, DW_AT_location, &attr) || dwarf_formblock(&attr, &block) != 0) {
    return std::nullopt;
  }
  if (block.length != 9 || block.data[0] != DW_OP_addr) return std::nullopt;
  uint64_t addr = 0;
  for (int i = 8; i >= 1; --i) addr = addr << 8 | block.data[i];
  return addr;
}

std::optional<uint64_t> ConstantValue(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  if (!dwarf_attr(die, DW_AT_const_value, &attr)) return std::nullopt;
  // Go writes DW_FORM_sdata; formsdata also accepts dataN and udata.
  Dwarf_Sword v = 0;
  if (dwarf_formsdata(&attr, &v) != 0) return std::nullopt;
  return static_cast<uint64_t>(v);
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
  elf_version(EV_CURRENT);

  Fd fd{open(elf_path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) throw Error("dwarf: cannot open " + elf_path + ": " + std::strerror(errno));
  // A private mapping, so HideUnusedDebugSections may edit section headers.
  ElfHandle elf{elf_begin(fd.fd, ELF_C_READ_MMAP_PRIVATE, nullptr)};
  if (!elf.elf || elf_kind(elf.elf) != ELF_K_ELF) {
    throw Error("dwarf: " + elf_path + " is not an ELF file");
  }
  if (!HasDebugInfo(elf.elf)) return layout;
  HideUnusedDebugSections(elf.elf);

  DwarfHandle dw{dwarf_begin_elf(elf.elf, DWARF_C_READ, nullptr)};
  if (!dw.dw) {
    throw Error("dwarf: " + elf_path + ": cannot read DWARF: " + dwarf_errmsg(-1));
  }

  static const Wanted wanted;
  Scanner scanner{wanted, layout, {}};
  Dwarf_CU* cu = nullptr;
  Dwarf_Die cudie;
  uint8_t unit_type = 0;
  int rc;
  // A unit whose header is broken ends the walk (rc < 0): keep what was found.
  while ((rc = dwarf_get_units(dw.dw, cu, &cu, nullptr, &unit_type, &cudie, nullptr)) == 0) {
    if (unit_type != DW_UT_compile) continue;
    const char* name = dwarf_diename(&cudie);
    if (name && std::strcmp(name, "runtime") == 0) scanner.ScanUnit(&cudie);
  }
  scanner.ResolveTypes();
  if (rc < 0 && layout.empty()) {
    throw Error("dwarf: " + elf_path + ": cannot walk units: " + dwarf_errmsg(-1));
  }
  return layout;
}

}  // namespace goscope
