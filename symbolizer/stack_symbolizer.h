// Turns addresses read from a running process into frames. The one place
// that knows a runtime address is a link-time one plus the load bias, that a
// return address is looked up at the call before it (pc-1, as Go's traceback
// does), and that a goroutine's stack ends above runtime.goexit. Knows
// nothing of processes: the caller says where the binary is loaded.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frame.h"
#include "go_binary.h"

namespace goscope {

// One executable segment of the binary at runtime addresses (a profile's mapping).
struct BinaryMapping {
  uint64_t start = 0, limit = 0, offset = 0;
  std::string file, build_id;
};

// Frames for an address, innermost first (a profile's location symbolizer).
using FrameLookup = std::function<std::vector<Frame>(uint64_t pc)>;

class StackSymbolizer {
 public:
  StackSymbolizer(std::shared_ptr<const GoBinary> bin, uint64_t load_bias)
      : bin_(std::move(bin)), bias_(load_bias) {}

  const GoBinary& binary() const { return *bin_; }
  uint64_t load_bias() const { return bias_; }

  // Frames at pc itself (a function entry, a goroutine's startpc, the pc of
  // a trapped frame); pc and entry are runtime addresses. Empty outside every
  // Go function.
  std::vector<Frame> AtPc(uint64_t pc) const;
  // Frames of the call a return address returns from; each frame's pc is the
  // return address itself.
  std::vector<Frame> AtReturnAddress(uint64_t return_address) const;
  // A stack of return addresses, innermost first: inlined frames expanded,
  // one "?" frame for an address outside every Go function, cut above
  // runtime.goexit (the frame every goroutine returns into; a frame-pointer
  // walk can read on past it).
  std::vector<Frame> Stack(const std::vector<uint64_t>& return_addresses) const;
  // Go's "created by" for a goroutine's gopc: the physical function holding
  // the go statement, at the innermost file:line. Nullopt outside every function.
  std::optional<Frame> CreatedBy(uint64_t gopc) const;

  // AtReturnAddress as a function that shares the binary (for profiles).
  FrameLookup ReturnAddressLookup() const;
  // The binary's executable segments where it is loaded; path names the file.
  std::vector<BinaryMapping> Mappings(const std::string& path) const;

 private:
  std::shared_ptr<const GoBinary> bin_;
  uint64_t bias_;
};

}  // namespace goscope
