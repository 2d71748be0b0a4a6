// The growth rule that starts a diagnosis bundle: it fires when a stat stays
// above its floor and up by the percentage on over_seconds earlier for the
// given readings in a row; a burst, a slow drift, a value under the floor or
// a series too short to look back does not fire. Also the pause quantiles
// the agent serves as go_gc_duration_seconds.
#include "model/growth_rule.h"

#include <gtest/gtest.h>

namespace goscope {
namespace {

// One reading per 15 s of goroutine counts.
std::deque<RuntimeStats> Series(std::initializer_list<uint64_t> goroutines) {
  std::deque<RuntimeStats> out;
  uint64_t t = 1'000'000'000'000;
  for (uint64_t g : goroutines) {
    RuntimeStats s;
    s.unix_ns = t;
    s[Stat::kGoroutines] = g;
    out.push_back(s);
    t += 15'000'000'000;
  }
  return out;
}

const GrowthRule kRule{.stat = Stat::kGoroutines, .floor = 1000, .growth_percent = 30, .over_seconds = 30, .readings = 3};

TEST(GrowthRule, SteadyGrowthFiresAtTheThirdReadingInARow) {
  // 30 s earlier is two readings back.
  EXPECT_FALSE(EvaluateGrowth(kRule, Series({1000, 1100, 1400, 1800})).fires);  // two in a row
  GrowthVerdict v = EvaluateGrowth(kRule, Series({1000, 1100, 1400, 1800, 2400}));
  EXPECT_TRUE(v.fires);
  ASSERT_TRUE(v.baseline);
  EXPECT_EQ(*v.baseline, 0u);  // 30 s before the first of the three
  EXPECT_NE(v.why.find("NumGoroutine 2400, up 140% on 1000"), std::string::npos) << v.why;
  EXPECT_NE(v.why.find("3 readings in a row"), std::string::npos) << v.why;
}

TEST(GrowthRule, ABurstThatReturnsDoesNotFire) {
  EXPECT_FALSE(EvaluateGrowth(kRule, Series({1000, 1000, 5000, 5000, 1000, 1000})).fires);
  EXPECT_FALSE(EvaluateGrowth(kRule, Series({1000, 1000, 5000, 1000, 5000, 1000})).fires);
}

TEST(GrowthRule, UnderTheFloorOrTooSlowOrTooShortDoesNotFire) {
  EXPECT_FALSE(EvaluateGrowth(kRule, Series({100, 200, 400, 800, 999})).fires);           // under the floor
  EXPECT_FALSE(EvaluateGrowth(kRule, Series({1000, 1100, 1200, 1300, 1400, 1500})).fires);  // < 30% per 30 s
  EXPECT_FALSE(EvaluateGrowth(kRule, Series({1000, 2000, 4000})).fires);                  // nothing 30 s before the first
  EXPECT_FALSE(EvaluateGrowth(kRule, {}).fires);
}

TEST(GrowthRule, AnAbsentValueBreaksTheRun) {
  auto s = Series({1000, 1100, 1400, 1800, 2400});
  s[3][Stat::kGoroutines].reset();
  EXPECT_FALSE(EvaluateGrowth(kRule, s).fires);
}

TEST(GrowthRule, GrowingIgnoresTheFloor) {
  EXPECT_TRUE(IsGrowing(kRule, Series({100, 120, 200})));   // +100% on 30 s earlier, far under the floor
  EXPECT_FALSE(IsGrowing(kRule, Series({100, 120, 110})));  // +10%
  EXPECT_FALSE(IsGrowing(kRule, Series({100, 300})));       // nothing 30 s earlier
  EXPECT_FALSE(IsGrowing(kRule, {}));
}

TEST(RuntimeStatsModel, PauseQuantilesAsReadGCStats) {
  RuntimeStats s;
  EXPECT_EQ(PauseQuantiles(s, 5), (std::vector<uint64_t>{0, 0, 0, 0, 0}));
  s.recent_pauses_ns = {50, 10, 40, 20, 30, 60, 70, 80};  // newest first, unsorted
  // sorted: 10..80; index len*i/4 for i < 4, then the maximum.
  EXPECT_EQ(PauseQuantiles(s, 5), (std::vector<uint64_t>{10, 30, 50, 70, 80}));
  s.recent_pauses_ns = {7};
  EXPECT_EQ(PauseQuantiles(s, 5), (std::vector<uint64_t>{7, 7, 7, 7, 7}));
}

TEST(RuntimeStatsModel, NamesAndAbsence) {
  EXPECT_EQ(StatByName("HeapInuse"), Stat::kHeapInuse);
  EXPECT_EQ(StatByName("NumGoroutine"), Stat::kGoroutines);
  EXPECT_FALSE(StatByName("Goroutines"));
  RuntimeStats s;
  s[Stat::kNextGC] = 5;
  s.SetAbsent(Stat::kNextGC, "a memory limit is set");
  EXPECT_FALSE(s[Stat::kNextGC]);
  EXPECT_EQ(s.absent.at("NextGC"), "a memory limit is set");
}

}  // namespace
}  // namespace goscope
