// SPDX-License-Identifier: GPL-2.0
// Counts hits per probe site. One program serves every site: the attach cookie
// is the site's index. `goscope probe-check` uses it to prove that the sites the
// binary reader chose are executed by a live process, before any tracer relies on them.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "go_runtime.bpf.h"
#include "probe_check.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, PROBE_CHECK_MAX_SITES);
  __type(key, __u32);
  __type(value, __u64);
} hits SEC(".maps");

// Set by user space once every probe is attached and cleared before the first
// is detached, so that all sites count over the same window.
volatile bool counting = false;

SEC("uprobe")
int count_hit(struct pt_regs *ctx) {
  if (!counting) return 0;
  if (goes_to_morestack(ctx)) return 0;  // count calls, not the pass that re-enters
  __u32 site = (__u32)bpf_get_attach_cookie(ctx);
  __u64 *n = bpf_map_lookup_elem(&hits, &site);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
