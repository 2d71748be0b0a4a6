// Profiles read back with the real reader, `go tool pprof`, and its text
// output (-raw, -traces, -top) parsed: what the profile tests and the heap
// tests compare goscope's profiles by.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "testbin.h"

namespace goscope::testing {

// `go tool pprof ARGS` with the given toolchain (newest by default), TZ=UTC;
// fails the test unless it exits 0 and prints nothing on stderr (no warnings:
// e.g. no attempt to re-symbolize).
std::string Pprof(const std::string& args, const GoToolchain* tc = nullptr);

std::vector<std::string> Lines(const std::string& text);

// ---- `pprof -raw` ------------------------------------------------------------

struct RawSample {
  std::vector<int64_t> values;
  std::vector<uint64_t> location_ids;
  std::vector<std::string> labels;  // "goroutine:[17]", "bytes:[4096 bytes]"
};
struct RawLine {
  std::string function;
  std::string where;  // file:line (any column dropped: older pprof prints none)
  bool operator==(const RawLine&) const = default;
};
struct RawLocation {
  uint64_t address = 0;
  std::string mapping;  // "M=1" or ""
  std::vector<RawLine> lines;
};
struct RawProfile {
  std::map<std::string, std::string> header;  // "PeriodType" -> "space bytes", ...
  std::string sample_types;                   // the line after "Samples:"
  std::vector<RawSample> samples;
  std::map<uint64_t, RawLocation> locations;
  std::vector<std::string> mappings;
  // Function names of a sample's stack, leaf first, inlined frames expanded.
  std::vector<std::string> Stack(const RawSample& s) const;
};

RawLine ParseRawLine(const std::string& text);  // "main.leaf /src/a.go:10:0 s=0"

// strict: a line of no known shape fails the test.
RawProfile ParseRaw(const std::string& out, bool strict = true);

// ---- `pprof -traces` ---------------------------------------------------------

struct Trace {
  std::vector<std::string> labels;  // "goroutine:  17" (pprof's spacing, trimmed)
  std::string value;                // as pprof formats it: "4kB"
  std::vector<std::string> stack;   // "main.leaf (inline)", ..., leaf first
};

std::vector<Trace> ParseTraces(const std::string& out);

// ---- `pprof -top` ------------------------------------------------------------

struct TopRow {
  std::string flat, cum;
};
// Function name (with " (inline)" if pprof adds it) -> flat and cum columns.
std::map<std::string, TopRow> ParseTop(const std::string& out);

}  // namespace goscope::testing
