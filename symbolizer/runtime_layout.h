// Where the Go runtime keeps what the tracers read: struct field offsets, type
// sizes, constants and variable addresses, each tagged with where it came from.
//
// Key convention (one flat namespace; Go names are unique within a package, so
// a type, a variable and a constant never share a name):
//   "runtime.g.goid"           byte offset of field goid in struct runtime.g
//   "runtime.g.sched.sp"       nested path: offset of g.sched plus gobuf.sp
//   "runtime.g#size"           byte size of type runtime.g
//   "runtime._Grunning"        value of a runtime constant (two's complement if negative)
//   "runtime.allgs"            link-time virtual address of a variable (for PIE,
//                              add the load bias)
//   "runtime.waitReasonStrings#size"  byte size of a variable
// Offsets, sizes and constants are facts about one Go release and so may come
// from the committed table; addresses and variable sizes differ per binary and
// come only from DWARF or the symbol table, never from the table.
// The table is generated from amd64 binaries (other 64-bit targets should
// match, not verified); the DWARF reader handles 64-bit binaries only.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "provenance.h"

namespace goscope {

struct RuntimeLayout {
  std::map<std::string, Sourced, std::less<>> values;

  // Unknown (source kNone) when absent.
  Sourced get(std::string_view key) const;
  bool has(std::string_view key) const { return values.find(key) != values.end(); }
  // Reads each key's value into its destination (0 when unknown); returns the
  // unknown keys, ", "-separated, or "" when every one is known.
  std::string Fill(std::initializer_list<std::pair<std::string_view, uint64_t*>> keys) const;
  // Fills keys this layout lacks from other; never overwrites (DWARF beats the table).
  void merge_missing(const RuntimeLayout& other);
  bool empty() const { return values.empty(); }
};

enum class LayoutKind {
  kField,         // key = type + "." + field path
  kTypeSize,      // key = type + "#size"
  kConstant,      // key = name
  kVariable,      // key = name; value = address
  kVariableSize,  // key = name + "#size"
};

// One thing the tracers need. `since` and `until` bound the Go 1.N minor
// releases that have it; readers and tests use them to tell "absent in this
// release" from "not found".
struct LayoutItem {
  LayoutKind kind;
  std::string_view name;   // "runtime.g", "runtime.allgs", "runtime._Gscan"
  std::string_view field;  // kField only: "goid", "sched.sp"
  int since = 19;
  int until = 99;  // the last release that has it (a field renamed or removed after)
  std::string key() const;
  bool in_release(int minor) const { return since <= minor && minor <= until; }
  // Offsets, sizes and constants: the same in every binary of one release.
  bool in_table() const {
    return kind == LayoutKind::kField || kind == LayoutKind::kTypeSize ||
           kind == LayoutKind::kConstant;
  }
};

// The canonical list: everything ReadDwarfLayout looks for and the table holds.
std::span<const LayoutItem> CanonicalLayoutItems();
// Constants taken wholesale by name prefix (the wait-reason enumeration, whose
// members and numbering change from release to release).
std::span<const std::string_view> CanonicalConstantPrefixes();
// True for keys the table may hold: canonical offsets, sizes and constants, and
// constants matching a prefix. False for addresses and variable sizes.
bool IsTableKey(std::string_view key);

// The committed table (source kTable) for "go1.NN", "go1.NN.x", "go1.NNrc1" or
// "1.NN", by major.minor. Empty for a release the table does not know.
RuntimeLayout TableLayout(std::string_view go_version);
// The minor releases the table covers (19, 21, ...), ascending.
std::span<const int> TableMinorVersions();
// 24 for "go1.24.4"; -1 if the string is not a go1.N version.
int GoMinorVersion(std::string_view go_version);

}  // namespace goscope
