// MemProfileRateOverride, the one writer of target memory, on live heapprog
// processes (every toolchain, plain and stripped: the address comes from DWARF
// or, stripped, from disassembly): it writes only a zero rate, reads its write
// back, restores on Restore() and on destruction, verifies the restore, leaves
// a rate the program changed meanwhile alone, and the program's allocator
// picks the written rate up.
#include <signal.h>
#include <sys/uio.h>

#include <gtest/gtest.h>

#include "error.h"
#include "heap_test_util.h"
#include "memprofilerate.h"
#include "runtime_variables.h"
#include "target_process.h"
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
