// Quantities for people: "624.0 KiB". Knows nothing of what is measured.
#pragma once
#include <cstdint>
#include <string>

namespace goscope {

// B below 1 KiB, then KiB and MiB with one decimal, GiB with two.
std::string HumanBytes(uint64_t bytes);

}  // namespace goscope
