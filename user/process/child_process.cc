#include "process/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
std::atomic<pid_t> g_forward_to{0};

// Passes on what someone sent goscope with kill(2); signals the kernel or the
// terminal raised (si_code > 0) reached the child on their own.
void Forward(int sig, siginfo_t* info, void*) {
  pid_t child = g_forward_to.load();
  if (child > 0 && info && info->si_code <= 0 && info->si_pid != child) kill(child, sig);
}

bool Executable(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string ChildProcess::Resolve(const std::string& program) {
  if (program.empty()) throw Error("no program given");
  if (program.find('/') != std::string::npos) {
    if (access(program.c_str(), F_OK) != 0) throw NotRunnable(fmt::format("{}: no such file", program), 127);
    if (!Executable(program)) throw NotRunnable(fmt::format("{}: not an executable file", program), 126);
    return program;
  }
  const char* env = std::getenv("PATH");
  std::string path = env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find(':', pos);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(pos, end - pos);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (Executable(candidate)) return candidate;
    pos = end + 1;
  }
  throw NotRunnable(fmt::format("{}: command not found", program), 127);
}

ChildProcess::ChildProcess(const std::string& path, const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // exec's errno comes back through a close-on-exec pipe: EOF means exec worked.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error(fmt::format("pipe: {}", std::strerror(errno)));
  pid_ = fork();
  if (pid_ < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    throw Error(fmt::format("fork: {}", std::strerror(err)));
  }
  if (pid_ == 0) {
    close(fds[0]);
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0) execv(path.c_str(), args.data());
    int err = errno;
    (void)!write(fds[1], &err, sizeof err);
    _exit(127);
  }
  close(fds[1]);
  int err = 0;
  ssize_t n = read(fds[0], &err, sizeof err);
  close(fds[0]);
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) throw Error(fmt::format("waitpid {}: {}", pid_, std::strerror(errno)));
  if (n == sizeof err) {
    reaped_ = true;
    throw Error(fmt::format("cannot run {}: {}", path, std::strerror(err)));
  }
  if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
    reaped_ = !WIFSTOPPED(status);
    throw Error(fmt::format("{} did not stop at exec ({})", path, DescribeWaitStatus(status)));
  }
}

ChildProcess::~ChildProcess() {
  Resume();
  for (int sig : kForwarded) signal(sig, SIG_DFL);
  g_forward_to.store(0);
}

void ChildProcess::Resume() {
  if (resumed_ || reaped_ || pid_ <= 0) return;
  resumed_ = true;
  ptrace(PTRACE_DETACH, pid_, nullptr, nullptr);
}

void ChildProcess::ForwardSignals() {
  g_forward_to.store(pid_);
  struct sigaction sa {};
  sa.sa_sigaction = Forward;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
}

void ChildProcess::KillIfNeverRan() {
  if (resumed_ || reaped_ || pid_ <= 0) return;
  kill(pid_, SIGKILL);
  resumed_ = true;
  Wait();
}

int ChildProcess::Wait() {
  if (reaped_) return status_;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, 0);
    if (r == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) {
      reaped_ = true;
      status_ = status;
      return status;
    }
    if (r < 0 && errno != EINTR) throw Error(fmt::format("waitpid {}: {}", pid_, std::strerror(errno)));
  }
}

std::string DescribeWaitStatus(int s) {
  if (WIFEXITED(s)) return fmt::format("exited with status {}", WEXITSTATUS(s));
  if (WIFSIGNALED(s)) return fmt::format("killed by signal {} ({})", WTERMSIG(s), strsignal(WTERMSIG(s)));
  if (WIFSTOPPED(s)) return fmt::format("stopped by signal {}", WSTOPSIG(s));
  return fmt::format("wait status {:#x}", s);
}

int ExitLikeChild(int s) {
  if (WIFEXITED(s)) return WEXITSTATUS(s);
  if (!WIFSIGNALED(s)) return 1;
  int sig = WTERMSIG(s);
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  fflush(nullptr);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  return 128 + sig;  // a signal whose default is not to terminate
}

}  // namespace goscope
