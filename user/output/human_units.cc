#include "output/human_units.h"

#include <fmt/format.h>

namespace goscope {

std::string HumanBytes(uint64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  if (b < 1ull << 20) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (b < 1ull << 30) return fmt::format("{:.1f} MiB", b / 1048576.0);
  return fmt::format("{:.2f} GiB", b / 1073741824.0);
}

}  // namespace goscope
