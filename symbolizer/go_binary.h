// Everything goscope knows about one Go executable without running it: ELF,
// build info, pclntab, moduledata, runtime layout. Immutable once opened and
// shared (per build id) between every process that runs the same binary.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "build_info.h"
#include "elf_file.h"
#include "moduledata.h"
#include "pclntab.h"
#include "relocations.h"

namespace goscope {

class GoBinary {
 public:
  // Throws Error with a one-line reason when the file is not a readable Go ELF binary.
  static std::shared_ptr<const GoBinary> Open(const std::string& path);
  // Same, from an already opened ELF (fuzzing, tests).
  static std::shared_ptr<const GoBinary> FromElf(std::unique_ptr<ElfFile> elf);

  const std::string& path() const { return elf_->path(); }
  const ElfFile& elf() const { return *elf_; }
  const Pclntab& pclntab() const { return *pclntab_; }
  const Relocations& relocations() const { return *relocations_; }
  const std::optional<BuildInfo>& build_info() const { return build_info_; }
  const std::optional<Moduledata>& moduledata() const { return moduledata_; }
  // Where the pclntab's text start came from: "pclntab header", or, when the
  // header has none (Go 1.26+), "moduledata.text" or "runtime.text symbol".
  std::string_view text_start_origin() const { return text_start_origin_; }

  // "go1.22.12", or "" when the binary does not say (Go < 1.13 without build info).
  const std::string& go_version() const { return go_version_; }
  // (1, minor) parsed from go_version, nullopt when unknown.
  std::optional<std::pair<int, int>> version() const;
  bool has_dwarf() const;
  bool has_symtab() const { return elf_->has_symtab(); }
  // Identity for caching: GNU build id, else Go build id, else "".
  std::string identity() const;

  // Frames at pc (a link-time virtual address), innermost first, wrappers marked.
  std::vector<Frame> Symbolize(uint64_t pc) const { return pclntab_->Symbolize(pc); }

 private:
  explicit GoBinary(std::unique_ptr<ElfFile> elf);
  void RebaseText();

  std::unique_ptr<ElfFile> elf_;
  std::unique_ptr<Relocations> relocations_;
  std::unique_ptr<Pclntab> pclntab_;
  std::optional<BuildInfo> build_info_;
  std::optional<Moduledata> moduledata_;
  std::string go_version_;
  std::string_view text_start_origin_ = "pclntab header";
};

}  // namespace goscope
