// The lifecycle without every probe: exits found by snapshots (goids are never
// reused, so a goroutine missing from a complete snapshot has exited), and
// creations too when no creation probe runs; one walked stack per go statement
// shared by every goroutine it creates.
#include "model/goroutine_lifecycle.h"

#include <gtest/gtest.h>

namespace goscope {
namespace {

Goroutine Live(uint64_t goid, uint64_t gopc = 0x4010) {
  Goroutine g;
  g.goid = goid;
  g.gopc = gopc;
  g.startpc = 0x5000;
  return g;
}

GoroutineEvent Created(uint64_t goid, uint64_t ts, std::vector<uint64_t> stack, bool stack_of_site = false) {
  GoroutineEvent e{};
  e.kind = GoroutineEvent::kCreate;
  e.goid = goid;
  e.ts_ns = ts;
  e.gopc = 0x4010;
  e.startpc = 0x5000;
  e.creation_stack = std::move(stack);
  e.stack_of_site = stack_of_site;
  return e;
}

TEST(GoroutineLifecycle, SnapshotsFindTheExitsOfProbedCreations) {
  GoroutineLifecycle life(100);
  life.Seed({Live(1), Live(2)});
  life.OnEvent(Created(10, 150, {0x4010, 0x4020}));
  life.OnEvent(Created(11, 160, {}, /*stack_of_site=*/true));
  life.OnEvent(Created(12, 170, {}, true));
  // 2 (from before) and 11 are gone; 13 is in memory but its event is still on its way.
  life.Reconcile({Live(1), Live(10), Live(12), Live(13)}, 200, /*count_new_as_created=*/false);
  EXPECT_EQ(life.created(), 3u);
  EXPECT_EQ(life.exited(), 2u);
  EXPECT_EQ(life.exited_preexisting(), 1u);
  EXPECT_FALSE(life.Find(13)) << "counted when its event arrives, not twice";
  ASSERT_EQ(life.finished().size(), 1u);
  EXPECT_EQ(life.finished()[0].goid, 11u);
  EXPECT_EQ(life.finished()[0].exited_ns, 200u);
  EXPECT_TRUE(life.finished()[0].exit_inferred);
  // Every goroutine of the go statement shares the stack walked once.
  ASSERT_TRUE(life.Find(12) && life.Find(12)->creation_stack);
  EXPECT_EQ(*life.Find(12)->creation_stack, (std::vector<uint64_t>{0x4010, 0x4020}));
  EXPECT_EQ(life.Find(12)->creation_stack, life.Find(10)->creation_stack);

  life.OnEvent(Created(13, 190, {}, true));
  life.Reconcile({Live(1)}, 300, false);
  EXPECT_EQ(life.created(), 4u);
  EXPECT_EQ(life.exited(), 5u);
  EXPECT_EQ(life.live().size(), 1u);
}

TEST(GoroutineLifecycle, WithoutProbesSnapshotsCountCreationsToo) {
  GoroutineLifecycle life(100);
  life.Seed({Live(1)});
  life.Reconcile({Live(1), Live(5), Live(6)}, 200, /*count_new_as_created=*/true);
  EXPECT_EQ(life.created(), 2u);
  ASSERT_TRUE(life.Find(5));
  EXPECT_EQ(life.Find(5)->created_ns, 200u);
  EXPECT_FALSE(life.Find(5)->creation_stack);
  life.Reconcile({Live(1), Live(6)}, 300, true);
  EXPECT_EQ(life.exited(), 1u);
  EXPECT_EQ(life.created(), 2u);
}

TEST(GoroutineLifecycle, AnExitEventOfAGoroutineTheSnapshotAlreadyRetiredIsPreexisting) {
  // With --exit-times snapshots do not reconcile; an exit of a goroutine never
  // seen (created before the attach, not yet seeded) counts as preexisting.
  GoroutineLifecycle life(100);
  GoroutineEvent x{};
  x.kind = GoroutineEvent::kExit;
  x.goid = 99;
  x.ts_ns = 150;
  life.OnEvent(x);
  EXPECT_EQ(life.exited(), 1u);
  EXPECT_EQ(life.exited_preexisting(), 1u);
}

}  // namespace
}  // namespace goscope
