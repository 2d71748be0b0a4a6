// Every fact the reader derives says where it came from, so `goscope info`
// can show it and a tracer can refuse a value it cannot trust.
#pragma once
#include <cstdint>
#include <string_view>

namespace goscope {

enum class Source { kNone, kDwarf, kSymtab, kPclntab, kTable, kDisassembly };

std::string_view SourceName(Source s);  // "dwarf", "symtab", ...

struct Sourced {
  uint64_t value = 0;
  Source source = Source::kNone;
  bool known() const { return source != Source::kNone; }
};

}  // namespace goscope
