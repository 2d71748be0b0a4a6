// The exec/exit watcher on real processes: an exec is seen within a second
// with the file's real device and inode, a process's exit once and only when
// its last thread goes, and stop-on-exec really stops a program before its
// first instruction.
#include "probes/process_events.h"

#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bpf_required.h"
#include "error.h"
#include "child.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A program started as posix_spawn would (no environment, no stdout), left
// to the test to reap.
pid_t Spawn(const std::vector<std::string>& argv) {
  testing::Child c(argv, {.in = testing::Io::kInherit, .out = testing::Io::kNull, .err = testing::Io::kInherit,
                          .env = std::vector<std::string>{}});
  return c.started() && !c.exec_error() ? c.Release() : -1;
}

// Polls until pred() or timeout; true if pred() held.
template <typename Pred>
bool PollUntil(ProcessEvents& ev, int timeout_ms, Pred pred, const std::function<void(const ExecEvent&)>& on_exec,
               const std::function<void(const ExitEvent&)>& on_exit) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    ev.Poll(50, on_exec, on_exit);
  }
  return true;
}

char ProcState(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(f, line)) return '?';
  size_t close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

// Where a stopped process will resume: the pc /proc/PID/syscall shows.
uint64_t StoppedPc(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/syscall", pid));
  std::string field, last;
  while (f >> field) last = field;
  return std::strtoull(last.c_str(), nullptr, 16);
}

// The very first user-space instruction of a freshly exec'd process: the
// dynamic loader's entry (AT_BASE + its e_entry), or AT_ENTRY for a static program.
uint64_t FirstInstruction(pid_t pid) {
  std::ifstream auxv(fmt::format("/proc/{}/auxv", pid), std::ios::binary);
  uint64_t kv[2], base = 0, entry = 0;
  while (auxv.read(reinterpret_cast<char*>(kv), sizeof kv) && kv[0] != AT_NULL) {
    if (kv[0] == AT_BASE) base = kv[1];
    if (kv[0] == AT_ENTRY) entry = kv[1];
  }
  if (base == 0) return entry;
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  std::string line;
  while (std::getline(maps, line)) {
    if (std::strtoull(line.c_str(), nullptr, 16) != base) continue;
    std::string interp = line.substr(line.find('/'));
    Elf64_Ehdr eh{};
    std::ifstream(interp, std::ios::binary).read(reinterpret_cast<char*>(&eh), sizeof eh);
    return base + eh.e_entry;
  }
  return 0;
}

TEST(ProcessEvents, DeviceNumberEncodings) {
  // The kernel's MKDEV and glibc's makedev agree only on small numbers.
  EXPECT_EQ(DevFromKernel(254u << 20 | 0), makedev(254, 0));
  EXPECT_EQ(DevFromKernel(0u << 20 | 27), makedev(0, 27));
  EXPECT_EQ(DevFromKernel(259u << 20 | 300), makedev(259, 300));
  EXPECT_EQ(DevFromKernel(4095u << 20 | 0xfffff), makedev(4095, 0xfffff));
  EXPECT_NE(uint64_t{259u << 20 | 300}, makedev(259, 300));
  for (uint32_t k : {0u, 1u, 254u << 20, 8u << 20 | 17, 259u << 20 | 70000, 0xffffffffu})
    EXPECT_EQ(DevToKernel(DevFromKernel(k)), k) << k;

  // Against stat() of real files and what the kernel prints in /proc/self/maps
  // (MAJOR:MINOR of inode->i_sb->s_dev), on the root file system and a tmpfs.
  testing::TempDir tmp("proc-events");
  std::string dir = tmp.path();
  std::vector<std::string> files = {"/bin/sleep", dir + "/f"};
  std::ofstream(dir + "/f") << "x";
  if (fs::is_directory("/dev/shm")) {
    files.push_back("/dev/shm/goscope-dev-test-" + std::to_string(getpid()));
    std::ofstream(files.back()) << "x";
  }
  for (const auto& f : files) {
    struct stat st {};
    ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
    std::vector<KernelFileId> ids = KernelFileIds(f);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids[0].dev, (major(st.st_dev) << 20) | minor(st.st_dev)) << f;
    EXPECT_EQ(ids[0].ino, st.st_ino) << f;
    EXPECT_EQ(DevFromKernel(ids[0].dev), st.st_dev) << f;
    // ext4 and tmpfs report the superblock's device in stat(): one id, no extra.
    EXPECT_EQ(ids.size(), 1u) << f;
  }
  for (size_t i = 1; i < files.size(); i++) unlink(files[i].c_str());
  fs::remove_all(dir);
  EXPECT_THROW(KernelFileIds("/nonexistent/goscope"), Error);
  EXPECT_THROW(KernelFileIds("/tmp"), Error);
}

TEST(ProcessEvents, SeesExecWithIdentityAndExit) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  std::string demo;
  for (const auto& b : testing::LoadTestBinaries())
    if (b.name == "demo" && b.variant == "stripped") demo = b.path;
  ASSERT_FALSE(demo.empty());

  ProcessEvents ev;
  ev.Start();
  struct Seen {
    Clock::time_point at;
    ExecEvent e;
  };
  std::map<pid_t, Seen> execs;
  std::map<pid_t, int> exits;
  auto on_exec = [&](const ExecEvent& e) { execs.emplace(e.pid, Seen{Clock::now(), e}); };
  auto on_exit = [&](const ExitEvent& e) { exits[e.pid]++; };

  for (const std::string& path : {std::string("/bin/sleep"), demo}) {
    auto t0 = Clock::now();
    pid_t pid = path == demo ? Spawn({path, "-duration", "300ms", "-status", "0"}) : Spawn({path, "0.3"});
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(PollUntil(
        ev, 1000, [&] { return execs.count(pid) > 0; }, on_exec, on_exit))
        << "no exec event for " << path << " within a second";
    const Seen& s = execs.at(pid);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(s.e.filename, path);
    EXPECT_EQ(s.e.dev, st.st_dev) << path;
    EXPECT_EQ(s.e.ino, st.st_ino) << path;
    EXPECT_FALSE(s.e.stopped);
    EXPECT_LT(s.at - t0, std::chrono::seconds(1));
    std::printf("[ exec seen ] %s: %.2f ms after spawn began\n", path.c_str(),
                std::chrono::duration<double, std::milli>(s.at - t0).count());

    ASSERT_TRUE(PollUntil(
        ev, 5000, [&] { return exits.count(pid) > 0; }, on_exec, on_exit))
        << "no exit event for " << path;
    EXPECT_EQ(exits[pid], 1) << "one exit per process, however many threads it had";
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << path << " status " << status;
  }
  EXPECT_EQ(ev.lost(), 0u);
}

// A process whose main thread exits first lives on in its other thread; its
// exit event must come when that thread ends, not when the leader does.
TEST(ProcessEvents, ExitOnlyWhenTheLastThreadGoes) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  ProcessEvents ev;
  ev.Start();
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    // Child: a short-lived thread, a long-lived one, then the leader exits alone.
    close(pipefd[0]);
    pthread_t t;
    pthread_create(
        &t, nullptr, [](void*) -> void* { return nullptr; }, nullptr);
    pthread_join(t, nullptr);
    pthread_create(
        &t, nullptr,
        [](void*) -> void* {
          usleep(600 * 1000);
          syscall(SYS_exit_group, 0);
          return nullptr;
        },
        nullptr);
    (void)!write(pipefd[1], "x", 1);
    syscall(SYS_exit, 0);  // this thread only
    _exit(1);              // not reached
  }
  ASSERT_GT(pid, 0);
  close(pipefd[1]);
  char c;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);  // the leader is about to exit
  close(pipefd[0]);
  auto leader_gone = Clock::now();

  std::optional<Clock::time_point> exit_at;
  int exits = 0;
  auto on_exit = [&](const ExitEvent& e) {
    if (e.pid != pid) return;
    exits++;
    exit_at = Clock::now();
  };
  ASSERT_TRUE(PollUntil(
      ev, 5000, [&] { return exit_at.has_value(); }, {}, on_exit));
  EXPECT_GE(*exit_at - leader_gone, std::chrono::milliseconds(400))
      << "exit reported when the leader exited, while another thread still ran";
  ev.Poll(100, {}, on_exit);
  EXPECT_EQ(exits, 1);
  int status = 0;
  waitpid(pid, &status, 0);
}

TEST(ProcessEvents, StopOnExecStopsBeforeTheFirstInstruction) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  // Our own copy of touch: stopping every exec of /usr/bin/touch would stop other tests' too.
  testing::TempDir tmp("proc-events");
  std::string dir = tmp.path();
  std::string prog = dir + "/touch-copy";
  fs::copy_file("/usr/bin/touch", prog);
  fs::permissions(prog, fs::perms::owner_all);
  std::string marker = dir + "/ran";

  ProcessEvents ev;
  ev.StopOnExec(prog);  // before Start: in the map before the first exec is seen
  ev.Start();
  std::map<pid_t, ExecEvent> execs;
  auto on_exec = [&](const ExecEvent& e) { execs.emplace(e.pid, e); };

  pid_t pid = Spawn({prog, marker});
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status)) << "status " << status;
  EXPECT_EQ(WSTOPSIG(status), SIGSTOP);
  EXPECT_EQ(ProcState(pid), 'T');
  ASSERT_TRUE(PollUntil(ev, 1000, [&] { return execs.count(pid) > 0; }, on_exec, {}));
  EXPECT_TRUE(execs.at(pid).stopped);
  EXPECT_EQ(execs.at(pid).filename, prog);
  // It execs its own image and stops at the loader's entry: not one instruction ran.
  auto exe = fs::read_symlink(fmt::format("/proc/{}/exe", pid));
  EXPECT_EQ(exe, prog);
  uint64_t first = FirstInstruction(pid);
  EXPECT_NE(first, 0u);
  EXPECT_EQ(StoppedPc(pid), first) << std::hex << "stopped at 0x" << StoppedPc(pid) << ", entry 0x" << first;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(fs::exists(marker)) << "the program ran while it should be stopped";
  EXPECT_EQ(ProcState(pid), 'T');

  kill(pid, SIGCONT);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_TRUE(fs::exists(marker));

  // Forgotten: the next exec runs straight through.
  ev.ForgetStopOnExec(prog);
  fs::remove(marker);
  pid = Spawn({prog, marker});
  ASSERT_GT(pid, 0);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_TRUE(fs::exists(marker));
  ASSERT_TRUE(PollUntil(ev, 1000, [&] { return execs.count(pid) > 0; }, on_exec, {}));
  EXPECT_FALSE(execs.at(pid).stopped);

  // Registered after Start, and through a second name of the same file (a hard link).
  std::string link = dir + "/touch-link";
  ASSERT_EQ(::link(prog.c_str(), link.c_str()), 0);
  ev.StopOnExec(link);
  fs::remove(marker);
  pid = Spawn({prog, marker});
  ASSERT_GT(pid, 0);
  ASSERT_EQ(waitpid(pid, &status, WUNTRACED), pid);
  EXPECT_TRUE(WIFSTOPPED(status)) << "status " << status;
  EXPECT_FALSE(fs::exists(marker));
  kill(pid, SIGCONT);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(fs::exists(marker));
  ev.ForgetStopOnExec(link);
  fs::remove_all(dir);
}

TEST(ProcessEvents, CallbackExceptionLeavesPollAndKeepsTheRest) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  ProcessEvents ev;
  ev.Start();
  // Spawn returns once the child has exec'd (its close-on-exec files are
  // closed), which is before the exec tracepoint; the first child's exit
  // orders its event first.
  pid_t first = Spawn({"/bin/true"});
  ASSERT_GT(first, 0);
  waitpid(first, nullptr, 0);
  pid_t second = Spawn({"/bin/true"});
  ASSERT_GT(second, 0);
  waitpid(second, nullptr, 0);
  bool saw_second = false;
  auto on_exec = [&](const ExecEvent& e) {
    if (e.pid == first) throw std::runtime_error("callback failed");
    if (e.pid == second) saw_second = true;
  };
  EXPECT_THROW(ev.Poll(1000, on_exec, {}), std::runtime_error);
  EXPECT_FALSE(saw_second);
  EXPECT_TRUE(PollUntil(ev, 1000, [&] { return saw_second; }, on_exec, {}));
}

TEST(ProcessEvents, RefusesUseBeforeStartAndUnreadablePaths) {
  ProcessEvents ev;
  EXPECT_THROW(ev.Poll(0, {}, {}), Error);
  EXPECT_THROW(ev.StopOnExec("/nonexistent/goscope/bin"), Error);
  ev.ForgetStopOnExec("/never/registered");  // no-op
}

}  // namespace
}  // namespace goscope
