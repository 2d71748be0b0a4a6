#include "output/pprof_profile.h"

#include "output/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "error.h"

namespace goscope {
namespace {

// ---- Protobuf wire format: the few encodings profile.proto needs -----------

// Like Go's runtime/pprof/protobuf.go: scalar fields are proto3, so zero (the
// default) is left out; repeated numbers are written packed.
class ProtoEncoder {
 public:
  const std::string& bytes() const { return buf_; }

  void Uint64(int field, uint64_t x) {
    if (x == 0) return;
    Tag(field, kVarint);
    Varint(x);
  }
  void Int64(int field, int64_t x) { Uint64(field, static_cast<uint64_t>(x)); }
  void Bool(int field, bool b) { Uint64(field, b ? 1 : 0); }
  // Always written, empty or not: string_table[0] is "".
  void String(int field, std::string_view s) {
    Tag(field, kBytes);
    Varint(s.size());
    buf_.append(s);
  }
  template <class T>
  void Packed(int field, const std::vector<T>& xs) {
    if (xs.empty()) return;
    ProtoEncoder body;
    for (T x : xs) body.Varint(static_cast<uint64_t>(x));
    String(field, body.buf_);
  }
  // An embedded message whose fields `fill` writes.
  template <class F>
  void Message(int field, F&& fill) {
    ProtoEncoder body;
    fill(body);
    String(field, body.buf_);
  }

 private:
  enum WireType { kVarint = 0, kBytes = 2 };
  void Tag(int field, WireType type) { Varint(static_cast<uint64_t>(field) << 3 | type); }
  void Varint(uint64_t x) {
    for (; x >= 0x80; x >>= 7) buf_.push_back(static_cast<char>(x | 0x80));
    buf_.push_back(static_cast<char>(x));
  }

  std::string buf_;
};

// Field numbers from profile.proto (github.com/google/pprof/proto/profile.proto).
enum ProfileField {
  kProfileSampleType = 1, kProfileSample = 2, kProfileMapping = 3, kProfileLocation = 4,
  kProfileFunction = 5, kProfileStringTable = 6, kProfileTimeNanos = 9, kProfileDurationNanos = 10,
  kProfilePeriodType = 11, kProfilePeriod = 12, kProfileComment = 13, kProfileDefaultSampleType = 14,
};
enum ValueTypeField { kValueTypeType = 1, kValueTypeUnit = 2 };
enum SampleField { kSampleLocationId = 1, kSampleValue = 2, kSampleLabel = 3 };
enum LabelField { kLabelKey = 1, kLabelStr = 2, kLabelNum = 3, kLabelNumUnit = 4 };
enum MappingField {
  kMappingId = 1, kMappingStart = 2, kMappingLimit = 3, kMappingOffset = 4, kMappingFilename = 5,
  kMappingBuildId = 6, kMappingHasFunctions = 7, kMappingHasFilenames = 8, kMappingHasLineNumbers = 9,
  kMappingHasInlineFrames = 10,
};
enum LocationField { kLocationId = 1, kLocationMappingId = 2, kLocationAddress = 3, kLocationLine = 4 };
enum LineField { kLineFunctionId = 1, kLineLine = 2 };
enum FunctionField { kFunctionId = 1, kFunctionName = 2, kFunctionSystemName = 3, kFunctionFilename = 4 };

std::string Gzip(const std::string& data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer rather than zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("pprof: cannot initialize gzip compression");
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');  // + the gzip header
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw Error("pprof: gzip compression failed");
  return out;
}

}  // namespace

PprofProfile::PprofProfile(std::vector<std::pair<std::string, std::string>> sample_types) {
  for (const auto& [type, unit] : sample_types) sample_types_.emplace_back(Str(type), Str(unit));
}

void PprofProfile::set_period(const std::string& type, const std::string& unit, int64_t period) {
  period_type_ = {Str(type), Str(unit)};
  period_ = period;
}

void PprofProfile::set_default_sample_type(const std::string& type) { default_sample_type_ = Str(type); }

void PprofProfile::add_comment(const std::string& comment) { comments_.push_back(Str(comment)); }

uint64_t PprofProfile::add_mapping(uint64_t start, uint64_t limit, uint64_t offset, const std::string& file,
                                   const std::string& build_id) {
  mappings_.push_back({start, limit, offset, Str(file), Str(build_id)});
  return mappings_.size();
}

int64_t PprofProfile::Str(const std::string& s) {
  auto [it, added] = string_index_.try_emplace(s, static_cast<int64_t>(strings_.size()));
  if (added) strings_.push_back(s);
  return it->second;
}

uint64_t PprofProfile::FunctionId(const std::string& name, const std::string& file) {
  auto [it, added] = function_index_.try_emplace({name, file}, functions_.size() + 1);
  if (added) functions_.push_back({Str(name), Str(file)});
  return it->second;
}

uint64_t PprofProfile::LocationId(uint64_t pc) {
  auto it = location_index_.find(pc);
  if (it != location_index_.end()) return it->second;
  Location loc{pc, {}};
  if (symbolizer_)
    for (const Frame& f : symbolizer_(pc)) loc.lines.push_back({FunctionId(f.function, f.file), f.line});
  locations_.push_back(std::move(loc));
  return location_index_[pc] = locations_.size();
}

uint64_t PprofProfile::NamedLocationId(const std::string& name) {
  auto it = named_location_index_.find(name);
  if (it != named_location_index_.end()) return it->second;
  locations_.push_back({0, {{FunctionId(name, ""), 0}}});
  return named_location_index_[name] = locations_.size();
}

void PprofProfile::CheckValues(const std::vector<int64_t>& values) const {
  if (values.size() != sample_types_.size())
    throw Error("pprof: sample has " + std::to_string(values.size()) + " values, the profile has " +
                std::to_string(sample_types_.size()) + " sample types");
}

void PprofProfile::add_named_sample(const std::vector<std::string>& frames, const std::vector<int64_t>& values) {
  CheckValues(values);
  Sample s;
  s.values = values;
  for (const std::string& f : frames) s.location_ids.push_back(NamedLocationId(f));
  samples_.push_back(std::move(s));
}

void PprofProfile::add_sample(const std::vector<uint64_t>& pcs, const std::vector<int64_t>& values,
                              const std::vector<std::pair<std::string, std::string>>& labels,
                              const std::vector<std::tuple<std::string, int64_t, std::string>>& num_labels) {
  CheckValues(values);
  Sample s;
  s.values = values;
  for (uint64_t pc : pcs) s.location_ids.push_back(LocationId(pc));
  for (const auto& [key, value] : labels) s.labels.push_back({Str(key), Str(value), 0, 0});
  for (const auto& [key, num, unit] : num_labels) s.labels.push_back({Str(key), 0, num, unit.empty() ? 0 : Str(unit)});
  samples_.push_back(std::move(s));
}

std::string PprofProfile::Serialize() const {
  ProtoEncoder e;
  auto value_type = [&](int field, std::pair<int64_t, int64_t> vt) {
    e.Message(field, [&](ProtoEncoder& m) {
      m.Int64(kValueTypeType, vt.first);
      m.Int64(kValueTypeUnit, vt.second);
    });
  };
  for (const auto& vt : sample_types_) value_type(kProfileSampleType, vt);
  for (const Sample& s : samples_) {
    e.Message(kProfileSample, [&](ProtoEncoder& m) {
      m.Packed(kSampleLocationId, s.location_ids);
      m.Packed(kSampleValue, s.values);
      for (const Label& l : s.labels) {
        m.Message(kSampleLabel, [&](ProtoEncoder& lm) {
          lm.Int64(kLabelKey, l.key);
          lm.Int64(kLabelStr, l.str);
          lm.Int64(kLabelNum, l.num);
          lm.Int64(kLabelNumUnit, l.num_unit);
        });
      }
    });
  }
  for (size_t i = 0; i < mappings_.size(); ++i) {
    const Mapping& mp = mappings_[i];
    e.Message(kProfileMapping, [&](ProtoEncoder& m) {
      m.Uint64(kMappingId, i + 1);
      m.Uint64(kMappingStart, mp.start);
      m.Uint64(kMappingLimit, mp.limit);
      m.Uint64(kMappingOffset, mp.offset);
      m.Int64(kMappingFilename, mp.file);
      m.Int64(kMappingBuildId, mp.build_id);
      for (int f : {kMappingHasFunctions, kMappingHasFilenames, kMappingHasLineNumbers, kMappingHasInlineFrames})
        m.Bool(f, true);
    });
  }
  for (size_t i = 0; i < locations_.size(); ++i) {
    const Location& loc = locations_[i];
    uint64_t mapping_id = 0;
    for (size_t j = 0; j < mappings_.size() && !mapping_id; ++j)
      if (loc.address >= mappings_[j].start && loc.address < mappings_[j].limit) mapping_id = j + 1;
    e.Message(kProfileLocation, [&](ProtoEncoder& m) {
      m.Uint64(kLocationId, i + 1);
      m.Uint64(kLocationMappingId, mapping_id);
      m.Uint64(kLocationAddress, loc.address);
      for (const Line& ln : loc.lines) {
        m.Message(kLocationLine, [&](ProtoEncoder& lm) {
          lm.Uint64(kLineFunctionId, ln.function_id);
          lm.Int64(kLineLine, ln.line);
        });
      }
    });
  }
  for (size_t i = 0; i < functions_.size(); ++i) {
    e.Message(kProfileFunction, [&](ProtoEncoder& m) {
      m.Uint64(kFunctionId, i + 1);
      m.Int64(kFunctionName, functions_[i].name);
      m.Int64(kFunctionSystemName, functions_[i].name);  // Go writes the same name for both
      m.Int64(kFunctionFilename, functions_[i].file);
    });
  }
  for (const std::string& s : strings_) e.String(kProfileStringTable, s);
  e.Int64(kProfileTimeNanos, time_nanos_);
  e.Int64(kProfileDurationNanos, duration_nanos_);
  if (period_type_ != std::pair<int64_t, int64_t>{0, 0}) value_type(kProfilePeriodType, period_type_);
  e.Int64(kProfilePeriod, period_);
  for (int64_t c : comments_) e.Int64(kProfileComment, c);
  e.Int64(kProfileDefaultSampleType, default_sample_type_);
  return e.bytes();
}

std::string PprofProfile::SerializeGzipped() const { return Gzip(Serialize()); }

void PprofProfile::WriteFile(const std::string& path) const {
  try {
    WriteFileAtomically(path, SerializeGzipped());
  } catch (const Error& e) {
    throw Error(std::string("profile: ") + e.what());
  }
}

}  // namespace goscope
