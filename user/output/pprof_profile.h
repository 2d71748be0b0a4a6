// A pprof profile (profile.proto, as `go tool pprof` reads it) built sample by
// sample and written gzipped, with a small hand-rolled protobuf encoder in the
// spirit of Go's runtime/pprof/protobuf.go. Knows nothing of BPF or goroutines:
// callers hand it program counters, values and labels.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stack_symbolizer.h"  // Frame, FrameLookup, BinaryMapping

namespace goscope {

class PprofProfile {
 public:
  // {type, unit} per value of every sample, e.g. {{"alloc_objects", "count"}, {"alloc_space", "bytes"}}.
  // With a single type, spell out the vector: ({{"samples", "count"}}) alone is ambiguous.
  explicit PprofProfile(std::vector<std::pair<std::string, std::string>> sample_types);

  void set_period(const std::string& type, const std::string& unit, int64_t period);
  void set_time(int64_t nanos) { time_nanos_ = nanos; }
  void set_duration(int64_t nanos) { duration_nanos_ = nanos; }
  // Which sample type pprof shows by default (its type name); the last one otherwise.
  void set_default_sample_type(const std::string& type);
  void add_comment(const std::string& comment);

  // A mapping of the binary, [start, limit) at file offset `offset`; locations
  // whose address falls in it refer to it. Marked as fully symbolized
  // (functions, file names, line numbers, inline frames). Returns its id.
  uint64_t add_mapping(uint64_t start, uint64_t limit, uint64_t offset, const std::string& file,
                       const std::string& build_id);

  // Set before the first add_sample: locations are symbolized once, when their
  // address is first seen. Without it locations carry addresses only.
  void set_symbolizer(FrameLookup symbolizer) { symbolizer_ = std::move(symbolizer); }

  // pcs: the stack, leaf first (each symbolized as given: pass pc-1 for return
  // addresses if that is what the symbolizer wants). values: one per sample
  // type. num_labels: {key, value, unit}, unit may be "". Throws Error when the
  // number of values does not match the sample types.
  void add_sample(const std::vector<uint64_t>& pcs, const std::vector<int64_t>& values,
                  const std::vector<std::pair<std::string, std::string>>& labels = {},
                  const std::vector<std::tuple<std::string, int64_t, std::string>>& num_labels = {});

  // A sample whose stack is names, leaf first, not addresses (a chain of
  // references, say): each name is a function of its own location.
  void add_named_sample(const std::vector<std::string>& frames, const std::vector<int64_t>& values);

  size_t sample_count() const { return samples_.size(); }

  std::string Serialize() const;         // raw profile.proto bytes
  std::string SerializeGzipped() const;  // what a .pb.gz holds
  // Writes SerializeGzipped() to path.tmp, then renames it over path. Throws
  // Error naming the path and the reason; leaves no temporary file behind.
  void WriteFile(const std::string& path) const;

 private:
  struct Label {
    int64_t key = 0, str = 0, num = 0, num_unit = 0;
  };
  struct Sample {
    std::vector<uint64_t> location_ids;
    std::vector<int64_t> values;
    std::vector<Label> labels;
  };
  struct Line {
    uint64_t function_id = 0;
    int64_t line = 0;
  };
  struct Location {
    uint64_t address = 0;
    std::vector<Line> lines;  // innermost first; the last is the caller the others were inlined into
  };
  struct Function {
    int64_t name = 0, file = 0;
  };
  struct Mapping {
    uint64_t start = 0, limit = 0, offset = 0;
    int64_t file = 0, build_id = 0;
  };

  int64_t Str(const std::string& s);  // index in the string table, adding s if new
  uint64_t LocationId(uint64_t pc);
  uint64_t NamedLocationId(const std::string& name);
  void CheckValues(const std::vector<int64_t>& values) const;
  uint64_t FunctionId(const std::string& name, const std::string& file);

  std::vector<std::pair<int64_t, int64_t>> sample_types_;
  std::pair<int64_t, int64_t> period_type_{0, 0};
  int64_t period_ = 0, time_nanos_ = 0, duration_nanos_ = 0, default_sample_type_ = 0;
  std::vector<int64_t> comments_;
  FrameLookup symbolizer_;

  std::vector<std::string> strings_{""};  // string_table[0] must be ""
  std::unordered_map<std::string, int64_t> string_index_{{"", 0}};
  std::vector<Sample> samples_;
  std::vector<Location> locations_;  // id = index + 1
  std::unordered_map<uint64_t, uint64_t> location_index_;
  std::unordered_map<std::string, uint64_t> named_location_index_;
  std::vector<Function> functions_;  // id = index + 1
  std::map<std::pair<std::string, std::string>, uint64_t> function_index_;
  std::vector<Mapping> mappings_;  // id = index + 1
};

}  // namespace goscope
