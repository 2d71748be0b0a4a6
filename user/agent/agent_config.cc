#include "agent/agent_config.h"

#include <fnmatch.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.h"

namespace goscope {
namespace {

using Json = nlohmann::json;

// nlohmann::json reports lines only for syntax errors. To name the line of a
// key it does not know, the text is parsed a second time through the SAX
// interface with an iterator that counts the newlines the lexer has consumed:
// when the parser reports a key or a value, the lexer has read exactly up to
// its end (a number also reads one character past it).
struct LineCursor {
  int newlines = 0;
  char last = 0;
};

class CountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator(const char* p, LineCursor* cursor) : p_(p), cursor_(cursor) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {
    cursor_->last = *p_;
    if (*p_ == '\n') cursor_->newlines++;
    ++p_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const CountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const CountingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  LineCursor* cursor_;
};

// Records the line of every key and value by its path ("include[1].exe"),
// and the first repeated key (which nlohmann would silently overwrite).
class LineMapper : public nlohmann::json_sax<Json> {
 public:
  explicit LineMapper(const LineCursor& cursor) : cursor_(cursor) {}

  std::map<std::string, int> lines;
  std::string duplicate;  // path of the first repeated key
  int duplicate_line = 0;

  bool null() override { return Value(false); }
  bool boolean(bool) override { return Value(false); }
  bool number_integer(number_integer_t) override { return Value(true); }
  bool number_unsigned(number_unsigned_t) override { return Value(true); }
  bool number_float(number_float_t, const string_t&) override { return Value(true); }
  bool string(string_t&) override { return Value(false); }
  bool binary(binary_t&) override { return Value(false); }
  bool start_object(std::size_t) override {
    Open(false);
    return true;
  }
  bool key(string_t& k) override {
    Frame& f = stack_.back();
    f.key = k;
    std::string path = f.path.empty() ? k : f.path + "." + k;
    if (!f.keys.insert(k).second && duplicate.empty()) {
      duplicate = path;
      duplicate_line = Line(false);
    }
    lines.emplace(path, Line(false));
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    Open(true);
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    bool array = false;
    std::string path;
    size_t index = 0;
    std::string key;
    std::set<std::string> keys;
  };

  int Line(bool read_past) const {
    int line = cursor_.newlines + 1;
    return read_past && cursor_.last == '\n' ? line - 1 : line;
  }

  // The path of the value that starts now; records its line (a member keeps its key's).
  std::string Enter(bool read_past) {
    if (stack_.empty()) return "";
    Frame& f = stack_.back();
    std::string path;
    if (f.array)
      path = fmt::format("{}[{}]", f.path, f.index++);
    else
      path = f.path.empty() ? f.key : f.path + "." + f.key;
    lines.emplace(path, Line(read_past));
    return path;
  }
  void Open(bool array) {
    Frame f;
    f.array = array;
    f.path = Enter(false);
    stack_.push_back(std::move(f));
  }
  bool Value(bool read_past) {
    Enter(read_past);
    return true;
  }

  const LineCursor& cursor_;
  std::vector<Frame> stack_;
};

// Errors name the source, the line when known, and the key's path.
class ConfigReader {
 public:
  ConfigReader(std::string_view source, std::map<std::string, int> lines) : source_(source), lines_(std::move(lines)) {}

  [[noreturn]] void Fail(const std::string& path, const std::string& what) const {
    auto it = lines_.find(path);
    std::string where = it != lines_.end() ? fmt::format("line {}: ", it->second) : "";
    throw Error(fmt::format("agent config {}: {}{}{}", source_, where, path.empty() ? "" : path + ": ", what));
  }

  static std::string TypeName(const Json& v) {
    if (v.is_number_integer()) return "an integer";
    if (v.is_number_float()) return "a number with a fraction";
    return std::string(v.type_name());
  }

  void CheckKeys(const Json& obj, const std::string& path, std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : obj.items()) {
      bool ok = false;
      for (auto n : known) ok = ok || k == n;
      if (ok) continue;
      std::string list;
      for (auto n : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
      Fail(Join(path, k), fmt::format("unknown key \"{}\" (known keys: {})", k, list));
    }
  }

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
  }

  bool Bool(const Json& v, const std::string& path) const {
    if (!v.is_boolean()) Fail(path, fmt::format("expected true or false, got {}", TypeName(v)));
    return v.get<bool>();
  }

  std::string String(const Json& v, const std::string& path) const {
    if (!v.is_string()) Fail(path, fmt::format("expected a string, got {}", TypeName(v)));
    std::string s = v.get<std::string>();
    if (s.empty()) Fail(path, "must not be empty");
    if (s.find('\0') != std::string::npos) Fail(path, "must not contain a NUL character");
    return s;
  }

  // An integer in [lo, hi]; 1e3 or 5.0 are not integers here.
  int64_t Integer(const Json& v, const std::string& path, int64_t lo, int64_t hi) const {
    if (!v.is_number_integer()) Fail(path, fmt::format("expected an integer, got {}", TypeName(v)));
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
      Fail(path, fmt::format("{} is out of range [{}, {}]", v.get<uint64_t>(), lo, hi));
    int64_t n = v.get<int64_t>();
    if (n < lo || n > hi) Fail(path, fmt::format("{} is out of range [{}, {}]", n, lo, hi));
    return n;
  }

  double Number(const Json& v, const std::string& path) const {
    if (!v.is_number()) Fail(path, fmt::format("expected a number, got {}", TypeName(v)));
    return v.get<double>();
  }

  std::vector<ProcessRule> Rules(const Json& v, const std::string& path) const {
    if (!v.is_array()) Fail(path, fmt::format("expected a list of rules, got {}", TypeName(v)));
    std::vector<ProcessRule> rules;
    for (size_t i = 0; i < v.size(); i++) {
      std::string rp = fmt::format("{}[{}]", path, i);
      const Json& r = v[i];
      if (!r.is_object()) Fail(rp, fmt::format("expected a rule like {{\"exe\": \"*/caddy\"}}, got {}", TypeName(r)));
      CheckKeys(r, rp, {"exe", "comm", "cgroup"});
      if (r.empty()) Fail(rp, "a rule must give at least one of exe, comm, cgroup");
      ProcessRule rule;
      if (r.contains("exe")) rule.exe = String(r["exe"], rp + ".exe");
      if (r.contains("comm")) rule.comm = String(r["comm"], rp + ".comm");
      if (r.contains("cgroup")) rule.cgroup = String(r["cgroup"], rp + ".cgroup");
      rules.push_back(std::move(rule));
    }
    return rules;
  }

  // Seconds in (0, limit].
  double Seconds(const Json& v, const std::string& path, double limit) const {
    double d = Number(v, path);
    if (!(d > 0) || !(d <= limit)) Fail(path, fmt::format("{} must be a number of seconds above 0, at most {}", d, limit));
    return d;
  }

  CreationStackPolicy CreationStacks(const Json& v, const std::string& path) const {
    if (!v.is_object()) Fail(path, fmt::format("expected an object, got {}", TypeName(v)));
    CheckKeys(v, path, {"mode", "window_seconds", "cooldown_seconds"});
    CreationStackPolicy p;
    if (v.contains("mode")) {
      std::string m = String(v["mode"], path + ".mode");
      if (m == "on_demand") p.mode = CreationStackPolicy::Mode::kOnDemand;
      else if (m == "always") p.mode = CreationStackPolicy::Mode::kAlways;
      else if (m == "off") p.mode = CreationStackPolicy::Mode::kOff;
      else Fail(path + ".mode", fmt::format("\"{}\": expected on_demand, always or off", m));
    }
    if (v.contains("window_seconds")) p.window_seconds = Seconds(v["window_seconds"], path + ".window_seconds", 3600);
    if (v.contains("cooldown_seconds"))
      p.cooldown_seconds = Seconds(v["cooldown_seconds"], path + ".cooldown_seconds", 7 * 24 * 3600);
    return p;
  }

  GrowthRule Rule(const Json& v, const std::string& path) const {
    if (!v.is_object()) Fail(path, fmt::format("expected a rule like {{\"stat\": \"NumGoroutine\", \"floor\": 5000}}, got {}", TypeName(v)));
    CheckKeys(v, path, {"stat", "floor", "growth_percent", "over_seconds", "readings"});
    if (!v.contains("stat")) Fail(path, "a rule must name its stat");
    GrowthRule r;
    std::string name = String(v["stat"], path + ".stat");
    auto stat = StatByName(name);
    if (!stat || Describe(*stat).cumulative)
      Fail(path + ".stat", fmt::format("\"{}\": expected a stat that can shrink, by its Go name (NumGoroutine, "
                                       "HeapInuse, HeapAlloc, HeapObjects, Sys, StackInuse, ...)", name));
    r.stat = *stat;
    if (v.contains("floor")) r.floor = static_cast<uint64_t>(Integer(v["floor"], path + ".floor", 0, int64_t{1} << 62));
    if (v.contains("growth_percent")) {
      r.growth_percent = Number(v["growth_percent"], path + ".growth_percent");
      if (!(r.growth_percent > 0) || !(r.growth_percent <= 10000))
        Fail(path + ".growth_percent", fmt::format("{} must be above 0, at most 10000", r.growth_percent));
    }
    if (v.contains("over_seconds")) r.over_seconds = Seconds(v["over_seconds"], path + ".over_seconds", 24 * 3600);
    if (v.contains("readings")) r.readings = static_cast<int>(Integer(v["readings"], path + ".readings", 1, 100));
    return r;
  }

  BundlePolicy Bundles(const Json& v, const std::string& path) const {
    if (!v.is_object()) Fail(path, fmt::format("expected an object, got {}", TypeName(v)));
    CheckKeys(v, path, {"enabled", "rules", "cooldown_seconds", "max_bytes"});
    BundlePolicy p;
    if (v.contains("enabled")) p.enabled = Bool(v["enabled"], path + ".enabled");
    if (v.contains("rules")) {
      const Json& rules = v["rules"];
      if (!rules.is_array()) Fail(path + ".rules", fmt::format("expected a list of rules, got {}", TypeName(rules)));
      p.rules.clear();
      for (size_t i = 0; i < rules.size(); i++) p.rules.push_back(Rule(rules[i], fmt::format("{}.rules[{}]", path, i)));
    }
    if (v.contains("cooldown_seconds"))
      p.cooldown_seconds = Seconds(v["cooldown_seconds"], path + ".cooldown_seconds", 7 * 24 * 3600);
    if (v.contains("max_bytes"))
      p.max_bytes = static_cast<uint64_t>(Integer(v["max_bytes"], path + ".max_bytes", 1 << 20, int64_t{1} << 50));
    return p;
  }

  // "HOST:PORT", ":PORT" (every address) or "[V6]:PORT", port 1-65535.
  std::string Listen(const Json& v, const std::string& path) const {
    std::string s = String(v, path);
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) Fail(path, fmt::format("\"{}\": expected HOST:PORT", s));
    std::string host = s.substr(0, colon), port = s.substr(colon + 1);
    if (host.find(':') != std::string::npos && !(host.size() > 2 && host.front() == '[' && host.back() == ']'))
      Fail(path, fmt::format("\"{}\": an IPv6 address goes in brackets, e.g. [::1]:9464", s));
    char* end = nullptr;
    errno = 0;
    long p = port.empty() ? 0 : std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || errno || p < 1 || p > 65535)
      Fail(path, fmt::format("\"{}\": port must be a number from 1 to 65535", s));
    return s;
  }

 private:
  std::string source_;
  std::map<std::string, int> lines_;
};

// Drops nlohmann's "[json.exception.parse_error.101] " prefix: the rest reads well.
std::string ParseMessage(const std::string& what) {
  size_t close = what.find("] ");
  return what.starts_with("[json.exception.") && close != std::string::npos ? what.substr(close + 2) : what;
}

bool Glob(const std::string& pattern, const std::string& text) {
  return pattern.empty() || ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

bool Matches(const ProcessRule& r, const ProcessInfo& p) {
  return Glob(r.exe, p.exe) && Glob(r.comm, p.comm) && Glob(r.cgroup, p.cgroup);
}

}  // namespace

std::string ProcessRule::Describe() const {
  std::string out;
  auto add = [&](const char* name, const std::string& glob) {
    if (!glob.empty()) out += fmt::format("{}{}={}", out.empty() ? "" : " ", name, glob);
  };
  add("exe", exe);
  add("comm", comm);
  add("cgroup", cgroup);
  return out;
}

AgentConfig ParseAgentConfig(std::string_view text, std::string_view source) {
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1e400
    throw Error(fmt::format("agent config {}: {}", source, ParseMessage(e.what())));
  }

  LineCursor cursor;
  LineMapper mapper(cursor);
  Json::sax_parse(CountingIterator(text.data(), &cursor), CountingIterator(text.data() + text.size(), &cursor),
                  &mapper);
  ConfigReader in(source, mapper.lines);
  if (!mapper.duplicate.empty())
    throw Error(
        fmt::format("agent config {}: line {}: {}: key given twice", source, mapper.duplicate_line, mapper.duplicate));

  if (!doc.is_object()) in.Fail("", fmt::format("expected an object {{...}}, got {}", ConfigReader::TypeName(doc)));
  in.CheckKeys(doc, "",
               {"include", "exclude", "allow_write", "heap_rate", "interval_seconds", "profile_dir", "retention",
                "creation_stacks", "runtime_stats", "bundles", "listen", "token_file"});
  AgentConfig c;
  for (const auto& [key, v] : doc.items()) {
    if (key == "include") {
      c.include = in.Rules(v, key);
    } else if (key == "exclude") {
      c.exclude = in.Rules(v, key);
    } else if (key == "allow_write") {
      c.allow_write = in.Bool(v, key);
    } else if (key == "heap_rate") {
      c.heap_rate = in.Integer(v, key, 1, std::numeric_limits<int64_t>::max());
    } else if (key == "interval_seconds") {
      c.interval_seconds = in.Number(v, key);
      if (!(c.interval_seconds > 0) || !std::isfinite(c.interval_seconds))
        in.Fail(key, fmt::format("{} must be a number of seconds above 0", c.interval_seconds));
    } else if (key == "profile_dir") {
      c.profile_dir = in.String(v, key);
    } else if (key == "retention") {
      if (!v.is_object()) in.Fail(key, fmt::format("expected an object, got {}", ConfigReader::TypeName(v)));
      in.CheckKeys(v, key, {"max_bytes", "max_age_seconds"});
      constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
      if (v.contains("max_bytes")) c.retention.max_bytes = in.Integer(v["max_bytes"], "retention.max_bytes", 0, kMax);
      if (v.contains("max_age_seconds"))
        c.retention.max_age_seconds = in.Integer(v["max_age_seconds"], "retention.max_age_seconds", 0, kMax);
    } else if (key == "creation_stacks") {
      c.creation_stacks = in.CreationStacks(v, key);
    } else if (key == "runtime_stats") {
      if (!v.is_object()) in.Fail(key, fmt::format("expected an object, got {}", ConfigReader::TypeName(v)));
      in.CheckKeys(v, key, {"interval_seconds"});
      if (v.contains("interval_seconds")) {
        c.stats_interval_seconds = in.Seconds(v["interval_seconds"], "runtime_stats.interval_seconds", 3600);
        if (c.stats_interval_seconds < 1)
          in.Fail("runtime_stats.interval_seconds", fmt::format("{} must be at least 1", c.stats_interval_seconds));
      }
    } else if (key == "bundles") {
      c.bundles = in.Bundles(v, key);
    } else if (key == "listen") {
      c.listen = in.Listen(v, key);
    } else if (key == "token_file") {
      c.token_file = in.String(v, key);
    }
  }
  return c;
}

AgentConfig LoadAgentConfig(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("agent config {}: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(fmt::format("agent config {}: read error", path));
  return ParseAgentConfig(ss.str(), path);
}

Selection Selects(const AgentConfig& config, const ProcessInfo& process) {
  for (size_t i = 0; i < config.exclude.size(); i++)
    if (Matches(config.exclude[i], process))
      return {false, fmt::format("excluded by exclude[{}] ({})", i, config.exclude[i].Describe())};
  if (config.include.empty()) return {true, "included: no include rules, every Go process"};
  for (size_t i = 0; i < config.include.size(); i++)
    if (Matches(config.include[i], process))
      return {true, fmt::format("included by include[{}] ({})", i, config.include[i].Describe())};
  return {false, "matches no include rule"};
}

}  // namespace goscope
