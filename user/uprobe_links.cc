#include "uprobe_links.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "elf_file.h"
#include "error.h"

namespace goscope {

UprobeLinks::~UprobeLinks() { DetachAll(); }

void UprobeLinks::Attach(bpf_program* prog, const std::string& path, const ElfFile& elf, pid_t pid, uint64_t vaddr,
                         uint64_t cookie) {
  auto offset = elf.vaddr_to_offset(vaddr);
  if (!offset) throw Error(fmt::format("{}: address {:#x} is not in the file", path, vaddr));
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = false);
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), *offset, &opts);
  if (!link) {
    int err = errno;
    throw Error(fmt::format("uprobe at {:#x} (file offset {:#x}) in {}: {}", vaddr, *offset, path,
                            std::strerror(err)));
  }
  links_.push_back(link);
}

void UprobeLinks::DetachAll() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
}

bool CanLoadBpf(std::string* why) {
  if (geteuid() != 0) {
    *why = "not root (goscope needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE)";
    return false;
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    *why = "kernel has no BTF (/sys/kernel/btf/vmlinux); CO-RE programs cannot load";
    return false;
  }
  return true;
}

}  // namespace goscope
