// Where a binary's segments are mapped in a live process (/proc/PID/maps), so a
// link-time address can be turned into a runtime one and back (PIE, ASLR).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "elf_file.h"  // the symbolizer's

namespace goscope {

struct Mapping {
  uint64_t start = 0, end = 0, offset = 0;
  std::string perms;  // "r-xp"
  uint32_t dev_major = 0, dev_minor = 0;  // the kernel's inode->i_sb->s_dev
  uint64_t inode = 0;
  std::string path;
};

std::vector<Mapping> ReadMaps(pid_t pid);  // throws Error if the process is gone; 0: this process

// Parses the text of a maps file (for tests and fuzzing).
std::vector<Mapping> ParseMaps(const std::string& text);

// runtime address = link-time address + bias. 0 for fixed-address executables.
// Matches the process's mappings of the file with that inode against the ELF's
// PT_LOAD segments; nullopt if the executable is not mapped.
std::optional<uint64_t> LoadBias(const std::vector<Mapping>& maps, const ElfFile& elf, uint64_t inode);

}  // namespace goscope
