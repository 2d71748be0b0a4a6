// Whether a file looks like a Go program, from its ELF and section headers
// alone (a few small reads, no mapping, no symbols): how the agent tells Go
// processes from the rest of a host without parsing every binary it meets.
#pragma once
#include <string>

namespace goscope {

// What a cheap look at a file's ELF headers says, before any full parse.
enum class ElfGoHint {
  kNotElf,            // scripts, data, 32-bit or big-endian ELF: not a Go program goscope can read
  kNoGoSections,      // a 64-bit ELF with section headers and none of Go's: not Go
  kGoSections,        // has .gopclntab, .data.rel.ro.gopclntab, .go.buildinfo or .note.go.buildid
  kNoSectionHeaders,  // section headers stripped (sstrip): only a full parse can tell
};

// Reads the ELF header and section headers of path (a few small reads).
// Throws Error when the file cannot be opened or read.
ElfGoHint ProbeElfForGo(const std::string& path);
// The same through an open file (the caller keeps it).
ElfGoHint ProbeElfForGo(int fd, const std::string& path);

}  // namespace goscope
