#include "process/runtime_types.h"

#include <algorithm>
#include <cstring>

#include "varint.h"

namespace goscope {
namespace {

constexpr uint8_t kTflagExtraStar = 1 << 1;  // the name is stored with a '*' it does not have
constexpr size_t kMaxName = 4096;

}  // namespace

RuntimeTypes::RuntimeTypes(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem)
    : mem_(mem) {
  uint64_t types_off = 0, etypes_off = 0;
  std::string missing = layout.Fill({{"internal/abi.Type.Size_", &size_off_},
                                     {"internal/abi.Type.TFlag", &tflag_off_},
                                     {"internal/abi.Type.Str", &str_off_}});
  if (!missing.empty())  // before 1.21
    missing = layout.Fill({{"runtime._type.size", &size_off_},
                           {"runtime._type.tflag", &tflag_off_},
                           {"runtime._type.str", &str_off_}});
  missing += layout.Fill({{"runtime.moduledata.types", &types_off}, {"runtime.moduledata.etypes", &etypes_off}});
  const std::optional<Moduledata>& md = target.binary->moduledata();
  if (!missing.empty() || !md) return;
  const uint64_t module = md->address.value + target.load_bias;
  std::optional<uint64_t> lo = mem.ReadU64(module + types_off), hi = mem.ReadU64(module + etypes_off);
  if (lo && hi && *lo < *hi) types_ = *lo, etypes_ = *hi;
}

const RuntimeType* RuntimeTypes::At(uint64_t addr) {
  if (!available() || addr < types_ || addr >= etypes_) return nullptr;
  auto it = cache_.find(addr);
  if (it == cache_.end()) it = cache_.emplace(addr, Read(addr)).first;
  return it->second ? &*it->second : nullptr;
}

std::optional<RuntimeType> RuntimeTypes::Read(uint64_t addr) const {
  uint8_t desc[64];
  const size_t need = std::max({size_off_ + 8, tflag_off_ + 1, str_off_ + 4});
  if (need > sizeof desc || !mem_.Read(addr, desc, need)) return std::nullopt;
  RuntimeType t;
  std::memcpy(&t.size, desc + size_off_, 8);
  int32_t str;
  std::memcpy(&str, desc + str_off_, 4);
  const uint8_t tflag = desc[tflag_off_];
  // A name (runtime/type.go, since 1.17): a flags byte, a varint length, the bytes.
  const uint64_t at = types_ + static_cast<int64_t>(str);
  if (str < 0 || at >= etypes_) return std::nullopt;
  uint8_t head[11];
  if (!mem_.Read(at, head, sizeof head)) return std::nullopt;
  size_t off = 1;
  std::optional<uint64_t> len = Uvarint(head, &off);
  if (!len || *len == 0 || *len > kMaxName) return std::nullopt;
  t.name.resize(*len);
  if (!mem_.Read(at + off, t.name.data(), *len)) return std::nullopt;
  if ((tflag & kTflagExtraStar) && t.name[0] == '*') t.name.erase(0, 1);
  return t;
}

}  // namespace goscope
