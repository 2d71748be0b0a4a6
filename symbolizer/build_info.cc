#include "build_info.h"

#include <elf.h>

#include <cstring>

#include "relocations.h"
#include "varint.h"

namespace goscope {
namespace {

constexpr std::string_view kMagic = "\xff Go buildinf:";
constexpr size_t kHeaderSize = 32;
constexpr uint8_t kFlagInlineStrings = 2;  // Go 1.18+: varint-prefixed strings follow the header

// Pre-1.18 layout: the header holds pointers to Go string headers {ptr, len}.
std::optional<std::string> StringAt(const ElfFile& elf, const Relocations& rel, uint64_t header_vaddr) {
  auto ptr = rel.ReadPointer(elf, header_vaddr);
  auto len = rel.ReadPointer(elf, header_vaddr + 8);
  if (!ptr || !len || *len > (1u << 20)) return std::nullopt;
  Bytes b = elf.at_vaddr(*ptr);
  if (b.size() < *len) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(b.data()), *len);
}

// Module info is framed by 16-byte sentinels; strip them as `go version -m` does.
std::string StripSentinels(const std::string& m) {
  if (m.size() >= 33 && m[m.size() - 17] == '\n') return m.substr(16, m.size() - 32);
  return m;
}

Bytes FindBlob(const ElfFile& elf) {
  if (const ElfSection* s = elf.section(".go.buildinfo")) return elf.section_data(*s);
  // No section headers: the blob is 16-byte aligned at the start of some writable segment.
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || !(seg.flags & PF_W)) continue;
    Bytes d = elf.at_vaddr(seg.vaddr);
    d = d.subspan(0, std::min<size_t>(d.size(), seg.filesz));
    for (size_t off = 0; off + kHeaderSize <= d.size(); off += 16)
      if (std::memcmp(d.data() + off, kMagic.data(), kMagic.size()) == 0) return d.subspan(off);
  }
  return {};
}

void ParseModinfo(BuildInfo* bi) {
  size_t start = 0;
  while (start < bi->modinfo.size()) {
    size_t end = bi->modinfo.find('\n', start);
    if (end == std::string::npos) end = bi->modinfo.size();
    std::string line = bi->modinfo.substr(start, end - start);
    start = end + 1;
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string key = line.substr(0, tab), rest = line.substr(tab + 1);
    if (key == "path") bi->path = rest;
    else if (key == "mod") bi->main_module = rest;
    else if (key == "build") {
      size_t eq = rest.find('=');
      if (eq != std::string::npos) bi->settings.emplace_back(rest.substr(0, eq), rest.substr(eq + 1));
    }
  }
}

}  // namespace

std::optional<BuildInfo> ReadBuildInfo(const ElfFile& elf) {
  Bytes blob = FindBlob(elf);
  if (blob.size() < kHeaderSize || std::memcmp(blob.data(), kMagic.data(), kMagic.size()) != 0)
    return std::nullopt;
  uint8_t ptr_size = blob[14], flags = blob[15];
  BuildInfo bi;
  if (flags & kFlagInlineStrings) {
    size_t off = kHeaderSize;
    auto version = VarintString(blob, &off);
    auto mod = VarintString(blob, &off);
    if (!version) return std::nullopt;
    bi.go_version = *version;
    bi.modinfo = mod ? StripSentinels(*mod) : "";
  } else {
    if (ptr_size != 8 || (flags & 1)) return std::nullopt;  // 32-bit or big-endian: not ours
    const ElfSection* s = elf.section(".go.buildinfo");
    if (!s) return std::nullopt;  // pre-1.18 without sections: too old to matter
    Relocations rel(elf);
    auto version = StringAt(elf, rel, s->addr + 16);
    if (!version) return std::nullopt;
    bi.go_version = *version;
    bi.modinfo = StripSentinels(StringAt(elf, rel, s->addr + 24).value_or(""));
  }
  ParseModinfo(&bi);
  return bi;
}

std::optional<std::pair<int, int>> ParseGoVersion(std::string_view v) {
  size_t at = v.find("go1.");
  if (at == std::string_view::npos) return std::nullopt;
  int minor = 0;
  size_t i = at + 4, digits = 0;
  for (; i < v.size() && v[i] >= '0' && v[i] <= '9' && digits < 4; i++, digits++) minor = minor * 10 + (v[i] - '0');
  if (digits == 0) return std::nullopt;
  return std::make_pair(1, minor);
}

}  // namespace goscope
