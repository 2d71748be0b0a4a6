// One run of the reliability target from start to exit, untraced or under a
// goscope mode, and what it printed. The script is always the same, so that
// two runs compare line for line:
//
//   ready PID      (dropped from the transcript: the pid differs)
//   > go           the workload; its result block ends with "done"
//   (goscope detaches here, unless the ending is to happen under it)
//   > rate         MemProfileRate after goscope left: must be the program's own
//   ending         EOF (exit 0), "exit 7", "panic" (exit 2) or SIGTERM (143)
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "child.h"
#include "modes.h"
#include "probes_left.h"
#include "reliability_binaries.h"
#include "temp_dir.h"

namespace goscope::reliability {

using testing::kStderr;
using testing::kStdout;

// A program or goscope as the suite runs them: stdin, stdout and stderr on
// pipes, so that a test talks to both at once; in a process group of its
// own, killed whole (a launcher's children included); extra_env on top of
// the test's environment.
class Process : public testing::Child {
 public:
  explicit Process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {})
      : Child(argv, {.in = testing::Io::kPipe,
                     .add_env = extra_env,
                     .own_process_group = true,
                     .output_grace_ms = 2000}) {}
};

enum class Ending { kEof, kExit7, kPanic, kSigterm };

inline const char* EndingName(Ending e) {
  switch (e) {
    case Ending::kEof: return "EOF";
    case Ending::kExit7: return "exit 7";
    case Ending::kPanic: return "panic";
    case Ending::kSigterm: return "SIGTERM";
  }
  return "?";
}

struct SessionOptions {
  Ending ending = Ending::kEof;
  // End the program while goscope is still attached (kAttach: goscope must
  // notice and stop by itself) instead of detaching before the ending. No
  // "rate" then, in either run: under goscope the rate is goscope's.
  bool end_under_goscope = false;
};

struct SessionResult {
  std::string transcript;  // the program's stdout after its ready line
  int exit_code = -1;      // the program's (128+N when killed by signal N)
  int goscope_exit = -1;   // goscope's last exit code, when goscope ran
  std::string goscope_stderr;
  std::string program_stderr;
  int goscope_runs = 0;    // kRepeatWhileWorking: how many runs overlapped the workload
  std::vector<std::string> problems;  // the harness could not follow the script
  std::string out_dir;
  // Other tracers seen on the program (probes_left.h): another goscope may
  // have changed its MemProfileRate, so "rate" lines are not compared then.
  std::set<std::string> foreign;
};

// The transcripts of two runs, as they must compare: whole, or without the
// "rate" lines when a foreign tracer was seen on either program.
inline std::pair<std::string, std::string> Comparable(const SessionResult& a, const SessionResult& b) {
  if (a.foreign.empty() && b.foreign.empty()) return {a.transcript, b.transcript};
  auto drop_rate = [](const std::string& t) {
    std::string out;
    std::stringstream ss(t);
    for (std::string l; std::getline(ss, l);)
      if (l.rfind("rate ", 0) != 0) out += l + "\n";
    return out;
  };
  std::printf("  NOTE: another tracer probed the program, its MemProfileRate is not compared: %s\n",
              ::testing::PrintToString(a.foreign.empty() ? b.foreign : a.foreign).c_str());
  return {drop_rate(a.transcript), drop_rate(b.transcript)};
}

// The environment every target gets on top of the test's: node-wide goscope
// agents leave processes with GOSCOPE_AGENT=off alone, so that an agent on
// the host does not trace (and write MemProfileRate into) the programs this
// suite compares. probes_left.h still tells other tracers apart if one does.
inline const std::vector<std::string> kTargetEnv = {"GOSCOPE_AGENT=off"};

// A fresh directory for goscope's outputs; the caller removes it.
inline std::string MakeTempDir(const std::string& tag) { return testing::MakeTempDir("reliability-" + tag); }

inline std::vector<std::string> Substitute(const std::vector<std::string>& args, pid_t pid, const std::string& out) {
  std::vector<std::string> r;
  for (std::string a : args) {
    for (auto [key, val] : {std::pair<std::string, std::string>{"{pid}", std::to_string(pid)}, {"{out}", out}})
      for (size_t p; (p = a.find(key)) != std::string::npos;) a.replace(p, key.size(), val);
    r.push_back(a);
  }
  return r;
}

// Timeouts: generous, for 2 loaded cores and exact mode on go1.19 (~5 us per
// allocation, ~2 s per workload).
constexpr int kStartMs = 30000;
constexpr int kProbesLiveMs = 60000;
constexpr int kWorkloadMs = 120000;
constexpr int kExitMs = 60000;

namespace detail {

inline void ReadBlock(Process& p, SessionResult& r) {
  for (;;) {
    auto line = p.NextLine(kStdout, kWorkloadMs);
    if (!line) {
      r.problems.push_back("the program's result block did not end with 'done' (timeout or exit)");
      return;
    }
    if (*line == "done") return;
  }
}

inline void SendEnding(Process& p, Ending e) {
  switch (e) {
    case Ending::kEof: p.CloseStdin(); break;
    case Ending::kExit7: p.WriteLine("exit 7"); break;
    case Ending::kPanic: p.WriteLine("panic"); break;
    case Ending::kSigterm: p.Signal(SIGTERM); break;
  }
}

inline void Finish(Process& program, SessionResult& r) {
  r.exit_code = program.Wait(kExitMs);
  std::string out = program.Output(kStdout);
  size_t nl = out.find('\n');
  r.transcript = nl == std::string::npos ? "" : out.substr(nl + 1);
  r.program_stderr = program.Output(kStderr);
}

inline void NoteForeign(SessionResult& r, pid_t pid, const std::string& binary, const std::set<pid_t>& ours) {
  ProbeListing l = UprobesOn(pid, binary);
  for (auto& f : ForeignProbes(l, ours, pid)) r.foreign.insert(f);
}

inline std::optional<pid_t> ReadReady(Process& p, SessionResult& r) {
  auto ready = p.NextLine(kStdout, kStartMs);
  if (!ready || ready->rfind("ready ", 0) != 0) {
    r.problems.push_back("no ready line from the program: stdout '" + p.Output(kStdout) + "' stderr '" +
                         p.Output(kStderr) + "'");
    return std::nullopt;
  }
  return static_cast<pid_t>(std::stol(ready->substr(6)));
}

}  // namespace detail

// Runs `launcher... -- binary program_args...`, where the launcher starts
// the program and passes its stdin, stdout and exit code through (goscope's
// kStartsProgram modes), with the same script as RunSession. The launcher's
// exit code is the program's.
inline SessionResult RunLaunched(const std::vector<std::string>& launcher, const std::string& binary,
                                 const SessionOptions& opts = {}, const std::vector<std::string>& program_args = {}) {
  SessionResult r;
  std::vector<std::string> cmd = launcher;
  cmd.push_back("--");
  cmd.push_back(binary);
  cmd.insert(cmd.end(), program_args.begin(), program_args.end());
  Process launched(cmd, kTargetEnv);
  auto pid = detail::ReadReady(launched, r);
  if (!pid) return r;
  const std::set<pid_t> ours = {launched.pid()};
  launched.WriteLine("go");
  detail::ReadBlock(launched, r);
  if (!opts.end_under_goscope) {
    detail::NoteForeign(r, *pid, binary, ours);
    launched.WriteLine("rate");
    if (!launched.WaitForLine(kStdout, "rate ", kWorkloadMs)) r.problems.push_back("no answer to 'rate'");
    detail::NoteForeign(r, *pid, binary, ours);
  }
  detail::SendEnding(launched, opts.ending);
  detail::Finish(launched, r);
  r.goscope_exit = r.exit_code;
  r.goscope_stderr = r.program_stderr;
  return r;
}

// Runs `binary program_args...` untraced (mode == nullptr) or under mode.
inline SessionResult RunSession(const std::string& binary, const Mode* mode, const SessionOptions& opts = {},
                                const std::vector<std::string>& program_args = {}) {
  std::string out_dir = mode ? MakeTempDir(mode->name) : "";
  if (mode && mode->kind == ModeKind::kStartsProgram) {
    std::vector<std::string> launcher = {GoscopeBinary()};
    for (auto& a : Substitute(mode->args, 0, out_dir)) launcher.push_back(a);
    SessionResult r = RunLaunched(launcher, binary, opts, program_args);
    r.out_dir = out_dir;
    return r;
  }
  SessionResult r;
  r.out_dir = out_dir;
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), program_args.begin(), program_args.end());

  Process program(argv, kTargetEnv);
  auto pid = detail::ReadReady(program, r);
  if (!pid) return r;
  std::set<pid_t> ours;
  detail::NoteForeign(r, *pid, binary, ours);
  std::unique_ptr<Process> tool;
  if (mode && mode->kind == ModeKind::kAttach) {
    std::vector<std::string> cmd = {GoscopeBinary()};
    for (auto& a : Substitute(mode->args, *pid, r.out_dir)) cmd.push_back(a);
    tool = std::make_unique<Process>(cmd);
    ours.insert(tool->pid());
    if (!tool->WaitForLine(kStderr, "probes live", kProbesLiveMs)) {
      r.goscope_exit = tool->Wait(kExitMs);
      r.goscope_stderr = tool->Output(kStderr);
      r.problems.push_back("goscope never said 'probes live' (exit " + std::to_string(r.goscope_exit) +
                           "): " + r.goscope_stderr);
      return r;
    }
  }

  program.WriteLine("go");
  if (mode && mode->kind == ModeKind::kRepeatWhileWorking) {
    // Read the block while snapshots run; at least one snapshot overlaps it.
    bool done = false;
    while (!done) {
      std::vector<std::string> cmd = {GoscopeBinary()};
      for (auto& a : Substitute(mode->args, *pid, r.out_dir)) cmd.push_back(a);
      Process snap(cmd);
      r.goscope_exit = snap.Wait(kExitMs);
      r.goscope_runs++;
      if (r.goscope_exit != 0) {
        r.goscope_stderr = snap.Output(kStderr);
        break;
      }
      while (auto line = program.NextLine(kStdout, 0))
        if (*line == "done") done = true;
      if (program.Exited()) break;
    }
    if (!done) detail::ReadBlock(program, r);
  } else {
    detail::ReadBlock(program, r);
  }

  detail::NoteForeign(r, *pid, binary, ours);
  if (tool && !opts.end_under_goscope) {
    tool->Signal(SIGINT);
    r.goscope_exit = tool->Wait(kExitMs);
    r.goscope_stderr = tool->Output(kStderr);
  }
  if (!opts.end_under_goscope) {
    detail::NoteForeign(r, *pid, binary, ours);
    program.WriteLine("rate");
    if (!program.WaitForLine(kStdout, "rate ", kWorkloadMs)) r.problems.push_back("no answer to 'rate'");
    detail::NoteForeign(r, *pid, binary, ours);
  }
  detail::SendEnding(program, opts.ending);
  detail::Finish(program, r);
  if (tool && opts.end_under_goscope) {
    r.goscope_exit = tool->Wait(kExitMs);  // it must notice the exit by itself
    r.goscope_stderr = tool->Output(kStderr);
  }
  return r;
}

// What must hold of any run, traced or not, before it can serve as an
// oracle: the block is complete and the parts that check themselves agree.
inline std::vector<std::string> SelfCheck(const std::string& transcript) {
  std::vector<std::string> bad;
  for (const char* want : {"alloc ", "goroutines ", "panics 20000 ", "stack ", "gc percent=100 finalized=100 ",
                           "signals sent=200 received=200\n", "pull ", "cgo ", "done\n"})
    if (transcript.find(want) == std::string::npos) bad.push_back(std::string("missing '") + want + "'");
  return bad;
}

// The result block an untraced run prints ("" if it printed none): what
// every block of a -loop run must equal.
inline std::string UntracedBlock(const std::string& path, const std::vector<std::string>& program_args = {}) {
  SessionResult plain = RunSession(path, nullptr, {}, program_args);
  size_t end = plain.transcript.find("done\n");
  return end == std::string::npos ? "" : plain.transcript.substr(0, end + 5);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool NonEmptyFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

}  // namespace goscope::reliability
