#include "child.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "process/proc_files.h"

namespace goscope::testing {
namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point Deadline(int timeout_ms) {
  return timeout_ms < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::milliseconds(timeout_ms);
}

// The environment with "NAME=value" entries set, each replacing any entry of the same name.
std::vector<std::string> Environment(const ChildOptions& o) {
  std::vector<std::string> env;
  if (o.env) {
    env = *o.env;
  } else {
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
  }
  for (const auto& add : o.add_env) {
    const std::string name = add.substr(0, add.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, name.size(), name) == 0; });
    env.push_back(add);
  }
  return env;
}

}  // namespace

Child::Child(std::vector<std::string> argv, ChildOptions options)
    : argv_(std::move(argv)), options_(std::move(options)) {
  if (argv_.empty()) return;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1], exec_pipe[0], exec_pipe[1]})
      if (fd >= 0) ::close(fd);
  };
  bool ok = ::pipe2(exec_pipe, O_CLOEXEC) == 0;
  if (ok && options_.in == Io::kPipe) ok = ::pipe2(in, O_CLOEXEC) == 0;
  if (ok && options_.out == Io::kPipe) ok = ::pipe2(out, O_CLOEXEC) == 0;
  if (ok && options_.err == Io::kPipe) ok = ::pipe2(err, O_CLOEXEC) == 0;
  if (!ok) {
    close_all();
    return;  // started() is false
  }
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (the test has threads).
  std::vector<char*> args;
  for (auto& s : argv_) args.push_back(s.data());
  args.push_back(nullptr);
  std::vector<std::string> env_strings = Environment(options_);
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  const bool one_file =
      options_.out == Io::kFile && options_.err == Io::kFile && options_.out_path == options_.err_path;
  const char* out_path = options_.out_path.c_str();
  const char* err_path = options_.err_path.c_str();
  const char* cwd = options_.cwd.empty() ? nullptr : options_.cwd.c_str();
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ == 0) {
    auto fail = [&] {
      int e = errno;
      (void)!::write(exec_pipe[1], &e, sizeof e);
      ::_exit(127);
    };
    if (options_.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the test died before prctl
    }
    if (options_.own_process_group) ::setpgid(0, 0);
    // Opened O_CLOEXEC: dup2 clears the flag on the copy, the original goes at exec.
    auto redirect = [&](Io io, int target, int pipe_end, const char* path) {
      int fd = -1;
      switch (io) {
        case Io::kInherit: return;
        case Io::kNull: fd = ::open("/dev/null", (target == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC); break;
        case Io::kPipe: fd = pipe_end; break;
        case Io::kFile: fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); break;
      }
      if (fd < 0 || ::dup2(fd, target) < 0) fail();
    };
    redirect(options_.in, 0, in[0], "");  // no Io::kFile for stdin
    redirect(options_.out, 1, out[1], out_path);
    if (one_file) {
      if (::dup2(1, 2) < 0) fail();
    } else {
      redirect(options_.err, 2, err[1], err_path);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGUSR1, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cwd && ::chdir(cwd) != 0) fail();
    if (options_.close_other_fds) ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (options_.stop_at_exec) ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::execve(args[0], args.data(), env.data());
    fail();
  }
  for (int* fd : {&in[0], &out[1], &err[1], &exec_pipe[1]})
    if (*fd >= 0) ::close(*fd), *fd = -1;
  if (pid_ < 0) {
    close_all();
    return;
  }
  if (options_.own_process_group) ::setpgid(pid_, pid_);  // also from here: no race with the first kill
  // EOF: the exec happened (the pipe is close-on-exec); an errno: it failed.
  int e = 0;
  ssize_t n;
  while ((n = ::read(exec_pipe[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof e)) exec_errno_ = e;
  ::close(exec_pipe[0]);
  if (options_.stop_at_exec && exec_errno_ == 0) {
    int st = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &st, 0)) < 0 && errno == EINTR) {
    }
    if (r == pid_ && WIFSTOPPED(st)) {
      stopped_at_exec_ = true;
    } else if (r == pid_) {
      reaped_ = true;
      wait_status_ = st;
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    }
  }
  stdin_ = in[1];
  if (out[0] >= 0 || err[0] >= 0) {
    eof_[0] = out[0] < 0;
    eof_[1] = err[0] < 0;
    reader_ = std::thread([this, o = out[0], e = err[0]] { ReadLoop(o, e); });
  }
}

Child::~Child() {
  if (pid_ > 0 && !reaped_ && !released_) {
    KillAll(SIGKILL);
    Reap(true);
  }
  stop_ = true;
  if (reader_.joinable()) reader_.join();
  CloseStdin();
}

bool Child::Write(std::string_view data) {
  if (stdin_ < 0) return false;
  // A child that is gone must not take the test with it: SIGPIPE is blocked
  // in this thread while writing, and the one the write raised is taken back.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool ok = true;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(stdin_, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (errno == EPIPE) {
        timespec zero{};
        ::sigtimedwait(&pipe_set, nullptr, &zero);
      }
      ok = false;
      break;
    }
    done += static_cast<size_t>(w);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

void Child::CloseStdin() {
  if (stdin_ >= 0) ::close(stdin_);
  stdin_ = -1;
}

void Child::Signal(int sig) const {
  if (pid_ > 0 && !reaped_ && !released_) ::kill(pid_, sig);
}

void Child::KillAll(int sig) const {
  if (options_.own_process_group) ::kill(-pid_, sig);
  ::kill(pid_, sig);
}

std::optional<std::string> Child::NextLine(int stream, int timeout_ms) {
  return FindLine(stream, timeout_ms, [](std::string_view) { return true; });
}

std::optional<std::string> Child::WaitForLine(int stream, std::string_view needle, int timeout_ms) {
  return FindLine(stream, timeout_ms, [needle](std::string_view l) { return l.find(needle) != l.npos; });
}

std::optional<std::string> Child::FindLine(int s, int timeout_ms, const std::function<bool(std::string_view)>& match) {
  const auto deadline = Deadline(timeout_ms);
  std::unique_lock lock(mu_);
  auto scan = [&]() -> std::optional<std::string> {
    size_t nl;
    while ((nl = buf_[s].find('\n', cursor_[s])) != std::string::npos) {
      std::string line = buf_[s].substr(cursor_[s], nl - cursor_[s]);
      cursor_[s] = nl + 1;
      if (match(line)) return line;
    }
    return std::nullopt;
  };
  for (;;) {
    if (auto line = scan()) return line;
    if (eof_[s]) return std::nullopt;
    // One last look on timeout: data may have come with it.
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return scan();
  }
}

std::optional<std::string> Child::WaitFor(int s, const std::string& needle, int timeout_ms) {
  const auto deadline = Deadline(timeout_ms);
  std::unique_lock lock(mu_);
  auto scan = [&]() -> std::optional<std::string> {
    for (size_t start = 0, nl; (nl = buf_[s].find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(buf_[s].data() + start, nl - start);
      if (line.find(needle) != line.npos) return std::string(line);
    }
    return std::nullopt;
  };
  for (;;) {
    if (auto line = scan()) return line;
    if (eof_[s]) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return scan();
  }
}

std::string Child::Output(int stream) const {
  std::lock_guard lock(mu_);
  return buf_[stream];
}

bool Child::Reap(bool block) {
  if (reaped_) return true;
  if (pid_ <= 0) return false;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {  // reaped by someone else
      reaped_ = true;
      exit_code_ = -1;
      return true;
    }
    if (r == 0) return false;
    if (WIFSTOPPED(st)) {  // a ptrace stop (stop_at_exec), not an exit
      if (!block) return false;
      continue;
    }
    reaped_ = true;
    wait_status_ = st;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    return true;
  }
}

int Child::Wait(int timeout_ms) {
  if (pid_ <= 0 || released_) return -1;
  const auto deadline = Deadline(timeout_ms);
  bool timed_out = false;
  while (!Reap(false)) {
    if (Clock::now() > deadline) {
      timed_out = true;
      KillAll(SIGKILL);
      Reap(true);
      break;
    }
    ::usleep(2000);
  }
  // The pipes close when the last holder exits; collect what was written before the exit.
  auto output_deadline = deadline;
  if (timed_out)
    output_deadline = Clock::now() + std::chrono::seconds(2);
  else if (options_.output_grace_ms >= 0)
    output_deadline = std::min(deadline, Deadline(options_.output_grace_ms));
  std::unique_lock lock(mu_);
  if (output_deadline == Clock::time_point::max())
    cv_.wait(lock, [this] { return eof_[0] && eof_[1]; });
  else
    cv_.wait_until(lock, output_deadline, [this] { return eof_[0] && eof_[1]; });
  if (timed_out) exit_code_ = -1;
  return exit_code_;
}

bool Child::WaitForExit(int timeout_ms) {
  if (pid_ <= 0 || released_) return false;
  const auto deadline = Deadline(timeout_ms);
  while (!Reap(false)) {
    if (Clock::now() > deadline) return false;
    ::usleep(2000);
  }
  return true;
}

bool Child::Exited() { return Reap(false); }

int Child::Kill(int sig) {
  if (pid_ <= 0 || released_) return -1;
  if (!reaped_) ::kill(pid_, sig);
  Reap(true);
  return exit_code_;
}

pid_t Child::Release() {
  released_ = true;
  return pid_;
}

void Child::ReadLoop(int out, int err) {
  int fds[2] = {out, err};
  char buf[65536];
  while (!stop_ && (fds[0] >= 0 || fds[1] >= 0)) {
    pollfd p[2];
    int n = 0;
    for (int fd : fds)
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    if (::poll(p, n, 100) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      int s = p[i].fd == fds[0] ? 0 : 1;
      ssize_t got = ::read(fds[s], buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::lock_guard lock(mu_);
      if (got > 0) {
        buf_[s].append(buf, static_cast<size_t>(got));
      } else {
        ::close(fds[s]);
        fds[s] = -1;
        eof_[s] = true;
      }
      cv_.notify_all();
    }
  }
  std::lock_guard lock(mu_);
  for (int s = 0; s < 2; ++s) {
    if (fds[s] >= 0) ::close(fds[s]);
    eof_[s] = true;
  }
  cv_.notify_all();
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string RunCommand(const std::string& cmd, const std::string& stdin_data, int* exit_code,
                       std::string* stderr_out) {
  if (exit_code) *exit_code = -1;
  Child c({"/bin/sh", "-c", cmd}, {.in = Io::kPipe, .out = Io::kPipe, .err = stderr_out ? Io::kPipe : Io::kInherit});
  if (!c.started()) return {};
  c.Write(stdin_data);
  c.CloseStdin();
  int rc = c.Wait(kForever);
  if (exit_code) *exit_code = rc;
  if (stderr_out) *stderr_out = c.err();
  return c.out();
}

char ProcessState(pid_t pid) {
  std::optional<std::string> text = ReadProcFile(pid, "stat");
  std::optional<ProcStat> stat = text ? ParseProcStat(*text) : std::nullopt;
  return stat ? stat->state : '?';
}

}  // namespace goscope::testing
