// Owns the uprobe links of one attach session: every probe goes through here,
// so detaching is one destructor and no probe outlives goscope's intent.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

struct bpf_link;
struct bpf_object;
struct bpf_program;

namespace goscope {

class ElfFile;
struct ProbeSite;
struct TargetProcess;

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
  // The same for several addresses, address i with cookie i+1 (or cookies[i]
  // when given). One uprobe_multi link where the program was prepared for it
  // (PrepareUprobeMulti), else one link per address.
  void AttachAll(bpf_program* prog, const std::string& path, const ElfFile& elf, pid_t pid,
                 std::span<const uint64_t> vaddrs, std::span<const uint64_t> cookies = {});
  // Every address of a probe site in target's file, address i with cookie
  // i+1, flagged when the site is a stack check's branch (bpf/probe_cookie.h).
  void AttachSite(bpf_program* prog, const TargetProcess& target, const ProbeSite& site);
  // The cookie of a site's address i for a program that keeps its own index.
  static uint64_t CookieOf(const ProbeSite& site, uint64_t index);
  size_t size() const { return probes_; }  // probes (addresses), not links
  void DetachAll();

 private:
  std::vector<bpf_link*> links_;
  size_t probes_ = 0;
};

// Whether the kernel has uprobe_multi links (Linux 6.6+), asked of the kernel
// once per process.
bool KernelHasUprobeMulti();

// Call between a skeleton's open and load: where the kernel has uprobe_multi
// links, makes every uprobe program of obj attach through them. Worth
// it: the kernel waits for an RCU grace period (~0.1 s here) each time it
// removes a single uprobe, but once for a whole multi link, so detaching 300
// init-function probes takes 0.1 s instead of 40.
void PrepareUprobeMulti(bpf_object* obj);

// Whether this process can load goscope's BPF programs: capabilities, BTF,
// ring buffers and attach cookies (probed); *why says what is missing.
bool CanLoadBpf(std::string* why);

}  // namespace goscope
