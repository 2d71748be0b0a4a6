// gen_offset_table BINARY GOVERSION
// Prints the table rows (offsets, sizes, constants: never addresses) that
// ReadDwarfLayout finds in BINARY, as lines of symbolizer/offset_table.inc.
// Exits 1, naming them, if items the canonical list requires for that release
// are missing, so a runtime change cannot silently shrink the table.
#include <cstdio>

#include "dwarf_layout.h"
#include "error.h"
#include "runtime_layout.h"

int main(int argc, char** argv) {
  using namespace goscope;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s BINARY GOVERSION (e.g. go1.24.4)\n", argv[0]);
    return 2;
  }
  int minor = GoMinorVersion(argv[2]);
  if (minor < 0) {
    std::fprintf(stderr, "gen_offset_table: %s is not a go1.N version\n", argv[2]);
    return 2;
  }
  RuntimeLayout layout;
  try {
    layout = ReadDwarfLayout(argv[1]);
  } catch (const Error& e) {
    std::fprintf(stderr, "gen_offset_table: %s\n", e.what());
    return 1;
  }
  if (layout.empty()) {
    std::fprintf(stderr, "gen_offset_table: %s has no DWARF\n", argv[1]);
    return 1;
  }

  int missing = 0;
  for (const LayoutItem& item : CanonicalLayoutItems()) {
    if (item.in_release(minor) && !layout.has(item.key())) {
      std::fprintf(stderr, "gen_offset_table: %s: %s not found\n", argv[1], item.key().c_str());
      ++missing;
    }
  }

  // Map order keeps the generated file diffable.
  std::printf("// %s\n", argv[2]);
  for (const auto& [key, value] : layout.values) {
    if (IsTableKey(key)) {
      std::printf("{%d, \"%s\", %llu},\n", minor, key.c_str(), static_cast<unsigned long long>(value.value));
    }
  }
  return missing ? 1 : 0;
}
