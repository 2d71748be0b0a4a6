// runtime.firstmoduledata: the runtime's own index of a binary's tables. We need
// it for two things the pclntab header lacks: the start of the text that
// function entries are offsets from (Go 1.26+ store 0 in the header; the
// runtime itself reads moduledata.text), and the go:func.* base that 1.18+
// funcdata offsets (inline trees) are relative to.
#pragma once
#include <optional>
#include <string_view>

#include "pclntab.h"
#include "provenance.h"
#include "relocations.h"

namespace goscope {

struct Moduledata {
  Sourced address;  // of runtime.firstmoduledata
  uint64_t text = 0;
  uint64_t gofunc = 0;  // 0 when its offset in this release is not known
};

// By symbol when there is one, else by finding the pointer to the pclntab that is
// its first field (validated by the funcnametab slice that follows).
// go_version picks the field offsets (from the layout table; for a release the
// table does not know, the newest known layout, each value validated).
std::optional<Moduledata> FindModuledata(const ElfFile& elf, const Relocations& rel, const Pclntab& tab,
                                         std::string_view go_version);

}  // namespace goscope
