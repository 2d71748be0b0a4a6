// Runtime layout from a Go binary's own DWARF: the authoritative source when
// present, since it describes exactly the runtime that binary was built with
// (including release candidates and patched toolchains the table never saw).
#pragma once
#include <string>

#include "runtime_layout.h"

namespace goscope {

// Everything in CanonicalLayoutItems()/CanonicalConstantPrefixes() that the
// binary's DWARF describes, with source kDwarf. Empty when the binary has no
// DWARF (built with -ldflags=-w or -s, or stripped). Throws Error when the file
// cannot be opened or is not ELF, or when DWARF sections exist but libdw cannot
// read them at all; a unit that fails to parse part-way is skipped, keeping what
// was found.
RuntimeLayout ReadDwarfLayout(const std::string& elf_path);

}  // namespace goscope
