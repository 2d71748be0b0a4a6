// SPDX-License-Identifier: GPL-2.0
// What every goscope BPF program does the same way: read the traced
// program's memory, find the goroutine a probe fired for (Go's register ABI
// keeps the current g in R14), walk frame pointers, and reserve a ring-buffer
// event with its header filled or count it lost. Include after vmlinux.h and
// bpf_helpers.h. Knows no runtime offsets: callers pass them.
#pragma once

#include "probe_cookie.h"

// At an entry probe: true on the pass that will branch to morestack, which
// re-enters the function (and fires the probe again). Only a probe on the
// stack check's `jbe morestack` sees that pass (go1.19/1.20 entry sites); its
// compare has run, so the flags decide the branch exactly: CF or ZF set.
static __always_inline bool goes_to_morestack(struct pt_regs *ctx) {
  return (bpf_get_attach_cookie(ctx) & PROBE_AT_STACK_CHECK_BRANCH) && (ctx->flags & 0x41);
}

static __always_inline __u64 read_u64(__u64 addr) {
  __u64 v = 0;
  bpf_probe_read_user(&v, sizeof(v), (void *)addr);
  return v;
}

static __always_inline __u32 read_u32(__u64 addr) {
  __u32 v = 0;
  bpf_probe_read_user(&v, sizeof(v), (void *)addr);
  return v;
}

// The g running on this thread: Go's ABIInternal keeps it in R14 (1.17+).
static __always_inline __u64 current_g(struct pt_regs *ctx) { return ctx->r14; }

// The user goroutine this thread works for: g.m.curg, which is g itself on a
// goroutine stack and the goroutine that switched to the system stack on g0.
// 0 when the thread has none (the scheduler, a GC worker between goroutines).
static __always_inline __u64 user_g(__u64 g, __u64 off_g_m, __u64 off_m_curg) {
  __u64 m = g ? read_u64(g + off_g_m) : 0;
  return m ? read_u64(m + off_m_curg) : 0;
}

// A stack's memory from lo, read in one go (the caller keeps it in a per-CPU
// map: it is bigger than a BPF stack allows): a frame inside it costs a copy,
// not a bpf_probe_read_user, whose fixed cost dwarfs what it copies: reading
// 16 bytes costs ~40 ns, a page ~130 ns (kernel 6.18). A walk that leaves the
// window refills it from the frame it reached, so a stack costs a read per
// page it spans, not one per frame. Exact heap mode at 27 frames: 950 ns per
// allocation with a 512-byte window and frame reads beyond, 560-600 with
// 1 KiB windows, 460-470 with a page; at 7 frames 200-280 ns in each.
#define STACK_WINDOW 4096
struct stack_window {
  __u64 lo;
  __u64 len;                      // bytes read from lo
  __u8 bytes[STACK_WINDOW + 16];  // +16: a 16-byte copy at any offset below STACK_WINDOW stays inside
};

// Fills w from lo: STACK_WINDOW bytes, or, where they run past the stack's
// mapping (near the top of a thread's stack), to the end of lo's page; empty
// if neither can be read.
static __always_inline void fill_stack_window(struct stack_window *w, __u64 lo) {
  w->lo = lo;
  w->len = STACK_WINDOW;
  if (bpf_probe_read_user(w->bytes, STACK_WINDOW, (void *)lo) == 0) return;
  __u64 len = 4096 - (lo & 4095);
  if (len > STACK_WINDOW) len = STACK_WINDOW;
  w->len = 0;
  if (len >= 16 && bpf_probe_read_user(w->bytes, len, (void *)lo) == 0) w->len = len;
}

// Whether w holds the 16 bytes at addr.
static __always_inline bool window_holds(const struct stack_window *w, __u64 addr) {
  return addr >= w->lo && addr - w->lo + 16 <= w->len;
}

// Reads the 16 bytes at addr (a frame: saved frame pointer, return address)
// into frame: from w (which may be null), refilled from addr when addr lies
// outside it, else from memory. 0 on success.
static __always_inline long read_frame(struct stack_window *w, __u64 addr, __u64 frame[2]) {
  if (w && !window_holds(w, addr)) fill_stack_window(w, addr);
  if (w && window_holds(w, addr)) {
    __builtin_memcpy(frame, w->bytes + ((addr - w->lo) & (STACK_WINDOW - 1)), 16);
    return 0;
  }
  return bpf_probe_read_user(frame, 16, (void *)addr);
}

// Follows the frame-pointer chain from bp, appending return addresses to
// out[n..max), reading frames through w (null: each frame read alone).
// Stops at a zero or misaligned frame pointer, an unreadable frame, a zero
// return address or max frames; and where the next frame pointer does not
// move on: grows_up, for one goroutine stack, demands it point higher;
// otherwise (a walk that may cross from the system stack to the goroutine
// stack) it need only differ. Returns the new n.
static __always_inline __u32 walk_frame_pointers(__u64 bp, __u64 *out, __u32 n, const int max, int grows_up,
                                                 struct stack_window *w) {
  for (int i = 0; i < max; i++) {
    if (n >= max || !bp || (bp & 7)) break;
    __u64 frame[2] = {};  // saved frame pointer, return address
    if (read_frame(w, bp, frame)) break;
    if (!frame[1]) break;
    out[n++] = frame[1];
    if (grows_up ? frame[0] <= bp : frame[0] == bp) break;
    bp = frame[0];
  }
  return n;
}

// Every event starts with kind, pid (the thread-group id) and ts
// (CLOCK_MONOTONIC ns, the clock of Go's nanotime). A full ring buffer is
// counted in *lost, the program's events_lost.
#define RESERVE_EVENT(ringbuf, type, event_kind, lost)                 \
  ({                                                                   \
    type *__e = bpf_ringbuf_reserve(ringbuf, sizeof(type), 0);         \
    if (__e) {                                                         \
      __e->kind = (event_kind);                                        \
      __e->pid = bpf_get_current_pid_tgid() >> 32;                     \
      __e->ts = bpf_ktime_get_ns();                                    \
    } else {                                                           \
      __sync_fetch_and_add(lost, 1);                                   \
    }                                                                  \
    __e;                                                               \
  })
