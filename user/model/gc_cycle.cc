#include "model/gc_cycle.h"

namespace goscope {

std::string_view GcTriggerName(GcTrigger t) {
  switch (t) {
    case GcTrigger::kHeap: return "heap";
    case GcTrigger::kTime: return "time";
    case GcTrigger::kCycle: return "cycle";
    case GcTrigger::kUnknown: break;
  }
  return "unknown";
}

}  // namespace goscope
