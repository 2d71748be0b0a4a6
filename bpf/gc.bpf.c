// SPDX-License-Identifier: GPL-2.0
// Garbage-collection cycles and stop-the-world pauses. Three entry probes
// (sites from symbolizer/probe_sites, cheap entry sites):
//   runtime.gcStart(trigger gcTrigger)   AX = trigger.kind; R14 = the calling g
//   runtime.stopTheWorldWithSema(...)    runs on g0 (R14); m.curg is the stopper;
//                                        AL = stwReason from go1.21
//   runtime.startTheWorldWithSema(...)   world still stopped
// A cycle is read from the runtime's own record, runtime.work, at the
// startTheWorldWithSema that ends mark termination: by then gcMarkTermination
// has written work.tEnd (and every other field gctrace prints) in every
// release 1.19-1.24. A new tEnd is what tells that start apart from others.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "go_runtime.bpf.h"
#include "gc_events.h"

const volatile struct gc_offsets off = {};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

// (pid, goid) -> trigger kind of that goroutine's latest gcStart call. The
// goroutine that wins gcStart is the one that then stops the world for sweep
// termination.
struct trigger_key {
  __u32 pid;
  __u32 pad;
  __u64 goid;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct trigger_key);
  __type(value, __s64);
} triggers SEC(".maps");

// The processes traced (one probe set may serve every process of a binary):
// user space adds each with its load bias (runtime.work moves with a PIE) and
// its attach time as last_t_end, so that a cycle which ended before the probes
// were live is not reported. Processes not in the map are ignored.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, struct gc_proc);
} procs SEC(".maps");

__u64 events_lost = 0;

static __always_inline struct gc_event *reserve(__u32 kind) {
  struct gc_event *e = RESERVE_EVENT(&events, struct gc_event, kind, &events_lost);
  if (!e) return 0;
  const __u64 body = __builtin_offsetof(struct gc_event, goid);  // the header is set
  __builtin_memset((char *)e + body, 0, sizeof(*e) - body);
  e->trigger_kind = -1;
  return e;
}

static __always_inline struct gc_proc *traced(void) {
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  return bpf_map_lookup_elem(&procs, &pid);
}

SEC("uprobe")
int on_gc_start(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  if (!traced()) return 0;
  struct trigger_key key = {.pid = bpf_get_current_pid_tgid() >> 32, .goid = read_u64(current_g(ctx) + off.g_goid)};
  __s64 kind = (__s64)ctx->ax;
  if (key.goid) bpf_map_update_elem(&triggers, &key, &kind, BPF_ANY);
  return 0;
}

SEC("uprobe")
int on_stop_the_world(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  if (!traced()) return 0;
  struct gc_event *e = reserve(GC_EV_STW_STOP);
  if (!e) return 0;
  e->reason = (__u8)ctx->ax;
  __u64 curg = user_g(current_g(ctx), off.g_m, off.m_curg);
  __u64 goid = curg ? read_u64(curg + off.g_goid) : 0;
  e->goid = goid;
  if (goid) {
    struct trigger_key key = {.pid = e->pid, .goid = goid};
    __s64 *kind = bpf_map_lookup_elem(&triggers, &key);
    if (kind) {
      e->trigger_kind = *kind;
      bpf_map_delete_elem(&triggers, &key);
    }
  }
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  return 0;
}

SEC("uprobe")
int on_start_the_world(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  struct gc_proc *proc = traced();
  if (!proc) return 0;
  struct gc_event *e = reserve(GC_EV_STW_START);
  if (!e) return 0;
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);

  // The world is stopped: no other startTheWorldWithSema of this process runs concurrently.
  if (!off.work) return 0;
  __u64 w = off.work + proc->bias;
  __s64 t_end = (__s64)read_u64(w + off.w_t_end);
  if (t_end <= proc->last_t_end) return 0;
  proc->last_t_end = t_end;
  struct gc_event *c = reserve(GC_EV_CYCLE);
  if (!c) return 0;
  c->cycles = read_u32(w + off.w_cycles);
  c->user_forced = read_u32(w + off.w_user_forced) & 0xff;
  c->t_sweep_term = (__s64)read_u64(w + off.w_t_sweep_term);
  c->t_mark = (__s64)read_u64(w + off.w_t_mark);
  c->t_mark_term = (__s64)read_u64(w + off.w_t_mark_term);
  c->t_end = t_end;
  c->pause_ns = (__s64)read_u64(w + off.w_pause_ns);
  c->heap0 = read_u64(w + off.w_heap0);
  c->heap1 = read_u64(w + off.w_heap1);
  c->heap2 = read_u64(w + off.w_heap2);
  bpf_ringbuf_submit(c, BPF_RB_NO_WAKEUP);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
