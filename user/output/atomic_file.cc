#include "output/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "error.h"

namespace goscope {

void WriteFileAtomically(const std::string& path, std::string_view data) {
  AtomicFileWriter file(path);
  file.Write(data);
  file.Commit();
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("writing " + path_ + ": cannot create " + tmp_ + ": " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ < 0) return;  // committed, or failed and cleaned up
  ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFileWriter::Fail(const char* what, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  throw Error("writing " + path_ + ": " + what + ": " + std::strerror(err));
}

void AtomicFileWriter::Write(std::string_view data) {
  constexpr size_t kBuffer = 1 << 16;
  if (fd_ < 0) throw Error("writing " + path_ + ": already committed or failed");
  buffer_.append(data);
  if (buffer_.size() >= kBuffer) Flush();
}

void AtomicFileWriter::Flush() {
  for (size_t done = 0; done < buffer_.size();) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail("write", errno);
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

void AtomicFileWriter::Commit() {
  if (fd_ < 0) throw Error("writing " + path_ + ": already committed or failed");
  Flush();
  if (::fsync(fd_) != 0) Fail("fsync", errno);
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    ::unlink(tmp_.c_str());
    throw Error("writing " + path_ + ": close: " + std::strerror(errno));
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    throw Error("writing " + path_ + ": rename: " + std::strerror(err));
  }
}

void EnsureOutputDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("output directory " + dir + ": " + ec.message());
  if (!std::filesystem::is_directory(dir)) throw Error("output directory " + dir + ": not a directory");
  if (::access(dir.c_str(), W_OK) != 0) throw Error("output directory " + dir + ": " + std::strerror(errno));
}

}  // namespace goscope
