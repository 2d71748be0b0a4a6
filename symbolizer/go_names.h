// What Go's symbol names say about a function: its package, and whether it is
// one of a package's init functions. Mirrors runtime.funcpkgpath and the
// compiler's naming of init functions.
#pragma once
#include <string>
#include <string_view>

namespace goscope {

// "net/http" for "net/http.(*Server).Serve" and "net/http.init.0";
// "gopkg.in/yaml.v3" for "gopkg.in/yaml.v3.init": the text up to the first dot
// after the last slash, as runtime.funcpkgpath (and so GODEBUG=inittrace) has it.
std::string_view FunctionPackage(std::string_view function);

// "PKG.init" (package variable initialization) or "PKG.init.N" (the package's
// N-th func init): the functions a package's init task runs. Not closures
// ("PKG.init.func1", "PKG.init.0.func2") nor methods named init ("PKG.T.init").
bool IsPackageInitFunction(std::string_view function);

// runtime.goexit: the frame every goroutine returns into, where Go's own
// tracebacks and profiles end a goroutine's stack.
bool IsGoroutineRoot(std::string_view function);

// A function name as Go prints it: generic shape arguments become "[...]"
// (runtime.funcNameForPrint).
std::string GoFuncNameForPrint(std::string_view name);

}  // namespace goscope
