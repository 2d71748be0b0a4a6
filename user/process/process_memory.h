// Reads a live process's memory (process_vm_readv, falling back to
// /proc/PID/mem). Read-only by construction: the one write goscope ever makes
// (MemProfileRate) lives elsewhere and says so.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace goscope {

class ProcessMemory {
 public:
  explicit ProcessMemory(pid_t pid);
  ~ProcessMemory();
  ProcessMemory(const ProcessMemory&) = delete;
  ProcessMemory& operator=(const ProcessMemory&) = delete;

  pid_t pid() const { return pid_; }
  // Reads len bytes at addr into out; false if any byte is unreadable.
  bool Read(uint64_t addr, void* out, size_t len) const;
  std::optional<uint64_t> ReadU64(uint64_t addr) const;
  std::optional<uint32_t> ReadU32(uint64_t addr) const;
  std::optional<uint8_t> ReadU8(uint64_t addr) const;
  // The elements of a Go slice of pointers whose header {ptr, len, cap} is at
  // addr; nullopt if unreadable or no plausible slice (longer than its cap or
  // max_len, or no array behind it).
  std::optional<std::vector<uint64_t>> ReadPointerSlice(uint64_t addr, size_t max_len) const;
  // A Go string header {ptr, len} at addr; nullopt if unreadable or longer than max_len.
  std::optional<std::string> ReadGoString(uint64_t addr, size_t max_len = 4096) const;

  // One range of a batched read.
  struct Piece {
    uint64_t addr = 0;
    void* out = nullptr;
    size_t len = 0;
    bool ok = false;  // set by ReadMany
  };
  // Reads many ranges with as few system calls as possible (process_vm_readv
  // takes up to 1024 ranges per call); sets each piece's ok. Returns how many
  // pieces were read in full.
  size_t ReadMany(std::span<Piece> pieces) const;

 private:
  bool ReadProcMem(uint64_t addr, void* out, size_t len) const;

  pid_t pid_;
  mutable int mem_fd_ = -1;           // /proc/PID/mem, opened on first fallback
  mutable bool use_proc_mem_ = false;  // process_vm_readv refused (ENOSYS, EPERM)
};

// The elements of a runtime slice of pointers that the caller cannot do
// without (runtime.allgs, mheap_.allspans), its header {ptr, len, cap} at
// addr. Throws Error naming `what` when the process is gone, the header cannot
// be read, it is no plausible slice (len over cap or max_len, no array) or
// its array cannot be read.
std::vector<uint64_t> ReadRuntimePointerSlice(const ProcessMemory& mem, uint64_t addr, size_t max_len,
                                              std::string_view what);

}  // namespace goscope
