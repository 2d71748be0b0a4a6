// A Go binary's DWARF opened with libdw, and the few DIE readings goscope
// needs (a DIE's type, a member's offset, a type's size, a variable's
// address, a constant). Shared by the runtime-layout reader and the type
// reader; knows nothing of which names they look for.
#pragma once
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <libelf.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace goscope {

class DwarfFile {
 public:
  // nullptr when the binary has no DWARF (-w, -s, strip): normal, not an
  // error. Throws Error when the file cannot be opened, is not ELF, or has
  // DWARF libdw cannot read. Line tables, location lists and frames are not
  // loaded (hidden in a private mapping; the file is never written).
  static std::unique_ptr<DwarfFile> Open(const std::string& path);
  ~DwarfFile();
  DwarfFile(const DwarfFile&) = delete;
  DwarfFile& operator=(const DwarfFile&) = delete;

  // Calls fn with each compile unit's DIE and its name (may be ""). Returns
  // false if a unit header was broken part-way (the walk stops there).
  bool ForEachUnit(const std::function<void(Dwarf_Die* cu, const char* name)>& fn) const;
  Dwarf* dwarf() const { return dw_; }
  const std::string& path() const { return path_; }

 private:
  DwarfFile() = default;
  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  Dwarf* dw_ = nullptr;
};

std::optional<Dwarf_Die> TypeOf(Dwarf_Die* die);
std::optional<uint64_t> MemberOffset(Dwarf_Die* member);
std::optional<uint64_t> TypeSize(Dwarf_Die type);
// DW_OP_addr locations only (a global variable).
std::optional<uint64_t> VariableAddress(Dwarf_Die* var);
std::optional<uint64_t> ConstantValue(Dwarf_Die* die);

}  // namespace goscope
