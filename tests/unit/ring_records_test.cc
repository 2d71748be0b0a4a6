// Ring-buffer records decoded without BPF: each kind the programs write, and
// the records a decoder must refuse (too short for their kind, unknown kinds).
#include "probes/ring_records.h"

#include <linux/types.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "gc_events.h"
#include "goroutine_events.h"
#include "heap_events.h"
#include "proc_events.h"

namespace goscope {
namespace {

template <typename T>
std::vector<uint8_t> Bytes(const T& v, size_t cut = 0) {
  std::vector<uint8_t> b(sizeof v - cut);
  std::memcpy(b.data(), &v, b.size());
  return b;
}

TEST(RingRecords, GoroutineCreateKeepsTheStackFromTheGoStatement) {
  goroutine_event e{};
  e.kind = GOROUTINE_CREATE;
  e.pid = 42;
  e.ts = 1000;
  e.goid = 7;
  e.parent_goid = 1;
  e.creator_goid = 1;
  e.gopc = 0x4010;
  e.startpc = 0x5000;
  e.nframes = 4;
  uint64_t stack[] = {0x100, 0x200, 0x4010, 0x4020};  // newproc, systemstack, then the go statement
  std::memcpy(e.stack, stack, sizeof stack);
  auto ev = DecodeGoroutineRecord(Bytes(e));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, GoroutineEvent::kCreate);
  EXPECT_EQ(ev->pid, 42);
  EXPECT_EQ(ev->ts_ns, 1000u);
  EXPECT_EQ(ev->goid, 7u);
  EXPECT_EQ(ev->parent_goid, 1u);
  EXPECT_EQ(ev->gopc, 0x4010u);
  EXPECT_EQ(ev->startpc, 0x5000u);
  EXPECT_EQ(ev->creation_stack, (std::vector<uint64_t>{0x4010, 0x4020}));

  // gopc not among the first frames: the walk is not trusted.
  e.stack[2] = 0x300;
  ev = DecodeGoroutineRecord(Bytes(e));
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->creation_stack.empty());

  // A depth beyond the array is cut to it.
  e.stack[0] = e.gopc;
  e.nframes = 1000;
  ev = DecodeGoroutineRecord(Bytes(e));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->creation_stack.size(), size_t{GOROUTINE_STACK_MAX});
}

TEST(RingRecords, CreationAtAGoStatementAlreadyWalkedCarriesNoStack) {
  goroutine_create_event c{GOROUTINE_CREATE_SITE, 42, 1500, 8, 1, 0x4010, 0x5000};
  auto ev = DecodeGoroutineRecord(Bytes(c));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, GoroutineEvent::kCreate);
  EXPECT_EQ(ev->goid, 8u);
  EXPECT_EQ(ev->parent_goid, 1u);
  EXPECT_EQ(ev->gopc, 0x4010u);
  EXPECT_EQ(ev->startpc, 0x5000u);
  EXPECT_TRUE(ev->stack_of_site);
  EXPECT_TRUE(ev->creation_stack.empty());
  EXPECT_FALSE(DecodeGoroutineRecord(Bytes(c, 1))) << "a record cut short is refused";
}

TEST(RingRecords, GoroutineExitIsTheHeaderAlone) {
  goroutine_exit_event x{GOROUTINE_EXIT, 42, 2000, 9};
  auto ev = DecodeGoroutineRecord(Bytes(x));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, GoroutineEvent::kExit);
  EXPECT_EQ(ev->goid, 9u);
  EXPECT_FALSE(DecodeGoroutineRecord(Bytes(x, 1))) << "a header cut short";
  goroutine_exit_event create_header{GOROUTINE_CREATE, 42, 2000, 9};
  EXPECT_FALSE(DecodeGoroutineRecord(Bytes(create_header))) << "a creation without its body";
  goroutine_exit_event unknown{77, 42, 2000, 9};
  EXPECT_FALSE(DecodeGoroutineRecord(Bytes(unknown)));
}

TEST(RingRecords, HeapInitMarks) {
  heap_init_event m{};
  m.kind = HEAP_INIT_MARK;
  m.pid = 5;
  m.ts = 10;
  m.mark = 3;  // BPF counts init sites from 1
  m.goid = 1;
  auto ev = DecodeHeapRecord(Bytes(m));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->pid, 5);
  EXPECT_EQ(ev->ts_ns, 10u);
  EXPECT_EQ(ev->mark, 2u);
  EXPECT_EQ(ev->goid, 1u);
  m.mark = HEAP_MARK_MAIN;
  EXPECT_EQ(DecodeHeapRecord(Bytes(m))->mark, HeapInitEvent::kMarkMain);
  m.mark = HEAP_MARK_RUNTIME_INIT_DONE;
  EXPECT_EQ(DecodeHeapRecord(Bytes(m))->mark, HeapInitEvent::kMarkRuntimeInitDone);
  EXPECT_FALSE(DecodeHeapRecord(Bytes(m, 8))) << "a mark cut short";
  m.kind = 1;  // the sampled allocations goscope's programs once sent
  EXPECT_FALSE(DecodeHeapRecord(Bytes(m)));
}

TEST(RingRecords, GcRecordKinds) {
  gc_event e{};
  e.kind = GC_EV_CYCLE;
  e.pid = 8;
  e.cycles = 12;
  e.user_forced = 1;
  e.t_sweep_term = 100;
  e.t_end = 400;
  e.heap2 = 4096;
  auto r = DecodeGcRecord(Bytes(e));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, GcRecord::kCycle);
  EXPECT_EQ(r->cycles, 12u);
  EXPECT_TRUE(r->user_forced);
  EXPECT_EQ(r->t_end, 400);
  EXPECT_EQ(r->heap2, 4096u);
  e.kind = GC_EV_STW_STOP;
  e.trigger_kind = 2;
  EXPECT_EQ(DecodeGcRecord(Bytes(e))->trigger_kind, 2);
  e.kind = 0;
  EXPECT_FALSE(DecodeGcRecord(Bytes(e)));
  e.kind = GC_EV_CYCLE;
  EXPECT_FALSE(DecodeGcRecord(Bytes(e, 1)));
}

TEST(RingRecords, ProcessExecFilenameIsBoundedAndDevConverted) {
  proc_exec_event e{};
  e.kind = PROC_EXEC;
  e.pid = 99;
  e.dev = (8u << 20) | 1u;  // kernel MKDEV(8, 1)
  e.ino = 1234;
  e.stopped = 1;
  std::memset(e.filename, 'a', sizeof e.filename);  // no NUL: cut at the array's end
  auto r = DecodeProcessRecord(Bytes(e));
  ASSERT_TRUE(r);
  const auto* exec = std::get_if<ExecEvent>(&*r);
  ASSERT_NE(exec, nullptr);
  EXPECT_EQ(exec->pid, 99);
  EXPECT_EQ(exec->filename.size(), sizeof e.filename);
  EXPECT_EQ(exec->dev, makedev(8, 1));
  EXPECT_EQ(DevToKernel(exec->dev), e.dev);
  EXPECT_TRUE(exec->stopped);

  proc_exit_event x{PROC_EXIT, 99};
  r = DecodeProcessRecord(Bytes(x));
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<ExitEvent>(*r).pid, 99);
  proc_exit_event exec_header{PROC_EXEC, 99};
  EXPECT_FALSE(DecodeProcessRecord(Bytes(exec_header))) << "an exec without its body";
}

TEST(RingRecords, EmptyRecordsYieldNothing) {
  EXPECT_FALSE(DecodeGoroutineRecord({}));
  EXPECT_FALSE(DecodeHeapRecord({}));
  EXPECT_FALSE(DecodeGcRecord({}));
  EXPECT_FALSE(DecodeProcessRecord({}));
}

}  // namespace
}  // namespace goscope
