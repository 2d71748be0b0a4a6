// Every output file goscope writes goes through here: written to PATH.tmp,
// synced, then renamed, so a reader never sees half a file and a failure
// (full disk, unwritable directory) leaves nothing behind.
#pragma once
#include <string>
#include <string_view>

namespace goscope {

// Throws Error("writing PATH: <step>: <strerror>") and removes the temp file on failure.
void WriteFileAtomically(const std::string& path, std::string_view data);

// Creates dir (and parents) if missing; throws Error naming it if that fails
// or it is not a writable directory.
void EnsureOutputDir(const std::string& dir);

}  // namespace goscope
