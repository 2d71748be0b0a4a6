// A frame: one source position a pc stands for. Inlined calls make several
// frames share one pc. The one frame type goscope has: the symbolizer makes
// it, the goroutine model keeps it, every writer prints it.
#pragma once
#include <cstdint>
#include <string>

namespace goscope {

struct Frame {
  std::string function;  // as the symbol table names it ("main.(*T).Run", "main.Map[...]" after GoFuncNameForPrint)
  std::string file;
  int64_t line = 0;
  uint64_t pc = 0;       // the address looked up, as the caller gave it (a return address stays one)
  uint64_t entry = 0;    // entry of the physical function pc is in, in pc's address space
  bool inlined = false;  // inlined into the next frame (same pc)
  bool wrapper = false;  // compiler-generated wrapper (Go's tracebacks hide these)

  // An address outside every Go function, shown as Go shows it: "?".
  static Frame Unknown(uint64_t pc) {
    Frame f;
    f.function = "?";
    f.pc = pc;
    return f;
  }
};

}  // namespace goscope
