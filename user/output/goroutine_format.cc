#include "output/goroutine_format.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>

#include <fmt/format.h>

#include "output/output_schema.h"

namespace goscope {
namespace {

using nlohmann::json;

bool IsExportedRuntime(const std::string& name) {
  constexpr std::string_view p = "runtime.";
  return name.size() > p.size() && name.starts_with(p) && name[p.size()] >= 'A' && name[p.size()] <= 'Z';
}

// runtime.elideWrapperCalling: a wrapper is hidden unless it called a panic.
bool ElideWrapperCalling(const std::string& callee) {
  return callee != "runtime.gopanic" && callee != "runtime.sigpanic" && callee != "runtime.panicwrap";
}

std::string Header(const Goroutine& g) {
  // As runtime.goroutineheader: a parked goroutine shows its wait reason, and
  // one the runtime's leak detector marked (_Gleaked, 1.26+) says so.
  bool parked = g.state == "waiting" || g.state == "leaked";
  std::string status = parked && !g.wait_reason.empty() ? g.wait_reason : g.state;
  if (g.state == "leaked") status += " (leaked)";
  std::string s = fmt::format("goroutine {} [{}", g.goid, status);
  if (g.wait_seconds && *g.wait_seconds >= 60) s += fmt::format(", {} minutes", static_cast<int64_t>(*g.wait_seconds / 60));
  return s + "]:\n";
}

// The stack as Go's profiles record it (runtime.tracebackPCs): per physical
// frame, its pc in the runtime.Callers convention (symbolize at pc-1) and the
// frames (inlined ones first) that Go keeps, without wrappers that did not
// call a panic. A physical frame left with no frames is dropped.
struct ProfileFrame {
  uint64_t pc = 0;
  std::vector<const Frame*> frames;
};
std::vector<ProfileFrame> ProfileFrames(const Goroutine& g, bool all) {
  std::vector<ProfileFrame> out;
  ProfileFrame cur;
  size_t k = 0;
  for (size_t i = 0; i < g.stack.size() && k < g.stack_pcs.size(); i++) {
    const Frame& f = g.stack[i];
    std::string callee = i > 0 ? g.stack[i - 1].function : "";
    if (all || !(f.wrapper && ElideWrapperCalling(callee))) cur.frames.push_back(&f);
    if (f.inlined) continue;
    cur.pc = g.stack_pcs[k++];
    if (!cur.frames.empty()) out.push_back(std::move(cur));
    cur = {};
  }
  return out;
}

std::string Hex(uint64_t v) { return fmt::format("{:#x}", v); }

bool Listed(const Goroutine& g, const GoroutineFormatOptions& opts) { return opts.all || !g.system; }

// text/tabwriter as runtime/pprof configures it for debug=1 output
// (minwidth 1, tabwidth 8, padding 1, padchar '\t'): cells end at tabs, a
// column is as wide as its widest cell in a run of consecutive lines that
// have it, plus one, rounded up to whole tabs.
std::string TabAlign(const std::vector<std::string>& lines) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& l : lines) {
    std::vector<std::string> c;
    size_t start = 0;
    for (size_t i; (i = l.find('\t', start)) != std::string::npos; start = i + 1) c.push_back(l.substr(start, i - start));
    c.push_back(l.substr(start));
    cells.push_back(std::move(c));
  }
  // width[i][c]: padded width of terminated cell c on line i.
  std::vector<std::vector<size_t>> width(cells.size());
  for (size_t i = 0; i < cells.size(); i++) width[i].assign(cells[i].size(), 0);
  size_t max_cols = 0;
  for (const auto& c : cells) max_cols = std::max(max_cols, c.size());
  for (size_t col = 0; col + 1 < max_cols; col++) {
    for (size_t i = 0; i < cells.size();) {
      if (cells[i].size() <= col + 1) {
        i++;
        continue;
      }
      size_t j = i, w = 1;
      for (; j < cells.size() && cells[j].size() > col + 1; j++) w = std::max(w, cells[j][col].size() + 1);
      w = (w + 7) / 8 * 8;
      for (size_t k = i; k < j; k++) width[k][col] = w;
      i = j;
    }
  }
  std::string out;
  for (size_t i = 0; i < cells.size(); i++) {
    for (size_t c = 0; c < cells[i].size(); c++) {
      out += cells[i][c];
      if (c + 1 < cells[i].size()) out.append((width[i][c] - cells[i][c].size() + 7) / 8, '\t');
    }
    out += '\n';
  }
  return out;
}

json FrameJson(const Frame& f) { return {{"function", f.function}, {"file", f.file}, {"line", f.line}}; }

std::string_view QualityName(StackQuality q) {
  switch (q) {
    case StackQuality::kComplete: return "complete";
    case StackQuality::kTruncated: return "truncated";
    case StackQuality::kUnavailable: return "unavailable";
  }
  return "?";
}

}  // namespace

bool GoShowsFrame(const std::string& function, bool first_frame) {
  if (function == "runtime.gopanic" && !first_frame) return true;
  return function.find('.') != std::string::npos && (!function.starts_with("runtime.") || IsExportedRuntime(function));
}

void WriteGoroutinesText(const Snapshot& snap, const GoroutineFormatOptions& opts, const TextSink& sink) {
  bool first = true;
  std::string out;
  for (const Goroutine& g : snap.goroutines) {
    if (!Listed(g, opts) || g.state == "dead") continue;
    out.clear();
    if (!first) out += '\n';
    first = false;
    out += Header(g);
    if (g.stack_quality == StackQuality::kUnavailable) {
      out += "\t" + g.stack_note + "\n";
    } else {
      int shown = 0;
      std::string callee;
      for (const Frame& f : g.stack) {
        std::string prev = callee;
        callee = f.function;
        if (!opts.all) {
          if (f.wrapper && ElideWrapperCalling(prev)) continue;
          if (!GoShowsFrame(f.function, shown == 0)) continue;
        }
        shown++;
        out += f.function + "(...)\n";
        out += fmt::format("\t{}:{}", f.file, f.line);
        if (!f.inlined && f.pc > f.entry) out += fmt::format(" +{:#x}", f.pc - f.entry);
        out += '\n';
      }
      if (g.stack_quality == StackQuality::kTruncated) out += "...stack truncated: " + g.stack_note + "...\n";
    }
    if (g.created_by && g.goid != 1 && (opts.all || GoShowsFrame(g.created_by->function, false))) {
      const Frame& c = *g.created_by;
      out += "created by " + c.function;
      if (g.parent_goid) out += fmt::format(" in goroutine {}", *g.parent_goid);
      out += fmt::format("\n\t{}:{}", c.file, c.line);
      if (c.pc > c.entry) out += fmt::format(" +{:#x}", c.pc - c.entry);
      out += '\n';
    }
    sink(out);
  }
}

std::string FormatGoroutinesText(const Snapshot& snap, const GoroutineFormatOptions& opts) {
  std::string text;
  WriteGoroutinesText(snap, opts, [&](std::string_view piece) { text += piece; });
  return text;
}

std::string FormatGoroutinesGrouped(const Snapshot& snap, const GoroutineFormatOptions& opts) {
  struct Group {
    size_t count = 0;
    const Goroutine* sample = nullptr;
    std::string key;
  };
  std::map<std::pair<std::vector<uint64_t>, std::string>, Group> groups;
  size_t total = 0;
  for (const Goroutine& g : snap.goroutines) {
    if (!Listed(g, opts) || g.state == "dead") continue;
    total++;
    std::string why = g.stack_quality == StackQuality::kUnavailable ? g.stack_note : "";
    std::vector<uint64_t> pcs;
    for (const auto& pf : ProfileFrames(g, opts.all)) pcs.push_back(pf.pc);
    Group& grp = groups[{pcs, why}];
    if (!grp.sample) {
      grp.sample = &g;
      grp.key = "@";
      for (uint64_t pc : pcs) grp.key += " " + Hex(pc);
    }
    grp.count++;
  }
  std::vector<const Group*> order;
  for (const auto& [k, grp] : groups) order.push_back(&grp);
  // printCountProfile's order: count descending, then the "@ pc..." key.
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
    return std::tie(b->count, a->key) < std::tie(a->count, b->key);
  });
  std::string out = fmt::format("goroutine profile: total {}\n", total);
  for (const Group* grp : order) {
    out += fmt::format("{} {}\n", grp->count, grp->key);
    const Goroutine& g = *grp->sample;
    std::vector<std::string> lines;
    if (g.stack_quality == StackQuality::kUnavailable) {
      lines.push_back("#\t" + g.stack_note);
    } else {
      // printStackRecord: leading runtime frames and goexit are hidden.
      bool show = opts.all;
      for (const ProfileFrame& pf : ProfileFrames(g, opts.all)) {
        for (const Frame* fp : pf.frames) {
          const Frame& f = *fp;
          if (!show && (f.function.starts_with("runtime.") || f.function.starts_with("internal/runtime/"))) continue;
          show = true;
          uint64_t pc = pf.pc - 1;  // the CALL, as runtime.Frames reports it
          lines.push_back(fmt::format("#\t{:#x}\t{}+{:#x}\t{}:{}", pc, f.function, pc - f.entry, f.file, f.line));
        }
      }
      if (g.stack_quality == StackQuality::kTruncated) lines.push_back("#\t...stack truncated: " + g.stack_note);
    }
    out += TabAlign(lines);
    out += '\n';
  }
  return out;
}

namespace {

json GoroutineJson(const Goroutine& g) {
  json j;
  j["goid"] = g.goid;
  j["state"] = g.state;
  j["wait_reason"] = g.wait_reason.empty() ? json(nullptr) : json(g.wait_reason);
  j["wait_seconds"] = g.wait_seconds ? json(std::round(*g.wait_seconds * 1000) / 1000) : json(nullptr);
  j["parent_goid"] = g.parent_goid ? json(*g.parent_goid) : json(nullptr);
  j["created_by"] = g.created_by ? FrameJson(*g.created_by) : json(nullptr);
  if (g.stack_quality == StackQuality::kUnavailable) {
    j["stack"] = nullptr;
  } else {
    json st = json::array();
    for (const Frame& f : g.stack) st.push_back(FrameJson(f));
    j["stack"] = st;
  }
  j["stack_status"] = QualityName(g.stack_quality);
  j["stack_note"] = g.stack_note.empty() ? json(nullptr) : json(g.stack_note);
  j["system"] = g.system;
  return j;
}

// Every field but the goroutines.
json SnapshotHeaderJson(const Snapshot& snap) {
  json out;
  out["pid"] = snap.pid;
  out["schema_version"] = kOutputSchemaVersion;
  out["go_version"] = snap.go_version;
  out["read_ms"] = std::round(snap.read_seconds * 1e6) / 1e3;
  out["frozen"] = snap.frozen;
  out["stopped_ms"] = snap.frozen ? json(std::round(snap.stopped_seconds * 1e6) / 1e3) : json(nullptr);
  out["user_goroutines"] = snap.user_goroutines();
  out["wait_reasons_from"] = snap.wait_reasons_from;
  return out;
}

constexpr auto kReplace = json::error_handler_t::replace;  // a stray byte in a name must not abort the output

}  // namespace

json GoroutinesJson(const Snapshot& snap) {
  json out = SnapshotHeaderJson(snap);
  json gs = json::array();
  for (const Goroutine& g : snap.goroutines) gs.push_back(GoroutineJson(g));
  out["goroutines"] = std::move(gs);
  return out;
}

void WriteGoroutinesJson(const Snapshot& snap, const TextSink& sink) {
  // One goroutine at a time, one line each: a document of the whole process
  // (100,000 goroutines) would cost several times the output's size in memory.
  std::string head = SnapshotHeaderJson(snap).dump(2, ' ', false, kReplace);
  head.resize(head.size() - 2);  // "\n}": the goroutines go last
  head += ",\n  \"goroutines\": [";
  sink(head);
  bool first = true;
  std::string line;
  for (const Goroutine& g : snap.goroutines) {
    line = first ? "\n    " : ",\n    ";
    first = false;
    line += GoroutineJson(g).dump(-1, ' ', false, kReplace);
    sink(line);
  }
  sink(first ? "]\n}\n" : "\n  ]\n}\n");
}

std::string GoroutinesJsonText(const Snapshot& snap) {
  std::string text;
  WriteGoroutinesJson(snap, [&](std::string_view piece) { text += piece; });
  return text;
}

PprofProfile GoroutinesPprof(const Snapshot& snap, const std::vector<BinaryMapping>& mappings,
                             const GoroutineFormatOptions& opts) {
  PprofProfile p(std::vector<std::pair<std::string, std::string>>{{"goroutine", "count"}});
  p.set_period("goroutine", "count", 1);
  p.set_time(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count());
  for (const auto& m : mappings) p.add_mapping(m.start, m.limit, m.offset, m.file, m.build_id);
  // Identical stacks become one sample, as in Go's profile. A location holds
  // the frames Go keeps at its pc (wrappers elided), so each is symbolized
  // from the snapshot's own frames.
  std::map<std::pair<std::vector<uint64_t>, bool>, int64_t> counts;
  auto frames = std::make_shared<std::map<uint64_t, std::vector<Frame>>>();
  for (const Goroutine& g : snap.goroutines) {
    if (!Listed(g, opts) || g.state == "dead") continue;
    std::vector<uint64_t> pcs;
    for (const auto& pf : ProfileFrames(g, opts.all)) {
      uint64_t pc = pf.pc - 1;  // the CALL, as in Go's locations
      pcs.push_back(pc);
      auto [it, fresh] = frames->try_emplace(pc);
      if (fresh)
        for (const Frame* f : pf.frames) it->second.push_back(*f);
    }
    counts[{pcs, g.stack_quality == StackQuality::kUnavailable}]++;
  }
  p.set_symbolizer([frames](uint64_t pc) {
    auto it = frames->find(pc);
    return it == frames->end() ? std::vector<Frame>{} : it->second;
  });
  for (const auto& [key, count] : counts) {
    if (key.second)
      p.add_sample(key.first, {count}, {{"stack", "unavailable"}});
    else
      p.add_sample(key.first, {count});
  }
  return p;
}

}  // namespace goscope
