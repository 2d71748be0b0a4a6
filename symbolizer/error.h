// One exception type for everything the binary reader refuses: the message is
// meant for the user and carries its own context ("pclntab: header at 0x...: bad magic").
#pragma once
#include <stdexcept>
#include <string>

namespace goscope {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace goscope
