// SPDX-License-Identifier: GPL-2.0
// Goroutine lifecycle: a creation event when a new g is handed to the
// scheduler, an exit event when a goroutine ends (if that probe is attached).
// The creator's stack is walked at the first creation by each go statement
// of a process only: a busy server creates a goroutine per request at a
// handful of go statements, and the walk is most of the program's cost. Probe
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

// Go statements whose stacks were sent, direct-mapped by a hash of (pid,
// gopc): an array look-up costs a fraction of a hash map's, and a collision
// only means a stack is walked again.
#define WALKED_SLOT_BITS 13
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1 << WALKED_SLOT_BITS);
  __type(key, __u32);
  __type(value, struct goroutine_site_key);
} walked_sites SEC(".maps");

static __always_inline struct goroutine_site_key *walked_slot(const struct goroutine_site_key *site) {
  __u32 i = (__u32)(((site->gopc ^ ((__u64)site->pid << 32)) * 0x9E3779B97F4A7C15ULL) >> (64 - WALKED_SLOT_BITS));
  return bpf_map_lookup_elem(&walked_sites, &i);
}

// The creator is the goroutine that was running on this thread when it
// switched to the system stack (g0 -> m -> curg); its saved frame pointer
// starts the walk. The first return address should be the go statement's pc;
// user space keeps the stack only when it is.
static __always_inline void creator_stack(struct pt_regs *ctx, struct goroutine_event *e) {
  __u64 g0 = current_g(ctx);
  __u64 curg = user_g(g0, off.g_m, off.m_curg);
  if (!curg || curg == g0) return;
  e->creator_goid = read_u64(curg + off.g_goid);
  e->nframes = walk_frame_pointers(read_u64(curg + off.g_sched_bp), e->stack, 0, GOROUTINE_STACK_MAX, 1, 0);
}

struct new_g {
  __u64 goid, parent_goid, gopc, startpc;
};

static __always_inline __u64 window_u64(const __u8 *w, __u64 field) {
  __u64 v;
  __builtin_memcpy(&v, w + (field - off.g_window_lo), sizeof(v));
  return v;
}

// Each bpf_probe_read_user costs about as much as the rest of the program:
// one read of the window where user space found one fits.
static __always_inline void read_new_g(__u64 newg, struct new_g *g) {
  if (off.g_window_len && off.g_window_len <= GOROUTINE_G_WINDOW) {
    __u8 w[GOROUTINE_G_WINDOW];
    if (bpf_probe_read_user(w, off.g_window_len, (void *)(newg + off.g_window_lo))) {
      g->goid = g->parent_goid = g->gopc = g->startpc = 0;
      return;
    }
    g->goid = window_u64(w, off.g_goid);
    g->parent_goid = off.g_parent_goid ? window_u64(w, off.g_parent_goid) : 0;
    g->gopc = window_u64(w, off.g_gopc);
    g->startpc = window_u64(w, off.g_startpc);
    return;
  }
  g->goid = read_u64(newg + off.g_goid);
  g->parent_goid = off.g_parent_goid ? read_u64(newg + off.g_parent_goid) : 0;
  g->gopc = read_u64(newg + off.g_gopc);
  g->startpc = read_u64(newg + off.g_startpc);
}

static __always_inline int emit_create(struct pt_regs *ctx, __u64 newg) {
  struct new_g g;
  read_new_g(newg, &g);
  struct goroutine_site_key site = {.pid = bpf_get_current_pid_tgid() >> 32, .gopc = g.gopc};
  struct goroutine_site_key *slot = walked_slot(&site);
  if (slot && slot->gopc == site.gopc && slot->pid == site.pid) {
    struct goroutine_create_event *c =
        RESERVE_EVENT(&events, struct goroutine_create_event, GOROUTINE_CREATE_SITE, &events_lost);
    if (!c) return 0;
    c->goid = g.goid;
    c->parent_goid = g.parent_goid;
    c->gopc = g.gopc;
    c->startpc = g.startpc;
    bpf_ringbuf_submit(c, BPF_RB_NO_WAKEUP);
    return 0;
  }
  struct goroutine_event *e = RESERVE_EVENT(&events, struct goroutine_event, GOROUTINE_CREATE, &events_lost);
  if (!e) return 0;
  e->goid = g.goid;
  e->parent_goid = g.parent_goid;
  e->gopc = g.gopc;
  e->startpc = g.startpc;
  e->creator_goid = 0;
  e->nframes = 0;
  creator_stack(ctx, e);
  // Only a walk user space will trust (GOROUTINE_GOPC_WITHIN), sent, marks the site walked.
  bool valid = false;
  for (int i = 0; i < GOROUTINE_GOPC_WITHIN; i++)
    if (i < e->nframes && e->stack[i] == site.gopc) valid = true;
  bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  if (valid && slot) *slot = site;
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
int on_goexit_r14(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  return emit_exit(current_g(ctx));
}

// runtime.gdestroy(gp) runs on g0 with the dead goroutine in AX.
SEC("uprobe")
int on_gdestroy_ax(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  return emit_exit(ctx->ax);
}

char LICENSE[] SEC("license") = "GPL";
