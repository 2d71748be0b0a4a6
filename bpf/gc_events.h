// Events of gc.bpf.c, shared with user space (user/probes/gc_tracer.cc).
#pragma once

enum gc_event_kind {
  GC_EV_STW_STOP = 1,   // entry of runtime.stopTheWorldWithSema
  GC_EV_STW_START = 2,  // entry of runtime.startTheWorldWithSema
  GC_EV_CYCLE = 3,      // a cycle has ended: the runtime's own record of it (runtime.work)
};

struct gc_event {
  __u32 kind;
  __u32 pid;  // the process (thread-group id): one probe set may serve every process of a binary
  __u64 ts;             // CLOCK_MONOTONIC ns (the clock of Go's nanotime)
  // GC_EV_STW_STOP
  __u64 goid;           // goroutine stopping the world (m.curg of the g0 it runs on), 0 if unknown
  __s64 trigger_kind;   // gcTrigger.kind its last gcStart call was given, -1 if none
  __u32 reason;         // stwReason argument (go1.21+; user space ignores it before)
  // GC_EV_CYCLE: fields of runtime.work, written by the cycle that just ended
  __u32 cycles;         // work.cycles: the cycle's number, as gctrace's "gc N"
  __u32 user_forced;    // work.userForced: started by runtime.GC()
  __u32 pad;
  __s64 t_sweep_term;   // nanotime when gcStart began stopping the world
  __s64 t_mark;         // ... when the world restarted for concurrent mark
  __s64 t_mark_term;    // ... when gcMarkDone began stopping the world
  __s64 t_end;          // ... when mark termination ended
  __s64 pause_ns;       // work.pauseNS: the cycle's total stopped time
  __u64 heap0;          // heap live at the start (gcController.heapLive)
  __u64 heap1;          // heap live at mark termination
  __u64 heap2;          // bytes marked (live after the cycle)
};

// Offsets into runtime structures and the address of runtime.work, from the
// binary reader (DWARF, table, symbol table or disassembly).
struct gc_offsets {
  __u64 g_goid;
  __u64 g_m;
  __u64 m_curg;
  __u64 work;  // link-time address of runtime.work (each process's load bias is added)
  __u64 w_cycles;
  __u64 w_user_forced;
  __u64 w_t_sweep_term;
  __u64 w_t_mark;
  __u64 w_t_mark_term;
  __u64 w_t_end;
  __u64 w_pause_ns;
  __u64 w_heap0;
  __u64 w_heap1;
  __u64 w_heap2;
};

// A traced process (gc.bpf.c's procs map, keyed by pid).
struct gc_proc {
  __s64 last_t_end;  // work.tEnd of the last cycle reported
  __u64 bias;        // the process's load bias, added to gc_offsets.work
};
