#include "dwarf_reader.h"

#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "error.h"
#include "varint.h"

namespace goscope {
namespace {

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

}  // namespace

std::unique_ptr<DwarfFile> DwarfFile::Open(const std::string& path) {
  elf_version(EV_CURRENT);
  std::unique_ptr<DwarfFile> f(new DwarfFile);
  f->path_ = path;
  f->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0) throw Error("dwarf: cannot open " + path + ": " + std::strerror(errno));
  // A private mapping, so HideUnusedDebugSections may edit section headers.
  f->elf_ = elf_begin(f->fd_, ELF_C_READ_MMAP_PRIVATE, nullptr);
  if (!f->elf_ || elf_kind(f->elf_) != ELF_K_ELF) throw Error("dwarf: " + path + " is not an ELF file");
  if (!HasDebugInfo(f->elf_)) return nullptr;
  HideUnusedDebugSections(f->elf_);
  f->dw_ = dwarf_begin_elf(f->elf_, DWARF_C_READ, nullptr);
  if (!f->dw_) throw Error("dwarf: " + path + ": cannot read DWARF: " + dwarf_errmsg(-1));
  return f;
}

DwarfFile::~DwarfFile() {
  if (dw_) dwarf_end(dw_);
  if (elf_) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

bool DwarfFile::ForEachUnit(const std::function<void(Dwarf_Die* cu, const char* name)>& fn) const {
  Dwarf_CU* cu = nullptr;
  Dwarf_Die cudie;
  uint8_t unit_type = 0;
  int rc;
  while ((rc = dwarf_get_units(dw_, cu, &cu, nullptr, &unit_type, &cudie, nullptr)) == 0) {
    if (unit_type != DW_UT_compile) continue;
    const char* name = dwarf_diename(&cudie);
    fn(&cudie, name ? name : "");
  }
  return rc >= 0;
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
      size_t off = 1;
      return Uvarint(std::span<const uint8_t>(block.data, block.length), &off);
    }
    default: {
      Dwarf_Word w = 0;
      if (dwarf_formudata(&attr, &w) != 0) return std::nullopt;
      return w;
    }
  }
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

}  // namespace goscope
