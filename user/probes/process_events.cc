#include "probes/process_events.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "error.h"
#include "process/proc_maps.h"
#include "proc_events.h"
#include "proc_events.skel.h"

namespace goscope {

namespace {

// The (device, inode) /proc/self/maps shows for a private read-only mapping
// of the file: the kernel prints inode->i_sb->s_dev there, the very value the
// exec probe reads, where stat() may report a per-subvolume device instead.
std::optional<KernelFileId> IdFromOwnMapping(int fd) {
  void* p = ::mmap(nullptr, 1, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return std::nullopt;
  std::optional<KernelFileId> id;
  const auto start = reinterpret_cast<uintptr_t>(p);
  for (const Mapping& m : ReadMaps(0)) {
    if (m.start != start) continue;
    id = KernelFileId{m.dev_major << 20 | m.dev_minor, m.inode};
    break;
  }
  ::munmap(p, 1);
  return id;
}

}  // namespace

std::vector<KernelFileId> KernelFileIds(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(fmt::format("{}: {}", path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("{}: not a regular file", path));
  }
  std::vector<KernelFileId> ids{{DevToKernel(st.st_dev), st.st_ino}};
  auto mapped = IdFromOwnMapping(fd);
  ::close(fd);
  if (mapped && !(*mapped == ids[0])) ids.push_back(*mapped);
  return ids;
}

struct ProcessEvents::Impl {
  proc_events_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  bool started = false;
  std::map<std::string, std::vector<KernelFileId>> stops;  // by the path given to StopOnExec
  const std::function<void(const ExecEvent&)>* on_exec = nullptr;
  const std::function<void(const ExitEvent&)>* on_exit = nullptr;
  std::exception_ptr callback_error;  // a callback's exception, rethrown by Poll outside libbpf's C frames

  ~Impl() {
    if (rb) ring_buffer__free(rb);
    if (skel) proc_events_bpf__destroy(skel);
  }

  static proc_file_key Key(const KernelFileId& id) {
    proc_file_key k{};
    k.dev = id.dev;
    k.ino = id.ino;
    return k;
  }

  void Insert(const std::string& path, const KernelFileId& id) {
    proc_file_key k = Key(id);
    __u32 one = 1;
    if (bpf_map__update_elem(skel->maps.stop_on_exec, &k, sizeof k, &one, sizeof one, BPF_ANY) != 0)
      throw Error(fmt::format("stop on exec of {}: {}{}", path, std::strerror(errno),
                              errno == E2BIG ? " (at most 64 files)" : ""));
  }

  bool WantedElsewhere(const KernelFileId& id) const {
    for (const auto& [path, ids] : stops)
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) return true;
    return false;
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    try {
      self->Dispatch(data, size);
    } catch (...) {
      self->callback_error = std::current_exception();
      return -ECANCELED;  // stops ring_buffer__poll
    }
    return 0;
  }

  void Dispatch(const void* data, size_t size) {
    auto r = DecodeProcessRecord({static_cast<const uint8_t*>(data), size});
    if (!r) return;
    if (const auto* exec = std::get_if<ExecEvent>(&*r)) {
      if (on_exec && *on_exec) (*on_exec)(*exec);
    } else if (on_exit && *on_exit) {
      (*on_exit)(std::get<ExitEvent>(*r));
    }
  }
};

ProcessEvents::ProcessEvents() : impl_(std::make_unique<Impl>()) {}

ProcessEvents::~ProcessEvents() = default;

void ProcessEvents::Start() {
  if (impl_->started) throw Error("process events: already started");
  impl_->skel = proc_events_bpf__open();
  if (!impl_->skel) throw Error(fmt::format("opening the process-events BPF program: {}", std::strerror(errno)));
  if (int err = proc_events_bpf__load(impl_->skel))
    throw Error(fmt::format("loading the process-events BPF program: {}", std::strerror(-err)));
  // Stops registered before Start are in the map before the first exec is seen.
  for (const auto& [path, ids] : impl_->stops)
    for (const auto& id : ids) impl_->Insert(path, id);
  if (int err = proc_events_bpf__attach(impl_->skel))
    throw Error(fmt::format("attaching to sched_process_exec/sched_process_exit: {}", std::strerror(-err)));
  impl_->rb = ring_buffer__new(bpf_map__fd(impl_->skel->maps.events), &Impl::OnSample, impl_.get(), nullptr);
  if (!impl_->rb) throw Error(fmt::format("process events ring buffer: {}", std::strerror(errno)));
  impl_->started = true;
}

int ProcessEvents::Poll(int timeout_ms, const std::function<void(const ExecEvent&)>& on_exec,
                        const std::function<void(const ExitEvent&)>& on_exit) {
  if (!impl_->started) throw Error("process events: Poll before Start");
  impl_->on_exec = &on_exec;
  impl_->on_exit = &on_exit;
  int n = ring_buffer__poll(impl_->rb, timeout_ms);
  impl_->on_exec = nullptr;
  impl_->on_exit = nullptr;
  if (impl_->callback_error) std::rethrow_exception(std::exchange(impl_->callback_error, nullptr));
  if (n == -EINTR) return 0;
  if (n < 0) throw Error(fmt::format("process events: polling the ring buffer: {}", std::strerror(-n)));
  return n;
}

void ProcessEvents::StopOnExec(const std::string& path) {
  std::vector<KernelFileId> ids = KernelFileIds(path);
  if (impl_->started)
    for (const auto& id : ids) impl_->Insert(path, id);
  auto& mine = impl_->stops[path];
  for (const auto& id : ids)
    if (std::find(mine.begin(), mine.end(), id) == mine.end()) mine.push_back(id);
}

void ProcessEvents::ForgetStopOnExec(const std::string& path) {
  auto it = impl_->stops.find(path);
  if (it == impl_->stops.end()) return;
  std::vector<KernelFileId> ids = std::move(it->second);
  impl_->stops.erase(it);
  if (!impl_->started) return;
  for (const auto& id : ids) {
    if (impl_->WantedElsewhere(id)) continue;
    proc_file_key k = Impl::Key(id);
    bpf_map__delete_elem(impl_->skel->maps.stop_on_exec, &k, sizeof k, 0);
  }
}

uint64_t ProcessEvents::lost() const {
  if (!impl_->skel || !impl_->skel->bss) return 0;
  return __atomic_load_n(&impl_->skel->bss->events_lost, __ATOMIC_RELAXED);
}

}  // namespace goscope
