// runtime.firstmoduledata: the runtime's own index of a binary's tables. We need
// it for one thing the pclntab header lacks, the go:func.* base that 1.18+
// funcdata offsets (inline trees) are relative to.
#pragma once
#include <optional>

#include "pclntab.h"
#include "provenance.h"
#include "relocations.h"

namespace goscope {

struct Moduledata {
  Sourced address;  // of runtime.firstmoduledata
  uint64_t gofunc = 0;
};

// By symbol when there is one, else by finding the pointer to the pclntab that is
// its first field (validated by the funcnametab slice that follows).
std::optional<Moduledata> FindModuledata(const ElfFile& elf, const Relocations& rel, const Pclntab& tab);

}  // namespace goscope
