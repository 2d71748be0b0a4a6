#include "probes/ring_records.h"

#include <linux/types.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>

#include "gc_events.h"
#include "goroutine_events.h"
#include "heap_events.h"
#include "proc_events.h"

namespace goscope {
namespace {

// A copy of the record's first sizeof(T) bytes, if it has that many: ring
// buffer records are 8-byte aligned, but a fuzzer's bytes are not.
template <typename T>
std::optional<T> Read(RingRecord r) {
  if (r.size() < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, r.data(), sizeof v);
  return v;
}

}  // namespace

std::optional<GoroutineEvent> DecodeGoroutineRecord(RingRecord record) {
  auto h = Read<goroutine_exit_event>(record);
  if (!h) return std::nullopt;
  GoroutineEvent ev{};
  ev.ts_ns = h->ts;
  ev.pid = static_cast<pid_t>(h->pid);
  ev.goid = h->goid;
  if (h->kind == GOROUTINE_EXIT) {
    ev.kind = GoroutineEvent::kExit;
    return ev;
  }
  // The fields both creation records share.
  auto creation = [&](const auto& c) {
    ev.kind = GoroutineEvent::kCreate;
    ev.parent_goid = c.parent_goid;
    ev.gopc = c.gopc;
    ev.startpc = c.startpc;
  };
  if (h->kind == GOROUTINE_CREATE_SITE) {
    auto c = Read<goroutine_create_event>(record);
    if (!c) return std::nullopt;
    creation(*c);
    ev.stack_of_site = true;
    return ev;
  }
  if (h->kind != GOROUTINE_CREATE) return std::nullopt;
  auto e = Read<goroutine_event>(record);
  if (!e) return std::nullopt;
  creation(*e);
  ev.creator_goid = e->creator_goid;
  // The creation stack is what follows the go statement's pc; a walk that
  // does not reach it within GOROUTINE_GOPC_WITHIN frames is not trusted.
  uint32_t n = std::min<uint32_t>(e->nframes, GOROUTINE_STACK_MAX);
  for (uint32_t i = 0; i < n && i < GOROUTINE_GOPC_WITHIN; i++) {
    if (e->stack[i] != e->gopc) continue;
    ev.creation_stack.assign(e->stack + i, e->stack + n);
    break;
  }
  return ev;
}

std::optional<HeapInitEvent> DecodeHeapRecord(RingRecord record) {
  auto e = Read<heap_init_event>(record);
  if (!e || e->kind != HEAP_INIT_MARK) return std::nullopt;
  HeapInitEvent ev{};
  ev.ts_ns = e->ts;
  ev.pid = static_cast<pid_t>(e->pid);
  ev.goid = e->goid;
  // BPF counts init sites from 1 (0 means "none" in its maps).
  ev.mark = e->mark == HEAP_MARK_RUNTIME_INIT_DONE || e->mark == HEAP_MARK_MAIN ? e->mark : e->mark - 1;
  return ev;
}

std::optional<GcRecord> DecodeGcRecord(RingRecord record) {
  auto e = Read<gc_event>(record);
  if (!e || e->kind < GC_EV_STW_STOP || e->kind > GC_EV_CYCLE) return std::nullopt;
  GcRecord r;
  r.kind = static_cast<GcRecord::Kind>(e->kind);
  r.pid = static_cast<pid_t>(e->pid);
  r.ts_ns = e->ts;
  r.goid = e->goid;
  r.trigger_kind = e->trigger_kind;
  r.reason = e->reason;
  r.cycles = e->cycles;
  r.user_forced = e->user_forced != 0;
  r.t_sweep_term = e->t_sweep_term;
  r.t_mark = e->t_mark;
  r.t_mark_term = e->t_mark_term;
  r.t_end = e->t_end;
  r.pause_ns = e->pause_ns;
  r.heap0 = e->heap0;
  r.heap1 = e->heap1;
  r.heap2 = e->heap2;
  return r;
}

std::optional<ProcessRecord> DecodeProcessRecord(RingRecord record) {
  auto h = Read<proc_exit_event>(record);
  if (!h) return std::nullopt;
  if (h->kind == PROC_EXIT) return ExitEvent{static_cast<pid_t>(h->pid)};
  if (h->kind != PROC_EXEC) return std::nullopt;
  auto e = Read<proc_exec_event>(record);
  if (!e) return std::nullopt;
  ExecEvent ev;
  ev.pid = static_cast<pid_t>(e->pid);
  ev.dev = DevFromKernel(e->dev);
  ev.ino = e->ino;
  ev.filename.assign(e->filename, strnlen(e->filename, sizeof e->filename));
  ev.stopped = e->stopped != 0;
  return ev;
}

uint64_t DevFromKernel(uint32_t kernel_dev) { return makedev(kernel_dev >> 20, kernel_dev & 0xfffff); }

uint32_t DevToKernel(uint64_t user_dev) {
  return static_cast<uint32_t>((major(user_dev) & 0xfff) << 20 | (minor(user_dev) & 0xfffff));
}

}  // namespace goscope
