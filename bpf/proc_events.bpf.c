// SPDX-License-Identifier: GPL-2.0
// Process lifecycle for the node agent: one event per exec (with the new
// executable's device and inode) and one per process exit, whatever the
// program. And, for `attach --wait-for PATH`, a SIGSTOP sent to a process as
// it execs a chosen file, so that uprobes can be attached before its first
// user-space instruction.
//
// Both are the sched tracepoints, attached as BTF tracepoints (tp_btf): they
// take typed arguments and attach by BTF id, so they need no tracefs mount
// (many hosts and containers have none) and no tracepoint-format parsing.
//   sched_process_exec(p, old_pid, bprm)  after the new image is installed:
//       p == current, p->mm is the new mm, and p is the thread-group leader
//       (de_thread has run), so p->tgid is the process.
//   sched_process_exit(p [, group_dead])  from do_exit, after
//       signal->live was decremented: live == 0 means this is the last
//       thread, whether or not it is the leader (the leader can exit first).
//       6.16 added group_dead; reading signal->live works on every kernel.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "proc_events.h"

#define SIGSTOP 19
#define PF_KTHREAD 0x00200000

// Submitted with the default (adaptive) wakeup, unlike the uprobe tracers:
// execs and exits are rare next to uprobe hits, the agent wants them at once,
// and the kernel wakes a waiting poller only once per batch it has not seen.
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);  // ~1900 exec events
} events SEC(".maps");

// Executables whose exec stops the new process. Filled by user space.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct proc_file_key);
  __type(value, __u32);
} stop_on_exec SEC(".maps");

__u64 events_lost = 0;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  struct proc_file_key key = {};
  struct inode *inode = BPF_CORE_READ(p, mm, exe_file, f_inode);
  if (inode) {
    key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
    key.ino = BPF_CORE_READ(inode, i_ino);
  }

  // Stop first: even if the event cannot be submitted, the process must
  // not run past its first instruction. The signal is queued to the whole
  // process and taken on the way back to user space.
  __u32 stopped = 0;
  if (inode && bpf_map_lookup_elem(&stop_on_exec, &key)) stopped = bpf_send_signal(SIGSTOP) == 0;

  struct proc_exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    __sync_fetch_and_add(&events_lost, 1);
    return 0;
  }
  e->kind = PROC_EXEC;
  e->pid = BPF_CORE_READ(p, tgid);
  e->dev = key.dev;
  e->ino = key.ino;
  e->stopped = stopped;
  const char *filename = BPF_CORE_READ(bprm, filename);
  if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename) < 0) e->filename[0] = 0;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct *p) {
  if (BPF_CORE_READ(p, flags) & PF_KTHREAD) return 0;
  if (BPF_CORE_READ(p, signal, live.counter) != 0) return 0;  // other threads still run
  struct proc_exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    __sync_fetch_and_add(&events_lost, 1);
    return 0;
  }
  e->kind = PROC_EXIT;
  e->pid = BPF_CORE_READ(p, tgid);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
