// Runtime variables in a binary with neither DWARF nor symbols: the runtime's
// own functions reference them RIP-relative, so decoding a few known functions
// reveals their addresses (the way profilers find TLS offsets). Each recipe
// checks the shape it expects and yields nothing rather than a guess.
#pragma once
#include <string>

#include "go_binary.h"
#include "runtime_layout.h"

namespace goscope {

// runtime.allgs, runtime.allglen, runtime.MemProfileRate, runtime.waitReasonStrings
// (and its #size), runtime.work, runtime.memstats, runtime.sched,
// runtime.gcController, runtime.allp, runtime.mheap_, runtime.semtable, with
// source kDisassembly; absent keys where a recipe did not match. offsets: field
// offsets some recipes match accesses against.
RuntimeLayout FindVariablesByDisassembly(const GoBinary& bin, const RuntimeLayout& offsets);

// Everything known about the runtime layout of bin, best source first:
// DWARF, then the symbol table (variable addresses and sizes), then the
// per-version table (offsets, sizes, constants), then disassembly (variables).
// Unreadable DWARF is not fatal: *dwarf_error (if given) says why it was skipped.
RuntimeLayout ResolveRuntimeLayout(const GoBinary& bin, std::string* dwarf_error = nullptr);

}  // namespace goscope
