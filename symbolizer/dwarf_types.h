// Go types and global variables as a binary's DWARF describes them: enough to
// say which field of a typed object (or of a global) a word is, and what type
// the pointer stored there points to. goscope retain names the chains that
// keep memory alive with it ("main.Outer.inner"). Absent for stripped
// binaries. Knows nothing of processes or heaps.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace goscope {

class DwarfFile;

class DwarfTypes {
 public:
  using TypeId = uint64_t;  // the type's DIE offset
  static constexpr TypeId kNone = UINT64_MAX;

  // nullptr when the binary has no DWARF. Throws Error as DwarfFile::Open.
  static std::unique_ptr<DwarfTypes> Read(const std::string& elf_path);
  ~DwarfTypes();

  struct Global {
    uint64_t addr = 0, size = 0;  // link-time
    std::string name;
    TypeId type = kNone;
  };
  // The global variable holding addr (link-time), if DWARF describes one.
  const Global* GlobalAt(uint64_t addr) const;

  // The type named so ("main.Record"), as the runtime names it.
  TypeId Named(std::string_view name) const;
  std::string Name(TypeId t);
  uint64_t Size(TypeId t);

  // The pointer word at `offset` in memory of type t: the path of fields that
  // leads to it (".inner", ".refs[]", "" when t is the pointer itself) and the
  // type it points to. nullopt if that word is not a pointer of known type
  // (unsafe.Pointer, an interface's data, not a pointer at all).
  struct PointerField {
    std::string path;
    TypeId pointee = kNone;
  };
  std::optional<PointerField> PointerAt(TypeId t, uint64_t offset);

 private:
  struct Member {
    std::string name;
    uint64_t offset = 0;
    TypeId type = kNone;
  };
  struct Type {
    enum class Kind { kOther, kPointer, kStruct, kArray } kind = Kind::kOther;
    std::string name;
    uint64_t size = 0;
    TypeId target = kNone;  // pointer: the pointee; array: the element
    std::vector<Member> members;
  };
  DwarfTypes() = default;
  const Type& Decode(TypeId t);

  std::unique_ptr<DwarfFile> file_;
  std::vector<Global> globals_;  // by address
  std::unordered_map<std::string, TypeId> by_name_;
  std::unordered_map<TypeId, Type> types_;
  struct PairHash {
    size_t operator()(const std::pair<TypeId, uint64_t>& k) const { return k.first * 0x9E3779B97F4A7C15ull ^ k.second; }
  };
  std::unordered_map<std::pair<TypeId, uint64_t>, std::optional<PointerField>, PairHash> pointer_at_;
};

}  // namespace goscope
