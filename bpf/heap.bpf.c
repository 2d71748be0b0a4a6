// SPDX-License-Identifier: GPL-2.0
// Heap profiling that counts every allocation. (Sampled profiling needs no
// program: user space reads Go's own profile from the process's memory,
// user/process/heap_buckets.)
//
// Exact (on_mallocgc, and on_malloc_specialized on 1.27+): every allocation,
// aggregated in the kernel by (stack, accounted size); user space reads the
// maps at the end. No frees.
// With init attribution (goscope run) the key also holds the package init
// function running at the time (on_init_function: the last one entered; they
// never nest), whether the init goroutine itself allocated (GODEBUG=inittrace
// counts only those), and whether main.main had started; each of those marks
// is also one ring-buffer event, with its time.
//
// What the runtime passes (read in runtime/malloc.go):
//  mallocgc       (size, typ, needzero) = (AX, BX, CX) in 1.19-1.27; every heap
//                 allocation enters it up to 1.26 (1.24 dispatches to
//                 mallocgcTiny/Small*/Large from it). size 0 returns &zerobase:
//                 not an allocation.
//  mallocgc*SC<N> 1.27+: size-specialized allocators with mallocgc's arguments,
//                 called directly by compiled code and by mallocgc for every size
//                 below malloc_dispatch_below. Each allocation is counted once:
//                 at the specialized allocator, and at mallocgc only when it
//                 does not hand the allocation on: a probe on the first branch
//                 of its own path when the binary's code allows (one trap per
//                 allocation), else at its entry, skipping the sizes it hands
//                 on (two traps for those). A specialized call that came
//                 through mallocgc drops mallocgc's frame from its stack, so
//                 every path gives the stack a mallocgc entry probe would.
// The allocating goroutine: mallocgc runs on the goroutine that allocates,
// except when the runtime allocates on g0 for it (malg in newproc1); m.curg
// is that goroutine in both cases.
//
// Probe sites (symbolizer/probe_sites): the pushq rbp after the stack-check
// prologue; for go1.19's `sub rsp, N` frames, which have no emulated
// instruction there, the first instruction after the check (user/probes/heap_tracer.cc
// PastStackCheck). At both, RSP points at the return address, RBP still holds
// the caller's frame pointer and the argument registers hold their entry
// values; and both run once per completed call (a call that fails the stack
// check branches to morestack before reaching them and re-enters at the
// entry), so nothing is counted twice. An entry probe would be: it runs again
// after every morestack.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "go_runtime.bpf.h"
#include "heap_events.h"

const volatile struct heap_config cfg = {};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);  // user space shrinks it in exact mode
} events SEC(".maps");

__u64 events_lost = 0;

// Init attribution state, written by the mark probes on the init goroutine
// and read by every allocation.
__u32 init_fn_current = 0;
__u32 main_started = 0;

// Exact mode, 1.27+ (set by user space before attaching): mallocgc hands sizes
// below malloc_dispatch_below to the size-specialized allocators; mallocgc's
// code occupies [mallocgc_lo, mallocgc_hi) in the process. 0 before 1.27.
__u64 malloc_dispatch_below = 0;
__u64 mallocgc_lo = 0;
__u64 mallocgc_hi = 0;

// Exact mode. User space shrinks these to one entry in sampled mode.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct heap_exact_stack);
} exact_stacks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct heap_exact_key);
  __type(value, struct heap_exact_value);
} exact_counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct heap_exact_stack);
} exact_scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HEAP_EXACT_NCOUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} exact_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stack_window);
} stack_windows SEC(".maps");

// At the probe the return address is at [RSP] and RBP is the caller's frame
// pointer (not yet pushed): the walk starts with the return address, then
// follows the frame-pointer chain. The chain may cross from the system stack
// to the goroutine stack (malg allocates on g0; 1.21+ link the two), so frames
// need not grow monotonically; the walk stops at a zero, misaligned or
// self-referencing frame pointer, an unreadable frame, or max frames.
// skip_lo/skip_hi: a return address in that range (mallocgc's code, for a
// size-specialized allocator it called) is left out, and the walk starts at
// the frame it would return to. in_frame: the probe sits inside the function's
// body, its frame set up: the return address is at [RBP+8], not at [RSP].
static __always_inline __u32 walk_stack_skipping(struct pt_regs *ctx, __u64 *out, const int max, __u64 skip_lo,
                                                 __u64 skip_hi, int in_frame) {
  // Empty: the first frame read fills it from there (RSP, or RBP in_frame),
  // which holds the return address and the first frames.
  __u32 zero = 0;
  struct stack_window *w = bpf_map_lookup_elem(&stack_windows, &zero);
  if (w) w->len = 0;
  __u64 frame[2] = {};  // in_frame: the function's own frame; else [RSP] and what follows
  if (read_frame(w, in_frame ? ctx->bp : ctx->sp, frame)) return 0;
  const __u64 ret = in_frame ? frame[1] : frame[0];
  const __u64 bp = in_frame ? frame[0] : ctx->bp;
  if (!ret) return 0;
  __u32 n = 0;
  if (!(ret >= skip_lo && ret < skip_hi)) out[n++] = ret;
  return walk_frame_pointers(bp, out, n, max, 0, w);
}

// ---- exact mode -----------------------------------------------------------

// Whether a type holds pointers, for each allocation's size class: a type's
// pointer data never changes and the runtime never frees a type (reflect's are
// cached for the program's life), so the answer is kept per CPU, direct-mapped
// by the type's address. A hit spares a read of the program's memory, a third
// of what sizing an allocation costs.
#define TYPE_CACHE_SLOTS 256
struct type_cache_slot {
  __u64 typ;
  __u64 noscan;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TYPE_CACHE_SLOTS);
  __type(key, __u32);
  __type(value, struct type_cache_slot);
} type_cache SEC(".maps");

// typ == 0 (raw memory) holds none. An unreadable type counts as pointer-free
// and is not kept: the next allocation of it reads it again.
static __always_inline int type_is_noscan(__u64 typ) {
  if (!typ) return 1;
  __u32 i = ((typ >> 3) ^ (typ >> 11)) & (TYPE_CACHE_SLOTS - 1);
  struct type_cache_slot *slot = bpf_map_lookup_elem(&type_cache, &i);
  if (slot && slot->typ == typ) return slot->noscan;
  __u64 ptrdata = 0;
  if (bpf_probe_read_user(&ptrdata, sizeof(ptrdata), (void *)(typ + cfg.type_ptrdata_offset))) return 1;
  if (slot) {
    slot->typ = typ;
    slot->noscan = ptrdata == 0;
  }
  return ptrdata == 0;
}

static __always_inline void bump(__u32 counter) {
  __u64 *v = bpf_map_lookup_elem(&exact_counters, &counter);
  if (v) *v += 1;  // per-CPU: no atomics needed
}

// Whether a tiny allocation of size bytes opens a new 16-byte block, as
// mallocgc (<= 1.23) / mallocgcTiny (1.24+) decide it from the P's mcache:
// align the block's offset for the size, then fit or start anew. The decision
// is read here, at entry, from the same fields; a GC assist that parks the
// goroutine in between (and moves it to another P) could change it.
static __always_inline int opens_tiny_block(struct pt_regs *ctx, __u64 size) {
  __u64 m = read_u64(current_g(ctx) + cfg.g_m);
  __u64 p = m ? read_u64(m + cfg.m_p) : 0;
  __u64 c = p ? read_u64(p + cfg.p_mcache) : 0;
  if (!c) return 1;  // no P (mcache0, bootstrap only): count a block
  __u64 tiny = read_u64(c + cfg.mcache_tiny);
  __u64 off = read_u64(c + cfg.mcache_tinyoffset);
  if ((size & 7) == 0) off = (off + 7) & ~7ull;
  else if ((size & 3) == 0) off = (off + 3) & ~3ull;
  else if ((size & 1) == 0) off = (off + 1) & ~1ull;
  return !(off + size <= 16 && tiny != 0);
}

// The bytes mallocgc accounts for an allocation (the runtime's own profile and
// GODEBUG=inittrace count the same): small objects by size class (1.22+:
// pointerful objects over 512 bytes get an 8-byte type header first), large
// objects in whole 8 KiB pages, tiny allocations (noscan, < 16 bytes) 16 when
// they open a new block and 0 when they share one.
static __always_inline __u64 accounted_size(struct pt_regs *ctx, __u64 size, __u64 typ, __u32 *tiny) {
  int noscan = type_is_noscan(typ);
  *tiny = 0;
  if (size > cfg.max_small_size) return (size + 8191) & ~8191ull;
  if (noscan && size < 16) {
    *tiny = 1;
    if (!cfg.tiny_exact) return size;
    return opens_tiny_block(ctx, size) ? 16 : 0;
  }
  __u64 req = size;
  if (!noscan && size > 512) req += cfg.malloc_header_size;
  __u32 cls;
  if (req <= 1024 - 8) {
    __u64 i = (req + 7) >> 3;
    if (i >= HEAP_SIZE_TO_CLASS8_LEN) i = HEAP_SIZE_TO_CLASS8_LEN - 1;
    cls = cfg.size_to_class8[i];
  } else {
    __u64 i = (req - 1024 + 127) >> 7;
    if (i >= HEAP_SIZE_TO_CLASS128_LEN) i = HEAP_SIZE_TO_CLASS128_LEN - 1;
    cls = cfg.size_to_class128[i];
  }
  if (cls >= HEAP_NUM_SIZE_CLASSES) cls = HEAP_NUM_SIZE_CLASSES - 1;
  return cfg.class_to_size[cls];
}

// One allocation, at mallocgc or a size-specialized allocator:
// (size, typ, needzero) = (AX, BX, CX) at both.
static __always_inline int count_allocation(struct pt_regs *ctx, __u64 skip_lo, __u64 skip_hi, int in_frame) {
  __u64 size = ctx->ax;
  bump(HEAP_EXACT_CALLS);
  struct heap_exact_key key = {};
  __u32 tiny = 0;
  __u64 bytes = accounted_size(ctx, size, ctx->bx, &tiny);
  // Tiny allocations are keyed by their own size; the bytes they add (16 or 0) vary.
  __u64 object = tiny ? size : bytes;
  key.size = object > 0xffffffffull ? 0xffffffffu : (__u32)object;
  key.tiny = tiny;
  if (cfg.init_attribution) {
    key.after_main = main_started != 0;
    key.init_fn = key.after_main ? 0 : init_fn_current;
    // inittrace's test: getg().goid, so not what the runtime allocates on g0.
    key.init_g = !key.after_main && read_u64(current_g(ctx) + cfg.g_goid) == cfg.init_goid;
  }

  __u32 zero = 0;
  struct heap_exact_stack *st = bpf_map_lookup_elem(&exact_scratch, &zero);
  if (!st) return 0;
  __u32 n = walk_stack_skipping(ctx, st->pcs, HEAP_EXACT_STACK_MAX, skip_lo, skip_hi, in_frame);
  st->nframes = n;
  st->pad = 0;
  // A multiply-xor per pc, then a final avalanche (splitmix64's): a word at a
  // time costs an eighth of hashing the pcs' bytes.
  __u64 h = 0xcbf29ce484222325ull ^ n;
  for (int i = 0; i < HEAP_EXACT_STACK_MAX; i++) {
    if (i >= n) break;
    h = (h ^ st->pcs[i]) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 27;
  key.stack_id = h;

  // Counted before: its stack is stored. Only a new key looks at the stacks.
  struct heap_exact_value *v = bpf_map_lookup_elem(&exact_counts, &key);
  if (!v) {
    if (!bpf_map_lookup_elem(&exact_stacks, &h)) {
      for (int i = 0; i < HEAP_EXACT_STACK_MAX; i++)
        if (i >= n) st->pcs[i] = 0;  // the stored stack has no stale tail
      long err = bpf_map_update_elem(&exact_stacks, &h, st, BPF_NOEXIST);
      if (err && err != -17 /* EEXIST: another CPU was first */) bump(HEAP_EXACT_STACKS_FULL);
    }
    struct heap_exact_value init = {};
    bpf_map_update_elem(&exact_counts, &key, &init, BPF_NOEXIST);
    v = bpf_map_lookup_elem(&exact_counts, &key);
    if (!v) {
      bump(HEAP_EXACT_COUNTS_FULL);
      return 0;
    }
  }
  __sync_fetch_and_add(&v->count, 1);
  __sync_fetch_and_add(&v->bytes, bytes);
  return 0;
}

SEC("uprobe")
int on_mallocgc(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  __u64 size = ctx->ax;  // mallocgc(size uintptr, typ *_type, needzero bool)
  if (size == 0) {
    bump(HEAP_EXACT_ZERO);
    return 0;
  }
  if (size < malloc_dispatch_below) return 0;  // counted where mallocgc hands it (1.27+)
  return count_allocation(ctx, 0, 0, 0);
}

// 1.27+, where the binary allows: inside mallocgc, past its hand-over to the
// size-specialized allocators, so only what it allocates itself comes here
// (the handed-on ones trap once, at the specialized allocator, not twice).
SEC("uprobe")
int on_mallocgc_own_path(struct pt_regs *ctx) {
  return count_allocation(ctx, 0, 0, 1);
}

SEC("uprobe")
int on_malloc_specialized(struct pt_regs *ctx) {
  return count_allocation(ctx, mallocgc_lo, mallocgc_hi, 0);
}

// ---- init attribution (goscope run) ----------------------------------------

static __always_inline void init_mark(struct pt_regs *ctx, __u32 mark) {
  struct heap_init_event *e = RESERVE_EVENT(&events, struct heap_init_event, HEAP_INIT_MARK, &events_lost);
  if (!e) return;
  e->mark = mark;
  e->pad = 0;
  e->goid = read_u64(current_g(ctx) + cfg.g_goid);
  bpf_ringbuf_submit(e, 0);  // rare: wake the reader
}

// Entry of a package init function; the cookie is 1 + its site's index.
SEC("uprobe")
int on_init_function(struct pt_regs *ctx) {
  __u32 fn = (__u32)bpf_get_attach_cookie(ctx);
  init_fn_current = fn;
  init_mark(ctx, fn);
  return 0;
}

// runtime.gcenable: the runtime's own init tasks are done; what runtime.main
// allocates before the first package init function belongs to no package.
SEC("uprobe")
int on_runtime_init_done(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  init_fn_current = 0;
  init_mark(ctx, HEAP_MARK_RUNTIME_INIT_DONE);
  return 0;
}

SEC("uprobe")
int on_main_main(struct pt_regs *ctx) {
  if (goes_to_morestack(ctx)) return 0;
  main_started = 1;
  init_fn_current = 0;
  init_mark(ctx, HEAP_MARK_MAIN);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
