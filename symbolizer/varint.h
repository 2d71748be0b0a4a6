// Unsigned varints as Go writes them (encoding/binary.Uvarint; DWARF's ULEB128
// is the same encoding), and strings prefixed by one: the build info's
// version and module strings, DWARF member offsets, runtime type names.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace goscope {

// The varint at b[*off], advancing *off past it; nullopt if b ends first or
// it is longer than 64 bits can hold.
inline std::optional<uint64_t> Uvarint(std::span<const uint8_t> b, size_t* off) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *off < b.size(); shift += 7) {
    const uint8_t c = b[(*off)++];
    v |= uint64_t{c & 0x7fu} << shift;
    if (c < 0x80) return v;
  }
  return std::nullopt;
}

// A varint length, then that many bytes; nullopt if b ends first.
inline std::optional<std::string> VarintString(std::span<const uint8_t> b, size_t* off) {
  std::optional<uint64_t> n = Uvarint(b, off);
  if (!n || *n > b.size() - *off) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(b.data() + *off), *n);
  *off += *n;
  return s;
}

}  // namespace goscope
