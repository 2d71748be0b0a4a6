// The ways goscope can run against a program, as one table: the matrix test
// runs every reliability binary under each of them and compares the
// program's output and exit code with an untraced run. A new mode is one
// entry here.
#pragma once

#include <string>
#include <vector>

namespace goscope::reliability {

enum class ModeKind {
  // goscope ARGS with -p PID of the running program; the workload starts once
  // goscope's stderr says "probes live"; SIGINT ends the run.
  kAttach,
  // goscope ARGS with -p PID, run again and again (each run must exit 0)
  // while the workload runs: one-shot readers such as `goroutines --freeze`.
  kRepeatWhileWorking,
  // goscope ARGS -- PROGRAM ARGS: goscope starts the program itself and passes
  // its stdin, stdout and exit code through (session.h: RunLaunched).
  kStartsProgram,
};

struct Mode {
  std::string name;                  // test-name suffix: letters, digits, _
  ModeKind kind;
  std::vector<std::string> args;     // goscope's arguments; {pid} and {out} are substituted
  std::vector<std::string> outputs;  // files under {out} that must exist, non-empty, after the run
  bool needs_bpf = true;             // false: needs root (ptrace, /proc) but no BPF
  bool long_only = false;            // only with GOSCOPE_RELIABILITY_LONG=1
  // goscope is still attached when the program ends (kStartsProgram until
  // exit): both runs then skip "rate", which is goscope's until the end.
  bool ends_under_goscope = false;
};

inline const std::vector<Mode>& Modes() {
  static const std::vector<Mode> modes = {
      {.name = "attach_sampled",
       .kind = ModeKind::kAttach,
       .args = {"attach", "-p", "{pid}", "-o", "{out}", "--alloc-mode", "sampled"},
       .outputs = {"summary.json", "heap.pb.gz", "leaks.json", "goroutines.pb.gz", "timeline.json"}},
      {.name = "attach_exact",
       .kind = ModeKind::kAttach,
       .args = {"attach", "-p", "{pid}", "-o", "{out}", "--alloc-mode", "exact"},
       .outputs = {"summary.json", "heap.pb.gz", "timeline.json"}},
      {.name = "attach_off",
       .kind = ModeKind::kAttach,
       .args = {"attach", "-p", "{pid}", "-o", "{out}", "--alloc-mode", "off", "--interval", "1"},
       .outputs = {"summary.json", "leaks.txt", "timeline.json"}},
      {.name = "goroutines_freeze",
       .kind = ModeKind::kRepeatWhileWorking,
       .args = {"goroutines", "-p", "{pid}", "--freeze", "--format", "json", "-o", "{out}/goroutines.json"},
       .outputs = {"goroutines.json"},
       .needs_bpf = false},
      {.name = "heap_sampled",
       .kind = ModeKind::kAttach,
       .args = {"heap", "-p", "{pid}", "--heap-rate", "4096", "-o", "{out}/heap.pb.gz"},
       .outputs = {"heap.pb.gz"}},
      {.name = "heap_exact",
       .kind = ModeKind::kAttach,
       .args = {"heap", "-p", "{pid}", "--alloc-mode", "exact", "-o", "{out}/heap.pb.gz", "--folded",
                "{out}/heap.folded"},
       .outputs = {"heap.pb.gz", "heap.folded"}},
      {.name = "gc",
       .kind = ModeKind::kAttach,
       .args = {"gc", "-p", "{pid}", "--json", "--timeline", "{out}/gc-timeline.json"},
       .outputs = {"gc-timeline.json"}},
      // ---- modes where goscope starts the program: ARGS, then "--", then the
      // program and its arguments (session.h: RunLaunched; the same path is
      // checked with a launcher that only execs, in LauncherHarness).
      {.name = "run",
       .kind = ModeKind::kStartsProgram,
       .args = {"run", "-o", "{out}"},
       .outputs = {"init.json", "init-heap.pb.gz", "summary.json", "heap.pb.gz", "goroutines.pb.gz", "timeline.json"},
       .ends_under_goscope = true},
      {.name = "run_until_main",
       .kind = ModeKind::kStartsProgram,
       .args = {"run", "-o", "{out}", "--until", "main"},
       .outputs = {"init.json", "init.txt", "init-heap.pb.gz"}},
  };
  return modes;
}

}  // namespace goscope::reliability
