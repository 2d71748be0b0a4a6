// The Go allocator's size classes: class i holds objects of GoSizeClassBytes()[i]
// bytes (class 0 is large objects). The same 68 classes in every release
// 1.19-1.27 (runtime/sizeclasses.go, internal/runtime/gc/sizeclasses.go from
// 1.25); tests check them against each test binary's own table. A fact about
// releases, like the layout table, so stripped binaries can use it.
#pragma once
#include <cstdint>
#include <span>

namespace goscope {

std::span<const uint16_t> GoSizeClassBytes();

}  // namespace goscope
