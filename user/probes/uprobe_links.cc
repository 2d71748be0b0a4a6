#include "probes/uprobe_links.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "elf_file.h"
#include "error.h"
#include "probe_cookie.h"
#include "probe_sites.h"
#include "process/target_process.h"

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
  probes_++;
}

void UprobeLinks::AttachAll(bpf_program* prog, const std::string& path, const ElfFile& elf, pid_t pid,
                            std::span<const uint64_t> vaddrs, std::span<const uint64_t> cookies) {
  if (vaddrs.empty()) return;
  std::vector<unsigned long> offsets;
  std::vector<uint64_t> cookie_of;
  for (size_t i = 0; i < vaddrs.size(); ++i) {
    auto offset = elf.vaddr_to_offset(vaddrs[i]);
    if (!offset) throw Error(fmt::format("{}: address {:#x} is not in the file", path, vaddrs[i]));
    offsets.push_back(*offset);
    cookie_of.push_back(i < cookies.size() ? cookies[i] : i + 1);
  }
  if (bpf_program__expected_attach_type(prog) != BPF_TRACE_UPROBE_MULTI) {
    for (size_t i = 0; i < vaddrs.size(); ++i) Attach(prog, path, elf, pid, vaddrs[i], cookie_of[i]);
    return;
  }
  static_assert(sizeof(unsigned long) == sizeof(uint64_t));
  LIBBPF_OPTS(bpf_uprobe_multi_opts, opts, .offsets = offsets.data(),
              .cookies = reinterpret_cast<const __u64*>(cookie_of.data()), .cnt = offsets.size());
  bpf_link* link = bpf_program__attach_uprobe_multi(prog, pid, path.c_str(), nullptr, &opts);
  if (!link) {
    int err = errno;
    throw Error(fmt::format("{} uprobes in {} (first at {:#x}): {}", vaddrs.size(), path, vaddrs[0],
                            std::strerror(err)));
  }
  links_.push_back(link);
  probes_ += vaddrs.size();
}

uint64_t UprobeLinks::CookieOf(const ProbeSite& site, uint64_t index) {
  return index | (site.at_stack_check_branch ? PROBE_AT_STACK_CHECK_BRANCH : 0);
}

void UprobeLinks::AttachSite(bpf_program* prog, const TargetProcess& target, const ProbeSite& site) {
  std::vector<uint64_t> cookies;
  for (size_t i = 0; i < site.addresses.size(); ++i) cookies.push_back(CookieOf(site, i + 1));
  AttachAll(prog, target.exe_path, target.binary->elf(), target.pid, site.addresses, cookies);
}

void UprobeLinks::DetachAll() {
  // Each removal waits for an RCU grace period (~50-100 ms here); in parallel
  // those waits overlap instead of adding up.
  std::vector<std::thread> threads;
  for (size_t i = 1; i < links_.size(); ++i) threads.emplace_back([l = links_[i]] { bpf_link__destroy(l); });
  if (!links_.empty()) bpf_link__destroy(links_[0]);
  for (auto& t : threads) t.join();
  links_.clear();
  probes_ = 0;
}

namespace {

// Tests make goscope take the paths a kernel without a feature takes:
// GOSCOPE_PRETEND_KERNEL_LACKS=uprobe_multi,ringbuf,attach_cookie (any of them).
bool PretendLacks(const char* feature) {
  const char* v = std::getenv("GOSCOPE_PRETEND_KERNEL_LACKS");
  if (!v) return false;
  std::string list = std::string(",") + v + ",";
  return list.find(std::string(",") + feature + ",") != std::string::npos;
}

// Asks the kernel, as libbpf's own feature probe does: a trivial program
// loaded for uprobe_multi, and a multi link on "/", which fails with EBADF
// where the link type exists (the path is no regular file) and EINVAL where
// it does not. Backports make the kernel's version number no answer.
bool ProbeUprobeMulti() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                   // exit
  };
  LIBBPF_OPTS(bpf_prog_load_opts, load_opts, .expected_attach_type = BPF_TRACE_UPROBE_MULTI);
  int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, nullptr, "GPL", insns, 2, &load_opts);
  if (prog < 0) return false;
  unsigned long offset = 0;
  LIBBPF_OPTS(bpf_link_create_opts, link_opts);
  link_opts.uprobe_multi.path = "/";
  link_opts.uprobe_multi.offsets = &offset;
  link_opts.uprobe_multi.cnt = 1;
  int link = bpf_link_create(prog, -1, BPF_TRACE_UPROBE_MULTI, &link_opts);
  int err = errno;
  if (link >= 0) close(link);
  close(prog);
  return link < 0 && err == EBADF;
}

}  // namespace

bool KernelHasUprobeMulti() {
  static const bool has = !PretendLacks("uprobe_multi") && ProbeUprobeMulti();
  return has;
}

void PrepareUprobeMulti(bpf_object* obj) {
  if (!KernelHasUprobeMulti()) return;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE && !std::strcmp(bpf_program__section_name(prog), "uprobe"))
      bpf_program__set_expected_attach_type(prog, BPF_TRACE_UPROBE_MULTI);
  }
}

namespace {

// Whether the effective capability set holds cap (capget(2); no libcap needed).
bool HasCapability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1;
}

}  // namespace

bool CanLoadBpf(std::string* why) {
  // Root has them all; otherwise CAP_BPF and CAP_PERFMON load and attach the
  // programs (CAP_SYS_ADMIN covers both on any kernel), CAP_SYS_PTRACE reads
  // and writes the target's memory and opens its /proc/PID/exe.
  const bool bpf = HasCapability(CAP_SYS_ADMIN) || (HasCapability(CAP_BPF) && HasCapability(CAP_PERFMON));
  if (!bpf || !HasCapability(CAP_SYS_PTRACE)) {
    *why = "missing capabilities: goscope needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE";
    return false;
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    *why = "kernel has no BTF (/sys/kernel/btf/vmlinux); CO-RE programs cannot load";
    return false;
  }
  // Asked of the kernel, not read off its version (distributions backport).
  if (PretendLacks("ringbuf") || libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) != 1) {
    *why = "kernel has no BPF ring buffer (Linux 5.8+)";
    return false;
  }
  if (PretendLacks("attach_cookie") ||
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, nullptr) != 1) {
    *why = "kernel has no BPF attach cookies (Linux 5.15+)";
    return false;
  }
  return true;
}

}  // namespace goscope
