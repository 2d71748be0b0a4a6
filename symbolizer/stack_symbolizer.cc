#include "stack_symbolizer.h"

#include <elf.h>

#include "go_names.h"

namespace goscope {

std::vector<Frame> StackSymbolizer::AtPc(uint64_t pc) const {
  std::vector<Frame> frames = bin_->Symbolize(pc - bias_);
  for (Frame& f : frames) {
    f.pc = pc;
    f.entry += bias_;
  }
  return frames;
}

std::vector<Frame> StackSymbolizer::AtReturnAddress(uint64_t return_address) const {
  std::vector<Frame> frames = AtPc(return_address - 1);
  for (Frame& f : frames) f.pc = return_address;
  return frames;
}

std::vector<Frame> StackSymbolizer::Stack(const std::vector<uint64_t>& return_addresses) const {
  std::vector<Frame> out;
  for (uint64_t ra : return_addresses) {
    std::vector<Frame> frames = AtReturnAddress(ra);
    if (frames.empty()) {
      out.push_back(Frame::Unknown(ra));
      continue;
    }
    if (IsGoroutineRoot(frames.back().function)) break;
    for (Frame& f : frames) out.push_back(std::move(f));
  }
  return out;
}

std::optional<Frame> StackSymbolizer::CreatedBy(uint64_t gopc) const {
  std::vector<Frame> frames = AtReturnAddress(gopc);
  if (frames.empty()) return std::nullopt;
  // The physical function (outermost), at the go statement's own line (innermost).
  Frame c = frames.back();
  c.file = frames.front().file;
  c.line = frames.front().line;
  c.inlined = false;
  return c;
}

FrameLookup StackSymbolizer::ReturnAddressLookup() const {
  StackSymbolizer self = *this;
  return [self](uint64_t pc) { return self.AtReturnAddress(pc); };
}

std::vector<BinaryMapping> StackSymbolizer::Mappings(const std::string& path) const {
  std::vector<BinaryMapping> out;
  for (const auto& s : bin_->elf().segments())
    if (s.type == PT_LOAD && (s.flags & PF_X))
      out.push_back({s.vaddr + bias_, s.vaddr + bias_ + s.memsz, s.offset, path, bin_->elf().build_id()});
  return out;
}

}  // namespace goscope
