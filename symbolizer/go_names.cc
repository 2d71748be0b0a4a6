#include "go_names.h"

#include <algorithm>

namespace goscope {

std::string_view FunctionPackage(std::string_view function) {
  size_t slash = function.rfind('/');
  size_t dot = function.find('.', slash == std::string_view::npos ? 0 : slash);
  return dot == std::string_view::npos ? function : function.substr(0, dot);
}

bool IsPackageInitFunction(std::string_view function) {
  std::string_view pkg = FunctionPackage(function);
  if (pkg.size() == function.size()) return false;
  std::string_view rest = function.substr(pkg.size());
  if (rest == ".init") return true;
  if (!rest.starts_with(".init.") || rest.size() == 6) return false;
  std::string_view n = rest.substr(6);
  return std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsGoroutineRoot(std::string_view function) { return function == "runtime.goexit"; }

std::string GoFuncNameForPrint(std::string_view name) {
  size_t i = name.find('[');
  if (i == std::string_view::npos) return std::string(name);
  size_t j = name.rfind(']');
  if (j == std::string_view::npos || j <= i) return std::string(name);
  return std::string(name.substr(0, i)) + "[...]" + std::string(name.substr(j + 1));
}

}  // namespace goscope
