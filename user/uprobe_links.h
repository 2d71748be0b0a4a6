// Owns the uprobe links of one attach session: every probe goes through here,
// so detaching is one destructor and no probe outlives goscope's intent.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

struct bpf_link;
struct bpf_program;

namespace goscope {

class ElfFile;

class UprobeLinks {
 public:
  UprobeLinks() = default;
  ~UprobeLinks();
  UprobeLinks(const UprobeLinks&) = delete;
  UprobeLinks& operator=(const UprobeLinks&) = delete;

  // Attaches prog at link-time address vaddr of the ELF at path (for pid, or -1
  // for every process of the binary). Throws Error naming the site on failure.
  void Attach(bpf_program* prog, const std::string& path, const ElfFile& elf, pid_t pid, uint64_t vaddr,
              uint64_t cookie);
  size_t size() const { return links_.size(); }
  void DetachAll();

 private:
  std::vector<bpf_link*> links_;
};

// Whether this process can load BPF programs; *why says what is missing.
bool CanLoadBpf(std::string* why);

}  // namespace goscope
