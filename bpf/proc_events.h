// Events of proc_events.bpf.c, shared with user space (user/probes/process_events.cc).
#pragma once

#define PROC_EXEC_FILENAME_MAX 512

enum proc_event_kind {
  PROC_EXEC = 1,
  PROC_EXIT = 2,
};

// A process image replaced by exec. dev is the kernel's encoding of the
// executable's device (inode->i_sb->s_dev, MKDEV: major << 20 | minor), not
// user space's st_dev: user space converts it.
struct proc_exec_event {
  __u32 kind;
  __u32 pid;       // tgid
  __u32 dev;       // kernel dev_t of the executable's file system
  __u32 stopped;   // 1: SIGSTOP was sent (the file is in stop_on_exec)
  __u64 ino;
  char filename[PROC_EXEC_FILENAME_MAX];  // as passed to execve, NUL-terminated, maybe truncated
};

// The last thread of a process exited: the process is gone (a zombie until reaped).
struct proc_exit_event {
  __u32 kind;
  __u32 pid;  // tgid
};

// Key of the stop_on_exec map: the executable's identity as the kernel sees it.
struct proc_file_key {
  __u32 dev;  // kernel dev_t
  __u32 pad;  // zero
  __u64 ino;
};
