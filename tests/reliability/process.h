// A child process for the reliability suite: stdin, stdout and stderr on
// pipes, read by a thread of its own into buffers, so that the test can talk
// to a target and to goscope at the same time and never deadlock on a full
// pipe. Lines are consumed in order through a cursor per stream.
//
// The child runs in a process group of its own; the destructor SIGKILLs the
// group (a launcher's children included) and reaps the child.
//
// Header-only: the suite's CMakeLists compiles only tests/reliability/*_test.cc.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace goscope::reliability {

enum Stream { kStdout = 0, kStderr = 1 };

class Process {
 public:
  // Starts argv[0] (a path, no PATH search) with argv. extra_env entries
  // ("NAME=value") are added to the environment.
  explicit Process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {}) {
    argv_ = argv;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
        if (fd >= 0) ::close(fd);
      return;  // started() is false
    }
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls (this process has threads).
    std::vector<char*> args;
    for (const auto& s : argv_) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    for (const auto& e : extra_env) env_strings.push_back(e);
    std::vector<char*> env;
    for (auto& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      struct sigaction dfl{};
      dfl.sa_handler = SIG_DFL;
      for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGUSR1, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execve(args[0], args.data(), env.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (pid_ < 0) {
      ::close(in[1]), ::close(out[0]), ::close(err[0]);
      return;
    }
    ::setpgid(pid_, pid_);  // also from here: no race with the first kill
    stdin_ = in[1];
    reader_ = std::thread([this, o = out[0], e = err[0]] { ReadLoop(o, e); });
  }

  ~Process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      Wait(10000);
    }
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    CloseStdin();
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // Writes line + "\n" to the child's stdin; false when it cannot (closed, child gone).
  bool WriteLine(const std::string& line) {
    if (stdin_ < 0) return false;
    std::string s = line + "\n";
    size_t done = 0;
    while (done < s.size()) {
      ssize_t w = ::write(stdin_, s.data() + done, s.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      done += static_cast<size_t>(w);
    }
    return true;
  }
  void CloseStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void Signal(int sig) const {
    if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
  }

  // The next complete line of stream s after the cursor (the cursor moves
  // past it), waiting up to timeout_ms; nullopt on timeout or end of stream.
  std::optional<std::string> NextLine(Stream s, int timeout_ms) {
    return FindLine(s, timeout_ms, [](std::string_view) { return true; });
  }
  // The next line after the cursor that contains needle; the cursor moves
  // past it (lines before it are skipped).
  std::optional<std::string> WaitForLine(Stream s, std::string_view needle, int timeout_ms) {
    return FindLine(s, timeout_ms, [needle](std::string_view l) { return l.find(needle) != l.npos; });
  }
  std::optional<std::string> FindLine(Stream s, int timeout_ms, const std::function<bool(std::string_view)>& match) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::unique_lock lock(mu_);
    for (;;) {
      size_t nl;
      while ((nl = buf_[s].find('\n', cursor_[s])) != std::string::npos) {
        std::string line = buf_[s].substr(cursor_[s], nl - cursor_[s]);
        cursor_[s] = nl + 1;
        if (match(line)) return line;
      }
      if (eof_[s]) return std::nullopt;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        // one last look: data may have come with the timeout
        while ((nl = buf_[s].find('\n', cursor_[s])) != std::string::npos) {
          std::string line = buf_[s].substr(cursor_[s], nl - cursor_[s]);
          cursor_[s] = nl + 1;
          if (match(line)) return line;
        }
        return std::nullopt;
      }
    }
  }

  // Everything the stream has produced so far (the cursor does not matter).
  std::string Output(Stream s) const {
    std::lock_guard lock(mu_);
    return buf_[s];
  }

  // Reaps the child, waiting up to timeout_ms; returns its exit code (128+N
  // if killed by signal N), or -1 on timeout (then it is SIGKILLed and reaped).
  int Wait(int timeout_ms) {
    if (reaped_) return exit_code_;
    if (pid_ <= 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool timed_out = false;
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
        if (timed_out) exit_code_ = -1;
        break;
      }
      if (r < 0 && errno != EINTR) {
        reaped_ = true;
        exit_code_ = -1;
        break;
      }
      if (!timed_out && std::chrono::steady_clock::now() > deadline) {
        timed_out = true;
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
      }
      ::usleep(2000);
    }
    // The pipes close when the last holder exits; give the reader a moment to
    // collect what was written before the exit.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return eof_[0] && eof_[1]; });
    return exit_code_;
  }
  // Whether the child has exited (reaps it if so), without waiting.
  bool Exited() {
    if (reaped_) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    reaped_ = true;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    return true;
  }
  int exit_code() const { return exit_code_; }

 private:
  void ReadLoop(int out, int err) {
    int fds[2] = {out, err};
    char buf[65536];
    while (!stop_ && (fds[0] >= 0 || fds[1] >= 0)) {
      pollfd p[2];
      int n = 0;
      for (int fd : fds)
        if (fd >= 0) p[n++] = {fd, POLLIN, 0};
      int r = ::poll(p, n, 100);
      if (r <= 0) continue;
      for (int i = 0; i < n; ++i) {
        if (!p[i].revents) continue;
        int s = p[i].fd == fds[0] ? 0 : 1;
        ssize_t got = ::read(fds[s], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
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

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::atomic<bool> stop_{false};
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_[2];
  size_t cursor_[2] = {0, 0};
  bool eof_[2] = {false, false};
};

}  // namespace goscope::reliability
