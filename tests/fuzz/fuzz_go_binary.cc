// libFuzzer target: any bytes as a Go executable. Exercises the ELF, build-info,
// pclntab, relocation and moduledata parsers and symbolization end to end.
// A clean goscope::Error is the expected answer to garbage; anything else
// (crash, sanitizer report, hang) is a bug.
#include <cstddef>
#include <cstdint>

#include "error.h"
#include "go_binary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto bin = goscope::GoBinary::FromElf(goscope::ElfFile::FromBytes({data, size}, "fuzz"));
    const auto& funcs = bin->pclntab().funcs();
    size_t step = funcs.size() / 64 + 1;
    for (size_t i = 0; i < funcs.size(); i += step) {
      bin->Symbolize(funcs[i].entry);
      bin->Symbolize(funcs[i].entry + (funcs[i].end - funcs[i].entry) / 2);
      bin->pclntab().LookupFunction(funcs[i].name);
    }
  } catch (const goscope::Error&) {
  }
  return 0;
}
