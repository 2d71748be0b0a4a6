// When a process's growth deserves a diagnosis bundle: a stat above a floor
// that stands growth_percent above its value over_seconds earlier, at
// `readings` stats readings in a row ("goroutines above 5000 and 30% up on
// five minutes ago, three readings running"). A burst that comes and goes
// within fewer readings does not fire. Pure: the series comes from the caller.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "model/runtime_stats.h"

namespace goscope {

struct GrowthRule {
  Stat stat = Stat::kGoroutines;
  uint64_t floor = 5000;
  double growth_percent = 30;
  double over_seconds = 300;
  int readings = 3;

  // "NumGoroutine above 5000 and 30% up on 300 s earlier, 3 readings in a row"
  std::string Describe() const;
};

// Where a rule stands at the newest reading of a series (oldest first).
struct GrowthVerdict {
  bool fires = false;
  // The reading the growth is measured from: over_seconds before the first
  // of the readings in a row; nullopt when the series is too short.
  std::optional<size_t> baseline;
  std::string why;  // "NumGoroutine 9000, up 80% on 5000 at ..., 3 readings in a row"
};

GrowthVerdict EvaluateGrowth(const GrowthRule& rule, const std::deque<RuntimeStats>& series);

// Whether the stat grows at the newest reading as the rule means it, at any
// level (the floor aside): while it does not, the process is "before the
// growth", the time a bundle's baseline profiles come from.
bool IsGrowing(const GrowthRule& rule, const std::deque<RuntimeStats>& series);

}  // namespace goscope
