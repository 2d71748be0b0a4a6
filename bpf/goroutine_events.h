// Events of goroutines.bpf.c, shared with user space (user/probes/goroutine_tracer.cc).
#pragma once

#define GOROUTINE_STACK_MAX 32

enum goroutine_event_kind {
  GOROUTINE_CREATE = 1,
  GOROUTINE_EXIT = 2,
};

// Exits are the most frequent event: they carry only this header.
struct goroutine_exit_event {
  __u32 kind;
  __u32 pid;  // the process (thread-group id): one probe set may serve every process of a binary
  __u64 ts;           // CLOCK_MONOTONIC ns (the clock of Go's nanotime)
  __u64 goid;
};

struct goroutine_event {
  __u32 kind;
  __u32 pid;  // the process (thread-group id): one probe set may serve every process of a binary
  __u64 ts;
  __u64 goid;
  __u64 parent_goid;  // 0 where the runtime has no parentGoid (before 1.21)
  __u64 gopc;         // pc of the go statement
  __u64 startpc;      // entry of the goroutine's function
  __u64 creator_goid; // goroutine that ran the go statement, 0 if unknown
  __u32 nframes;      // creation stack depth (0 for exits)
  __u32 pad;
  __u64 stack[GOROUTINE_STACK_MAX];  // creator's return addresses, innermost first
};

// Offsets into runtime structures, from the binary reader (DWARF or table).
struct goroutine_offsets {
  __u64 g_goid;
  __u64 g_parent_goid;  // 0: absent
  __u64 g_gopc;
  __u64 g_startpc;
  __u64 g_m;
  __u64 g_sched_bp;
  __u64 m_curg;
  __u64 m_g0;
};
