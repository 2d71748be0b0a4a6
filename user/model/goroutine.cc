#include "model/goroutine.h"

namespace goscope {

const std::vector<Frame>& SharedFrames::Empty() {
  static const std::vector<Frame> empty;
  return empty;
}

size_t Snapshot::user_goroutines() const {
  size_t n = 0;
  for (const auto& g : goroutines)
    if (!g.system && !IsDeadStatus(g.status)) n++;
  return n;
}

}  // namespace goscope
