// SPDX-License-Identifier: GPL-2.0
// Goroutine lifecycle: a creation event (with the creator's stack) when a new
// g is handed to the scheduler, an exit event when a goroutine ends. Probe
// sites come from the binary reader (symbolizer/probe_sites): the CALL runqput
// after newproc1 (BX = new g), the return site of other newproc1 callers
// (AX = new g), and runtime.gdestroy (AX = dead g) or runtime.goexit1 (R14).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "go_runtime.bpf.h"
#include "goroutine_events.h"

const volatile struct goroutine_offsets off = {};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 << 20);
} events SEC(".maps");

__u64 events_lost = 0;

// The creator is the goroutine that was running on this thread when it
// switched to the system stack (g0 -> m -> curg); its saved frame pointer
// starts the walk. The first return address should be the go statement's pc;
// user space keeps the stack only when it is.
static __always_inline void creator_stack(struct pt_regs *ctx, struct goroutine_event *e) {
  __u64 g0 = current_g(ctx);
  __u64 curg = user_g(g0, off.g_m, off.m_curg);
  if (!curg || curg == g0) return;
  e->creator_goid = read_u64(curg + off.g_goid);
  e->nframes = walk_frame_pointers(read_u64(curg + off.g_sched_bp), e->stack, 0, GOROUTINE_STACK_MAX, 1);
}

static __always_inline int emit_create(struct pt_regs *ctx, __u64 newg) {
  struct goroutine_event *e = RESERVE_EVENT(&events, struct goroutine_event, GOROUTINE_CREATE, &events_lost);
  if (!e) return 0;
  e->goid = read_u64(newg + off.g_goid);
  e->parent_goid = off.g_parent_goid ? read_u64(newg + off.g_parent_goid) : 0;
  e->gopc = read_u64(newg + off.g_gopc);
  e->startpc = read_u64(newg + off.g_startpc);
  e->creator_goid = 0;
  e->nframes = 0;
  creator_stack(ctx, e);
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  return 0;
}

SEC("uprobe")
int on_newg_bx(struct pt_regs *ctx) { return emit_create(ctx, ctx->bx); }

SEC("uprobe")
int on_newg_ax(struct pt_regs *ctx) { return emit_create(ctx, ctx->ax); }

static __always_inline int emit_exit(__u64 g) {
  struct goroutine_exit_event *e = RESERVE_EVENT(&events, struct goroutine_exit_event, GOROUTINE_EXIT, &events_lost);
  if (!e) return 0;
  e->goid = read_u64(g + off.g_goid);
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  return 0;
}

// runtime.goexit1 runs on the exiting goroutine: R14 is its g.
SEC("uprobe")
int on_goexit_r14(struct pt_regs *ctx) { return emit_exit(current_g(ctx)); }

// runtime.gdestroy(gp) runs on g0 with the dead goroutine in AX.
SEC("uprobe")
int on_gdestroy_ax(struct pt_regs *ctx) { return emit_exit(ctx->ax); }

char LICENSE[] SEC("license") = "GPL";
