// Events, maps and configuration of heap.bpf.c, shared with user space
// (user/probes/heap_tracer.cc).
#pragma once

#define HEAP_EXACT_STACK_MAX 32  // exact mode: frames per aggregated stack

// Go's size classes (identical in 1.19-1.27: runtime/sizeclasses.go, internal/runtime/gc since 1.25).
#define HEAP_NUM_SIZE_CLASSES 68
#define HEAP_SIZE_TO_CLASS8_LEN 129    // smallSizeMax/smallSizeDiv + 1
#define HEAP_SIZE_TO_CLASS128_LEN 249  // (_MaxSmallSize-smallSizeMax)/largeSizeDiv + 1

enum heap_event_kind {
  HEAP_INIT_MARK = 3,  // init attribution: an init function, the end of the runtime's inits, or main.main
};

// heap_init_event.mark: 1 + index of an init function site, or one of these.
#define HEAP_MARK_RUNTIME_INIT_DONE 0xfffffffeu
#define HEAP_MARK_MAIN 0xffffffffu

struct heap_init_event {
  __u32 kind;
  __u32 pid;  // the process (thread-group id): one probe set may serve every process of a binary
  __u64 ts;    // CLOCK_MONOTONIC ns
  __u32 mark;
  __u32 pad;
  __u64 goid;  // the goroutine that ran it (g, not m.curg)
};

// Exact mode: in-kernel aggregation. One entry per (stack, accounted size).
struct heap_exact_key {
  __u64 stack_id;  // hash of the stack's pcs (heap.bpf.c); key of heap_exact_stacks
  __u32 size;      // the object's size: its slot (class or pages); tiny: the requested size
                   // (the value's bytes then count 16 for an allocation that opens a new 16-byte
                   // block and 0 for one that fits the current one, as the runtime does; the
                   // requested size where the mcache is unknown)
  __u8 tiny;       // 1: noscan and < 16 bytes, served by the tiny allocator (see heap.bpf.c)
  __u8 init_g;     // init attribution: allocated by the init goroutine itself (its g, not m.curg)
  __u8 after_main; // init attribution: allocated after main.main was entered
  __u8 pad;
  __u32 init_fn;   // init attribution: 1 + index of the init function entered last; 0 when none
                   // runs (before the first, or between the runtime's inits and the packages')
  __u32 pad2;
};

struct heap_exact_value {
  __u64 count;
  __u64 bytes;
};

struct heap_exact_stack {
  __u32 nframes;
  __u32 pad;
  __u64 pcs[HEAP_EXACT_STACK_MAX];
};

// Global counters of exact mode (one array slot each).
enum heap_exact_counter {
  HEAP_EXACT_CALLS = 0,       // mallocgc calls seen (size > 0)
  HEAP_EXACT_ZERO = 1,        // size 0: &zerobase, no allocation
  HEAP_EXACT_STACKS_FULL = 2, // a new stack did not fit in heap_exact_stacks (the count still did)
  HEAP_EXACT_COUNTS_FULL = 3, // a new (stack, size) did not fit in heap_exact_counts: not counted
  HEAP_EXACT_NCOUNTERS = 4,
};

struct heap_config {
  __u64 g_goid;
  __u64 g_m;
  // Exact mode (runtime.mallocgc(size, typ, needzero) = (AX, BX, CX)).
  __u64 type_ptrdata_offset;  // _type.ptrdata / abi.Type.PtrBytes: 8 in 1.19-1.27
  __u32 malloc_header_size;   // 8 in 1.22+ (pointerful objects > 512 bytes carry a type header), else 0
  __u32 max_small_size;       // 32768 - malloc_header_size
  __u32 tiny_exact;           // 1: the four offsets below are known (tiny block accounting)
  __u32 init_attribution;     // 1: key allocations by init function (goscope run)
  __u64 m_p;                  // m.p (a puintptr)
  __u64 p_mcache;
  __u64 mcache_tiny;
  __u64 mcache_tinyoffset;
  __u64 init_goid;            // the init goroutine: runtime.main's, goid 1
  __u16 class_to_size[HEAP_NUM_SIZE_CLASSES];
  __u8 size_to_class8[HEAP_SIZE_TO_CLASS8_LEN];
  __u8 size_to_class128[HEAP_SIZE_TO_CLASS128_LEN];
};
