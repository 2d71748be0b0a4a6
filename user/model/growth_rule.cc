#include "model/growth_rule.h"

#include <fmt/format.h>

namespace goscope {
namespace {

// The newest reading at least over_seconds older than series[at].
std::optional<size_t> ReadingBefore(const std::deque<RuntimeStats>& series, size_t at, double over_seconds) {
  const double limit_ns = static_cast<double>(series[at].unix_ns) - over_seconds * 1e9;
  for (size_t i = at; i-- > 0;)
    if (static_cast<double>(series[i].unix_ns) <= limit_ns) return i;
  return std::nullopt;
}

bool Holds(const GrowthRule& rule, const std::deque<RuntimeStats>& series, size_t at) {
  const auto& now = series[at][rule.stat];
  if (!now || *now < rule.floor) return false;
  auto before = ReadingBefore(series, at, rule.over_seconds);
  if (!before) return false;
  const auto& then = series[*before][rule.stat];
  return then && static_cast<double>(*now) >= static_cast<double>(*then) * (1 + rule.growth_percent / 100);
}

}  // namespace

std::string GrowthRule::Describe() const {
  return fmt::format("{} above {} and {}% up on {} s earlier, {} readings in a row", goscope::Describe(stat).name, floor,
                     growth_percent, over_seconds, readings);
}

GrowthVerdict EvaluateGrowth(const GrowthRule& rule, const std::deque<RuntimeStats>& series) {
  GrowthVerdict v;
  const size_t n = static_cast<size_t>(rule.readings);
  if (n == 0 || series.size() < n) return v;
  for (size_t i = series.size() - n; i < series.size(); i++)
    if (!Holds(rule, series, i)) return v;
  v.baseline = ReadingBefore(series, series.size() - n, rule.over_seconds);
  v.fires = v.baseline.has_value();
  const size_t last = series.size() - 1;
  const uint64_t now = *series[last][rule.stat], then = *series[*v.baseline][rule.stat];
  v.why = fmt::format("{} {}, up {:.0f}% on {} at the reading {:.0f} s before the growth, {} readings in a row",
                      Describe(rule.stat).name, now, then ? 100.0 * (static_cast<double>(now) - then) / then : 100.0,
                      then, (series[series.size() - n].unix_ns - series[*v.baseline].unix_ns) / 1e9, n);
  return v;
}

bool IsGrowing(const GrowthRule& rule, const std::deque<RuntimeStats>& series) {
  if (series.empty()) return false;
  GrowthRule any_level = rule;
  any_level.floor = 0;
  return Holds(any_level, series, series.size() - 1);
}

}  // namespace goscope
