// Turns return addresses read from a live process into Go frames: subtract the
// load bias, look up pc-1 (the call instruction, as Go's traceback does) and
// expand inlined calls.
#pragma once
#include <cstdint>
#include <vector>

#include "go_binary.h"
#include "model/goroutine.h"

namespace goscope {

// Frames for a stack of return addresses (innermost first), inlined frames
// expanded; an address outside every Go function yields one "?" frame.
std::vector<GoFrame> SymbolizeStack(const GoBinary& bin, uint64_t load_bias, const std::vector<uint64_t>& pcs);

// The outermost function at a return address (Go's "created by" line).
GoFrame SymbolizeCaller(const GoBinary& bin, uint64_t load_bias, uint64_t return_address);

}  // namespace goscope
