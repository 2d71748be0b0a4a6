#include "session/stack_symbolizer.h"

namespace goscope {

std::vector<GoFrame> SymbolizeStack(const GoBinary& bin, uint64_t load_bias, const std::vector<uint64_t>& pcs) {
  std::vector<GoFrame> out;
  for (uint64_t pc : pcs) {
    auto frames = bin.Symbolize(pc - load_bias - 1);
    if (frames.empty()) {
      out.push_back({"?", "", 0, pc});
      continue;
    }
    // Go's own tracebacks end above runtime.goexit, the frame every goroutine returns into.
    if (frames.back().function == "runtime.goexit") break;
    for (const Frame& f : frames) out.push_back({std::string(f.function), std::string(f.file), f.line, pc});
  }
  return out;
}

GoFrame SymbolizeCaller(const GoBinary& bin, uint64_t load_bias, uint64_t return_address) {
  auto frames = bin.Symbolize(return_address - load_bias - 1);
  if (frames.empty()) return {"?", "", 0, return_address};
  // The innermost position is where the go statement is; the outermost name is the function it is in.
  return {std::string(frames.back().function), std::string(frames.front().file), frames.front().line,
          return_address};
}

}  // namespace goscope
