#include "go_binary.h"

#include <fmt/format.h>

#include "error.h"

namespace goscope {

GoBinary::GoBinary(std::unique_ptr<ElfFile> elf) : elf_(std::move(elf)) {
  relocations_ = std::make_unique<Relocations>(*elf_);
  pclntab_ = FindPclntab(*elf_);
  build_info_ = ReadBuildInfo(*elf_);
  if (!pclntab_)
    throw Error(fmt::format("{}: not a Go binary (no Go pclntab{})", elf_->path(),
                            build_info_ ? ", though it has Go build info" : ""));
  if (build_info_) go_version_ = build_info_->go_version;
  moduledata_ = FindModuledata(*elf_, *relocations_, *pclntab_, go_version_);
  if (moduledata_) pclntab_->set_gofunc(moduledata_->gofunc);
  if (pclntab_->format() != PclntabFormat::kGo116 && !pclntab_->text_start_in_header()) RebaseText();
  // abi.FuncIDWrapper is the last FuncID: 1.22 added corostart, 1.25 split
  // runfinq into runFinalizers and runCleanups (internal/abi/symtab.go).
  const int minor = version() ? version()->second : 0;
  pclntab_->set_wrapper_func_id(minor >= 25 ? 23 : minor >= 22 ? 22 : 21);
}

// Go 1.26+ (and some externally linked PIE builds before) leave the pclntab's
// text start 0: take it where the runtime does, moduledata.text, else from
// the runtime.text symbol. Without either every address would be wrong.
void GoBinary::RebaseText() {
  if (moduledata_) {
    text_start_origin_ = "moduledata.text";
    pclntab_->set_text_start(moduledata_->text);
  } else if (const ElfSymbol* s = elf_->symbol("runtime.text")) {
    text_start_origin_ = "runtime.text symbol";
    pclntab_->set_text_start(s->value);
  } else {
    throw Error(fmt::format("{}: the pclntab does not store where the text starts ({}), and neither "
                            "runtime.firstmoduledata nor a runtime.text symbol was found",
                            elf_->path(), go_version_.empty() ? "Go 1.26+" : go_version_));
  }
}

std::shared_ptr<const GoBinary> GoBinary::Open(const std::string& path) { return FromElf(ElfFile::Open(path)); }

std::shared_ptr<const GoBinary> GoBinary::FromElf(std::unique_ptr<ElfFile> elf) {
  return std::shared_ptr<const GoBinary>(new GoBinary(std::move(elf)));
}

std::optional<std::pair<int, int>> GoBinary::version() const { return ParseGoVersion(go_version_); }

bool GoBinary::has_dwarf() const {
  return elf_->section(".debug_info") || elf_->section(".zdebug_info");
}

std::string GoBinary::identity() const {
  if (!elf_->build_id().empty()) return "gnu:" + elf_->build_id();
  if (!elf_->go_build_id().empty()) return "go:" + elf_->go_build_id();
  return "";
}

}  // namespace goscope
