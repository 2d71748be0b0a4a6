#include "process/heap_buckets.h"

#include <cstring>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

constexpr uint64_t kMemProfile = 1;        // runtime.memProfile: the first bucketType
constexpr uint64_t kMaxStack = 1024;       // runtime.maxProfStackDepth (1.23+; 32 before)
constexpr size_t kMaxBuckets = 4 << 20;    // a list longer than this is not the runtime's
constexpr size_t kFutureCycles = 3;        // memRecord.future
constexpr uint64_t kUsualStack = 64;       // frames read with the header: one read for most buckets

uint64_t U64(const std::vector<uint8_t>& buf, uint64_t off) {
  uint64_t v;
  std::memcpy(&v, buf.data() + off, 8);
  return v;
}

}  // namespace

HeapBucketReader::HeapBucketReader(const RuntimeLayout& layout, uint64_t load_bias) {
  Sourced mbuckets = layout.get("runtime.mbuckets");
  std::string missing = layout.Fill({{"runtime.bucket#size", &header_},
                                     {"runtime.bucket.allnext", &allnext_},
                                     {"runtime.bucket.typ", &typ_},
                                     {"runtime.bucket.size", &size_},
                                     {"runtime.bucket.nstk", &nstk_},
                                     {"runtime.memRecordCycle#size", &cycle_},
                                     {"runtime.memRecordCycle.allocs", &allocs_},
                                     {"runtime.memRecordCycle.frees", &frees_},
                                     {"runtime.memRecord.active", &active_},
                                     {"runtime.memRecord.future", &future_}});
  if (!mbuckets.known()) missing += (missing.empty() ? "" : ", ") + std::string("runtime.mbuckets");
  if (!missing.empty())
    throw Error(fmt::format("cannot read Go's heap profile: runtime layout incomplete: {} unknown", missing));
  mbuckets_ = mbuckets.value + load_bias;
  has_bytes_ = layout.Fill({{"runtime.memRecordCycle.alloc_bytes", &alloc_bytes_},
                            {"runtime.memRecordCycle.free_bytes", &free_bytes_}})
                   .empty();
}

std::vector<HeapBucket> HeapBucketReader::Read(const ProcessMemory& mem) const {
  const pid_t pid = mem.pid();
  std::optional<uint64_t> next = mem.ReadU64(mbuckets_);
  if (!next) throw Error(fmt::format("process {}: cannot read runtime.mbuckets at {:#x}", pid, mbuckets_));
  const uint64_t record = future_ + kFutureCycles * cycle_;  // memRecord's size
  std::vector<uint8_t> buf;
  std::vector<HeapBucket> out;
  // Buckets are only ever added, at the head: a walk sees a consistent list.
  for (uint64_t at = *next; at; at = U64(buf, allnext_)) {
    if (out.size() >= kMaxBuckets)
      throw Error(fmt::format("process {}: runtime.mbuckets is longer than {} buckets", pid, kMaxBuckets));
    // One read for the header, the usual stack and the record; the bytes past
    // a short bucket are the next one's (buckets are carved from shared
    // blocks), unless it ends a mapping: then the header alone first.
    buf.resize(header_ + kUsualStack * 8 + record);
    if (!mem.Read(at, buf.data(), buf.size())) {
      buf.resize(header_);
      if (!mem.Read(at, buf.data(), buf.size()))
        throw Error(fmt::format("process {}: cannot read the heap profile's bucket at {:#x}", pid, at));
    }
    const uint64_t nstk = U64(buf, nstk_);
    if (U64(buf, typ_) != kMemProfile || nstk > kMaxStack)
      throw Error(fmt::format("process {}: {:#x} in runtime.mbuckets is not a memory-profile bucket (type {}, {} "
                              "frames)", pid, at, U64(buf, typ_), nstk));
    const uint64_t need = header_ + nstk * 8 + record;
    if (buf.size() < need) {
      buf.resize(need);
      if (!mem.Read(at, buf.data(), buf.size()))
        throw Error(fmt::format("process {}: cannot read the heap profile's bucket at {:#x}", pid, at));
    }
    HeapBucket b;
    b.addr = at;
    b.size = U64(buf, size_);
    b.stack.resize(nstk);
    if (nstk) std::memcpy(b.stack.data(), buf.data() + header_, nstk * 8);
    const uint64_t mr = header_ + nstk * 8;
    for (size_t c = 0; c <= kFutureCycles; c++) {
      const uint64_t cyc = mr + (c == 0 ? active_ : future_ + (c - 1) * cycle_);
      const uint64_t allocs = U64(buf, cyc + allocs_), frees = U64(buf, cyc + frees_);
      b.allocs += allocs;
      b.frees += frees;
      b.alloc_bytes += has_bytes_ ? U64(buf, cyc + alloc_bytes_) : allocs * b.size;
      b.free_bytes += has_bytes_ ? U64(buf, cyc + free_bytes_) : frees * b.size;
    }
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace goscope
