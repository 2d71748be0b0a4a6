// The one way tests start a program: testing::Child, with options for every
// way the suites need (pipes, files, /dev/null or the test's own streams;
// the environment added to or replaced; a process group of its own; stopped
// at its exec), and RunCommand, a shell command run to its end.
//
// Captured output is read by a thread of the child's own, so a test can talk
// to a target and to goscope at the same time and never deadlock on a full
// pipe. The constructor returns once the program is exec'd (as posix_spawn
// does): tests that look at /proc/PID right away see the program, not a
// copy of the test. The destructor SIGKILLs the child (its group too, with
// own_process_group) and reaps it, unless it was reaped or released.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace goscope::testing {

// What a standard stream of the child is connected to.
enum class Io {
  kInherit,  // the test's own
  kNull,     // /dev/null
  kPipe,     // stdin: Write/WriteLine/CloseStdin; stdout/stderr: Output, NextLine, WaitFor...
  kFile,     // stdout/stderr: out_path/err_path, truncated
};

// Every member has an initializer: designated initializers may skip any
// (GCC warns about skipped members without one).
struct ChildOptions {
  Io in = Io::kNull;
  Io out = Io::kPipe;
  Io err = Io::kPipe;
  std::string out_path{};  // for Io::kFile; the same path as err_path: one file, both streams
  std::string err_path{};
  // The whole environment, instead of the test's (an empty vector: none at all).
  std::optional<std::vector<std::string>> env{};
  // "NAME=value" entries set on top of the environment, replacing the same names.
  std::vector<std::string> add_env{};
  std::string cwd{};               // where the program starts ("" = the test's)
  bool own_process_group = false;  // then the group (a launcher's children too) is killed with it
  bool die_with_parent = false;    // PR_SET_PDEATHSIG: a crashed test leaves nothing behind
  bool close_other_fds = false;    // nothing of the test's (sockets, BPF fds) leaks into the program
  // PTRACE_TRACEME: the constructor returns with the new image stopped at its
  // exec, so that a short-lived program keeps its identity while the test
  // looks; stopped_at_exec() says whether it got there.
  bool stop_at_exec = false;
  // How long Wait keeps reading after the child exited, for descendants that
  // still hold its pipes; < 0: until Wait's deadline.
  int output_grace_ms = -1;
};

enum Stream { kStdout = 0, kStderr = 1 };

inline constexpr int kForever = -1;  // a timeout that never passes

class Child {
 public:
  // Starts argv[0] (a path, no PATH search) with argv.
  explicit Child(std::vector<std::string> argv, ChildOptions options = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }  // forked; exec_error() says whether the exec worked
  int exec_error() const { return exec_errno_; }  // errno of a failed exec (the child exits 127), else 0
  bool stopped_at_exec() const { return stopped_at_exec_; }
  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // To the child's stdin (Io::kPipe); false when it cannot (closed, child gone).
  bool Write(std::string_view data);
  bool WriteLine(const std::string& line) { return Write(line + "\n"); }
  void CloseStdin();
  void Signal(int sig) const;

  // Lines are consumed in order through a cursor per stream.
  // The next complete line after the cursor (the cursor moves past it),
  // waiting up to timeout_ms; nullopt on timeout or end of stream.
  std::optional<std::string> NextLine(int stream, int timeout_ms);
  // The next line after the cursor that contains needle; the lines before it are skipped.
  std::optional<std::string> WaitForLine(int stream, std::string_view needle, int timeout_ms);
  std::optional<std::string> FindLine(int stream, int timeout_ms, const std::function<bool(std::string_view)>& match);
  // The first complete line of everything the stream printed (the cursor
  // does not matter, nor move) that contains needle, waiting up to timeout_ms.
  std::optional<std::string> WaitFor(int stream, const std::string& needle, int timeout_ms = 20000);

  // Everything the stream has produced so far.
  std::string Output(int stream) const;
  std::string out() const { return Output(kStdout); }
  std::string err() const { return Output(kStderr); }

  // Reaps the child, waiting up to timeout_ms, then reads the rest of its
  // output (output_grace_ms). Returns its exit code (128+N if killed by
  // signal N), or -1 on timeout: then it is SIGKILLed and reaped.
  int Wait(int timeout_ms = 30000);
  // Reaps the child if it exits within timeout_ms; never kills it.
  bool WaitForExit(int timeout_ms);
  // Whether the child has exited (reaps it if so), without waiting.
  bool Exited();
  // Sends sig (unless already reaped), reaps, and returns the exit code.
  int Kill(int sig = SIGKILL);
  int exit_code() const { return exit_code_; }
  int wait_status() const { return wait_status_; }  // waitpid's status, for WIFSIGNALED and the like
  // The caller takes the child over: no kill, no reap at destruction.
  pid_t Release();

 private:
  void ReadLoop(int out, int err);
  bool Reap(bool block);
  void KillAll(int sig) const;

  std::vector<std::string> argv_;
  ChildOptions options_;
  pid_t pid_ = -1;
  int exec_errno_ = 0;
  bool stopped_at_exec_ = false;
  int stdin_ = -1;
  bool reaped_ = false;
  bool released_ = false;
  int exit_code_ = -1;
  int wait_status_ = 0;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_[2];
  size_t cursor_[2] = {0, 0};
  bool eof_[2] = {true, true};
};

// Quotes s for /bin/sh.
std::string ShellQuote(const std::string& s);

// Runs cmd with /bin/sh -c, feeding stdin_data to its stdin, and returns its
// stdout. *exit_code gets the exit status (128+N if killed by signal N, -1 if
// it could not be started). stderr is captured into *stderr_out if given,
// else inherited.
std::string RunCommand(const std::string& cmd, const std::string& stdin_data, int* exit_code,
                       std::string* stderr_out = nullptr);

// The state letter of /proc/PID/stat ('t': stopped by a tracer, 'Z': a
// zombie), '?' once the process is gone.
char ProcessState(pid_t pid);

}  // namespace goscope::testing
