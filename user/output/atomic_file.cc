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
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;  // nothing was created
    throw Error("writing " + path + ": cannot create " + tmp + ": " + std::strerror(err));
  }
  auto fail = [&](const char* what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error("writing " + path + ": " + what + ": " + std::strerror(err));
  };
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write", errno);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename", errno);
}

void EnsureOutputDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("output directory " + dir + ": " + ec.message());
  if (!std::filesystem::is_directory(dir)) throw Error("output directory " + dir + ": not a directory");
  if (::access(dir.c_str(), W_OK) != 0) throw Error("output directory " + dir + ": " + std::strerror(errno));
}

}  // namespace goscope
