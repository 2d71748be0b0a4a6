// The names of the runtime's type descriptors (runtime._type, from 1.21
// internal/abi.Type) in a live process: what a malloc header or span.largeType
// points at. Names are read from the process (relative to moduledata.types),
// so stripped binaries have them too. Knows nothing of the heap or of who
// holds a type pointer.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "process/process_memory.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

struct RuntimeType {
  std::string name;  // "main.Record", "[]uint8", "map.group[string]*main.Record"
  uint64_t size = 0;
};

class RuntimeTypes {
 public:
  // Without the layout of the type descriptor or of moduledata.types every
  // lookup answers nullopt (available() says so).
  RuntimeTypes(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem);
  bool available() const { return types_ != 0; }

  // The type at addr; nullopt unless addr lies in the module's type data and
  // reads as a type descriptor with a plausible name. Cached.
  const RuntimeType* At(uint64_t addr);

 private:
  std::optional<RuntimeType> Read(uint64_t addr) const;

  const ProcessMemory& mem_;
  uint64_t types_ = 0, etypes_ = 0;  // [moduledata.types, moduledata.etypes) in the process
  uint64_t size_off_ = 0, tflag_off_ = 0, str_off_ = 0;
  std::unordered_map<uint64_t, std::optional<RuntimeType>> cache_;
};

}  // namespace goscope
