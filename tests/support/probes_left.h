// The uprobes that exist on a program, as the kernel lists them (bpftool),
// asked independently of goscope, which cannot be trusted to report its own
// leftovers: after the goscope processes a test started have exited, none
// of theirs may remain.
//
// Other tracers may probe the same program meanwhile: on a shared host, a
// node-wide `goscope agent` watches every Go binary (uprobe_multi links on
// the binary for all processes), and, like goscope attach, writes
// MemProfileRate where it is 0. Such probes are "foreign": reported, never
// counted as a leak, and they excuse a changed MemProfileRate (tests/reliability/session.h).
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

namespace goscope::reliability {

struct Uprobe {
  std::string source;  // "perf" (bpftool perf list) or "link" (bpftool link list)
  pid_t holder = 0;    // perf: the process holding the probe's fd; link: unknown (0)
  pid_t filter = -1;   // link: the pid the link is limited to, 0 = every process of the binary
  std::string json;    // bpftool's entry
};

struct ProbeListing {
  bool ok = false;  // bpftool ran and its JSON parsed
  std::string error;
  std::vector<Uprobe> probes;  // uprobes on the program's binary
};

// Uprobes on pid's binary: perf-event uprobes (named by the path they were
// attached through: /proc/PID/exe or the binary's path) and uprobe_multi links
// (by path, or limited to pid).
ProbeListing UprobesOn(pid_t pid, const std::string& binary);

// The command line of pid, spaces for NULs; "(gone)" once it has exited.
std::string Cmdline(pid_t pid);

// Probes the test's own goscope processes (`ours`) made on `target`, or that
// leaked into the target itself: perf uprobes they (or the target) hold, and
// uprobe_multi links limited to the target.
std::vector<std::string> OwnProbes(const ProbeListing& l, const std::set<pid_t>& ours, pid_t target);

// Probes of other tracers: perf uprobes held by other processes, and links on
// the whole binary (a node-wide watcher's). Described with the holder's
// command line where known.
std::vector<std::string> ForeignProbes(const ProbeListing& l, const std::set<pid_t>& ours, pid_t target);

// ForeignProbes on the program now (empty when bpftool cannot tell).
std::vector<std::string> ForeignOn(pid_t pid, const std::string& binary, const std::set<pid_t>& ours);

}  // namespace goscope::reliability
