// Ring-buffer records: whatever bytes arrive, each decoder reads within them
// and yields an event or nothing.
#include <cstddef>
#include <cstdint>

#include "probes/ring_records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  goscope::RingRecord r(data, size);
  (void)goscope::DecodeGoroutineRecord(r);
  (void)goscope::DecodeHeapRecord(r);
  (void)goscope::DecodeGcRecord(r);
  (void)goscope::DecodeProcessRecord(r);
  return 0;
}
