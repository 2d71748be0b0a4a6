// MemProfileRateOverride, the one writer of target memory, on live heapprog
// processes (every toolchain, plain and stripped: the address comes from DWARF
// or, stripped, from disassembly): it writes only a zero rate, reads its write
// back, restores on Restore() and on destruction, verifies the restore, leaves
// a rate the program changed meanwhile alone, and the program's allocator
// picks the written rate up.
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <fstream>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>

#include "bpf_required.h"
#include "error.h"
#include "heap_test_util.h"
#include "process/memprofilerate.h"
#include "runtime_variables.h"
#include "process/target_process.h"
#include "testbin.h"

namespace goscope {
namespace {

using heaptest::Child;

uint64_t RateAddress(pid_t pid) {
  TargetProcess t = TargetProcess::Find(pid);
  return MemProfileRateAddress(t, ResolveRuntimeLayout(*t.binary));
}

bool Poke(pid_t pid, uint64_t addr, int64_t v) {
  iovec local{&v, sizeof v}, remote{reinterpret_cast<void*>(addr), sizeof v};
  return ::process_vm_writev(pid, &local, 1, &remote, 1, 0) == sizeof v;
}

TEST(MemProfileRate, WritesAZeroRateRestoresAndVerifies) {
  for (const auto& b : heaptest::HeapPrograms("heapprog")) {
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    Child prog({b.path});
    if (!prog.WaitFor(0, "heapprog: ready")) {
      ADD_FAILURE() << "program did not start: " << prog.err();
      continue;
    }
    EXPECT_NE(prog.out().find("memprofilerate=0"), std::string::npos) << prog.out();
    const uint64_t addr = RateAddress(prog.pid());
    EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 0);
    {
      MemProfileRateOverride o(prog.pid(), addr, 4096, /*allow_write=*/true);
      EXPECT_EQ(o.original(), 0);
      EXPECT_TRUE(o.written());
      EXPECT_EQ(o.effective(), 4096);
      EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 4096);
      // The runtime reads it: the program reports the rate after its workload.
      prog.Signal(SIGUSR1);
      EXPECT_TRUE(prog.WaitFor(0, "heapprog: done memprofilerate=4096")) << prog.out();
      std::string why;
      EXPECT_TRUE(o.Restore(&why)) << why;
      EXPECT_FALSE(o.written());
      EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 0);
      EXPECT_TRUE(o.Restore()) << "idempotent";
    }
    EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 0);
    // RAII: destruction restores.
    {
      MemProfileRateOverride o(prog.pid(), addr, 8192, true);
      EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 8192);
    }
    EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 0);
    // Not allowed to write: reads only.
    {
      MemProfileRateOverride o(prog.pid(), addr, 8192, false);
      EXPECT_FALSE(o.written());
      EXPECT_EQ(o.effective(), 0);
      EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 0);
      EXPECT_TRUE(o.Restore());
    }
    prog.Signal(SIGTERM);
    EXPECT_EQ(prog.Wait(), 0);
  }
}

TEST(MemProfileRate, LeavesTheProgramsOwnRateAlone) {
  for (const auto& b : heaptest::HeapPrograms("heapprog_pprof")) {
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    Child prog({b.path});
    if (!prog.WaitFor(0, "heapprog: ready")) {
      ADD_FAILURE() << "program did not start: " << prog.err();
      continue;
    }
    const uint64_t addr = RateAddress(prog.pid());
    MemProfileRateOverride o(prog.pid(), addr, 4096, true);
    EXPECT_EQ(o.original(), 512 * 1024);
    EXPECT_FALSE(o.written());
    EXPECT_EQ(o.effective(), 512 * 1024);
    EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 512 * 1024);
  }
}

TEST(MemProfileRate, RestoreLeavesARateTheProgramChangedAndSurvivesExit) {
  auto progs = heaptest::HeapPrograms("heapprog");
  if (progs.empty()) return;
  const auto& b = progs.back();
  Child prog({b.path});
  ASSERT_TRUE(prog.WaitFor(0, "heapprog: ready")) << prog.err();
  const uint64_t addr = RateAddress(prog.pid());
  {
    MemProfileRateOverride o(prog.pid(), addr, 4096, true);
    ASSERT_TRUE(Poke(prog.pid(), addr, 12345));  // as if the program set its own rate
    std::string why;
    EXPECT_FALSE(o.Restore(&why));
    EXPECT_NE(why.find("changed"), std::string::npos) << why;
    EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 12345);
  }
  EXPECT_EQ(ReadMemProfileRate(prog.pid(), addr), 12345) << "the destructor must not retry";
  ASSERT_TRUE(Poke(prog.pid(), addr, 0));
  {
    MemProfileRateOverride o(prog.pid(), addr, 4096, true);
    prog.Signal(SIGKILL);
    prog.Wait();
    std::string why;
    EXPECT_FALSE(o.Restore(&why));
    EXPECT_NE(why.find("exited"), std::string::npos) << why;
  }
}

// The record a goscope keeps while it relies on a rate it wrote (see memprofilerate.h).
std::string LedgerOf(pid_t pid) {
  std::string stat = testing::RunCommand("cat /proc/" + std::to_string(pid) + "/stat", "", nullptr);
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; i++) {
  }
  return "/run/lock/goscope-memprofilerate-" + std::to_string(pid) + "-" + field;
}

// The newest toolchain's heapprog, ready; nullptr (with a failure) if it did not start.
std::unique_ptr<Child> StartNewestHeapprog() {
  auto progs = heaptest::HeapPrograms("heapprog");
  if (progs.empty()) return nullptr;
  auto prog = std::make_unique<Child>(std::vector<std::string>{progs.back().path});
  if (!prog->WaitFor(0, "heapprog: ready")) {
    ADD_FAILURE() << "heapprog did not start: " << prog->err();
    return nullptr;
  }
  return prog;
}

TEST(MemProfileRate, TwoWritersShareOneRateAndTheLastRestores) {
  auto prog = StartNewestHeapprog();
  ASSERT_TRUE(prog);
  const uint64_t addr = RateAddress(prog->pid());
  auto first = std::make_unique<MemProfileRateOverride>(prog->pid(), addr, 4096, true);
  EXPECT_TRUE(testing::FileExists(LedgerOf(prog->pid())));
  MemProfileRateOverride second(prog->pid(), addr, 8192, true);
  EXPECT_TRUE(second.shared());
  EXPECT_TRUE(second.written());
  EXPECT_EQ(second.original(), 0) << "the program's rate, not the first writer's";
  EXPECT_EQ(second.effective(), 4096) << "one rate per process: the one already written";
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 4096);
  // The first leaves: the second still samples, so the rate stays.
  EXPECT_TRUE(first->Restore());
  EXPECT_NE(first->outcome().find("left at 4096"), std::string::npos) << first->outcome();
  first.reset();
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 4096);
  // The last one restores the program's 0 and removes the record.
  std::string why;
  EXPECT_TRUE(second.Restore(&why)) << why;
  EXPECT_EQ(second.outcome(), "runtime.MemProfileRate restored to 0");
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 0);
  EXPECT_FALSE(testing::FileExists(LedgerOf(prog->pid())));
}

TEST(MemProfileRate, ARateLeftByAKilledWriterIsRestoredByTheNext) {
  auto prog = StartNewestHeapprog();
  ASSERT_TRUE(prog);
  const uint64_t addr = RateAddress(prog->pid());
  // A writer that dies without restoring: a child that writes and is SIGKILLed.
  pid_t writer = ::fork();
  if (writer == 0) {
    MemProfileRateOverride o(prog->pid(), addr, 4096, true);
    ::raise(SIGKILL);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(writer, &st, 0), writer);
  ASSERT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 4096) << "left behind";
  {
    MemProfileRateOverride next(prog->pid(), addr, 8192, true);
    EXPECT_TRUE(next.inherited());
    EXPECT_EQ(next.original(), 0);
    EXPECT_EQ(next.effective(), 4096);
  }
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 0) << "the next writer restored the program's 0";
  EXPECT_FALSE(testing::FileExists(LedgerOf(prog->pid())));
  // A program's own nonzero rate is never taken for one goscope left, record or not.
  ASSERT_TRUE(Poke(prog->pid(), addr, 65536));
  {
    MemProfileRateOverride o(prog->pid(), addr, 4096, true);
    EXPECT_FALSE(o.written());
    EXPECT_FALSE(o.inherited());
    EXPECT_EQ(o.effective(), 65536);
  }
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 65536);
}

// The same through the CLI, with real goscope processes: a second `heap` on a
// process samples at the first one's rate and says so; the first to leave
// leaves the rate; a goscope SIGKILLed mid-run leaves the rate, and the next
// one restores it.
TEST(MemProfileRate, CliSharesARateAndTakesOverOneLeftBehind) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  auto prog = StartNewestHeapprog();
  ASSERT_TRUE(prog);
  const uint64_t addr = RateAddress(prog->pid());
  const std::string pid = std::to_string(prog->pid());
  heaptest::TempDir dir;
  auto heap = [&](const char* name, const char* seconds) {
    return std::make_unique<Child>(std::vector<std::string>{heaptest::GoscopeBinary(), "heap", "-p", pid, "--duration",
                                                            seconds, "-o", dir.path() + "/" + name + ".pb.gz"});
  };
  auto first = heap("first", "30");
  ASSERT_TRUE(first->WaitFor(1, "probes live", 30000)) << first->err();
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 524288);
  auto second = heap("second", "1");
  EXPECT_EQ(second->Wait(30000), 0) << second->err();
  EXPECT_NE(second->err().find("written by another goscope"), std::string::npos) << second->err();
  EXPECT_NE(second->err().find("left at 524288 for another goscope"), std::string::npos) << second->err();
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 524288) << "the first still samples";
  first->Signal(SIGKILL);
  first->Wait();
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 524288) << "a killed goscope cannot restore";
  auto third = heap("third", "1");
  EXPECT_EQ(third->Wait(30000), 0) << third->err();
  EXPECT_NE(third->err().find("left by a goscope that did not restore it"), std::string::npos) << third->err();
  EXPECT_NE(third->err().find("restored to 0"), std::string::npos) << third->err();
  EXPECT_EQ(ReadMemProfileRate(prog->pid(), addr), 0);
}

// A goscope killed while its target then exits leaves a record nobody will
// restore; the next goscope to write a rate removes it, and leaves alone the
// records of processes that still run and files it does not own.
TEST(MemProfileRate, RecordsOfProcessesThatAreGoneAreSwept) {
  // A process instance that no longer runs: a child that has exited.
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const std::string stale = LedgerOf(child);
  ::kill(child, SIGKILL);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  {
    std::ofstream(stale) << "524288 0\n";
  }
  ASSERT_EQ(::chmod(stale.c_str(), 0600), 0);
  // The same name from another user (/run/lock is world-writable): not ours to remove.
  const std::string foreign = stale + "0";
  {
    std::ofstream(foreign) << "524288 0\n";
  }
  ASSERT_EQ(::chmod(foreign.c_str(), 0600), 0);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
  }
  // A record of a live process: this test's own.
  const std::string live = LedgerOf(::getpid());
  {
    std::ofstream(live) << "524288 0\n";
  }
  ASSERT_EQ(::chmod(live.c_str(), 0600), 0);
  SweepStaleRateRecords();
  EXPECT_FALSE(testing::FileExists(stale)) << "the record of an exited process stays";
  EXPECT_TRUE(testing::FileExists(live)) << "the record of a running process went";
  if (::geteuid() == 0) {
    EXPECT_TRUE(testing::FileExists(foreign)) << "another user's file went";
  }
  ::unlink(live.c_str());
  ::unlink(foreign.c_str());
}

TEST(MemProfileRate, UnreadableAddressThrows) {
  auto progs = heaptest::HeapPrograms("heapprog");
  if (progs.empty()) return;
  Child prog({progs.back().path});
  ASSERT_TRUE(prog.WaitFor(0, "heapprog: ready")) << prog.err();
  EXPECT_THROW(MemProfileRateOverride(prog.pid(), 0x10, 4096, true), Error);
  EXPECT_FALSE(ReadMemProfileRate(prog.pid(), 0x10).has_value());
}

}  // namespace
}  // namespace goscope
