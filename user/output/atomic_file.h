// Every output file goscope writes goes through here: written to PATH.tmp,
// synced, then renamed, so a reader never sees half a file and a failure
// (full disk, unwritable directory) leaves nothing behind.
#pragma once
#include <string>
#include <string_view>

namespace goscope {

// Throws Error("writing PATH: <step>: <strerror>") and removes the temp file on failure.
void WriteFileAtomically(const std::string& path, std::string_view data);

// The same in pieces, for an output too big to hold whole: nothing is at
// path until Commit(); destroyed without a Commit (an error on the way), it
// removes the temporary file. Errors as WriteFileAtomically's.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void Write(std::string_view data);  // buffered
  void Commit();                      // flush, fsync, close, rename into place

 private:
  void Flush();
  [[noreturn]] void Fail(const char* what, int err);

  std::string path_, tmp_;
  int fd_ = -1;
  std::string buffer_;
};

// Creates dir (and parents) if missing; throws Error naming it if that fails
// or it is not a writable directory.
void EnsureOutputDir(const std::string& dir);

}  // namespace goscope
