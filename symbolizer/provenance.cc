#include "provenance.h"

namespace goscope {

std::string_view SourceName(Source s) {
  switch (s) {
    case Source::kNone: return "none";
    case Source::kDwarf: return "dwarf";
    case Source::kSymtab: return "symtab";
    case Source::kPclntab: return "pclntab";
    case Source::kTable: return "table";
    case Source::kDisassembly: return "disassembly";
  }
  return "unknown";
}

}  // namespace goscope
