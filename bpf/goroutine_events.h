// Events of goroutines.bpf.c, shared with user space (user/probes/goroutine_tracer.cc).
#pragma once

#define GOROUTINE_STACK_MAX 32
// A creator's walk is trusted when the go statement's pc is among its first
// frames (the walk starts in newproc and, from 1.21, systemstack's frame).
#define GOROUTINE_GOPC_WITHIN 4

enum goroutine_event_kind {
  GOROUTINE_CREATE = 1,       // struct goroutine_event: the creator's stack walked
  GOROUTINE_EXIT = 2,         // struct goroutine_exit_event
  GOROUTINE_CREATE_SITE = 3,  // struct goroutine_create_event: its go statement's stack was sent before
};

// Exits are the most frequent event: they carry only this header.
struct goroutine_exit_event {
  __u32 kind;
  __u32 pid;  // the process (thread-group id): one probe set may serve every process of a binary
  __u64 ts;           // CLOCK_MONOTONIC ns (the clock of Go's nanotime)
  __u64 goid;
};

// A creation at a go statement whose stack this process already sent: the
// stack is walked once per go statement and process (see goroutines.bpf.c).
struct goroutine_create_event {
  __u32 kind;
  __u32 pid;
  __u64 ts;
  __u64 goid;
  __u64 parent_goid;  // 0 where the runtime has no parentGoid (before 1.21)
  __u64 gopc;         // pc of the go statement
  __u64 startpc;      // entry of the goroutine's function
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
  __u32 nframes;      // creation stack depth
  __u32 pad;
  __u64 stack[GOROUTINE_STACK_MAX];  // creator's return addresses, innermost first
};

// A go statement whose stack was sent (goroutines.bpf.c keeps them in a direct-mapped array).
struct goroutine_site_key {
  __u32 pid;
  __u32 pad;
  __u64 gopc;
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
  // The g fields of a creation event lie close together (goid .. startpc);
  // when they fit in GOROUTINE_G_WINDOW bytes from g_window_lo, one read
  // fetches them all (0: read them one by one).
  __u64 g_window_lo;
  __u64 g_window_len;
};

#define GOROUTINE_G_WINDOW 256
