// A caching CPU allocator for libtorch, installed when the native layer loads.
//
// A training step allocates and frees the same large activation buffers every step. Through glibc malloc those
// come back as freshly mapped pages each time (large blocks are mmap'ed and unmapped, the heap top is trimmed), and
// the kernel's page faults and zeroing then cost more than the elementwise ops that write them: on the reference
// CAN step, ~70 000 minor faults and a third of the CPU time in the kernel. This allocator keeps freed blocks of
// 64 KiB and more and hands them out again for requests of (nearly) the same size, so steady-state steps touch no
// new pages. Smaller blocks are allocated and freed directly.
//
// The cache is bounded: freed blocks beyond the limit (default a quarter of physical memory, at most 4 GiB;
// CANKIT_CPU_CACHE_MB overrides it) are returned to the system at once. CANKIT_CPU_ALLOCATOR=system keeps
// libtorch's default allocator. ck_cpu_allocator_empty_cache releases everything cached.
#include "common.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

// c10::Allocator's interface changed across libtorch releases: allocate() is const up to 2.2 and not from 2.3 on,
// where copy_data() is also required. 2.2 (in between) keeps libtorch's own allocator.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define CK_ALLOCATOR_NONCONST 1
#elif TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR == 2
#define CK_ALLOCATOR_UNSUPPORTED 1
#endif

namespace {
constexpr size_t kMinCached = 64 << 10;  // smaller blocks are not cached
constexpr size_t kHeader = 64;           // keeps the data 64-byte aligned; holds the block size
constexpr size_t kRound = 4096;

struct Stats {
  int64_t cached_bytes = 0, in_use_bytes = 0, hits = 0, misses = 0;
};

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(size_t limit) : limit_(limit) {}

#if defined(CK_ALLOCATOR_NONCONST)
  c10::DataPtr allocate(size_t n) override { return take(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#elif !defined(CK_ALLOCATOR_UNSUPPORTED)
  c10::DataPtr allocate(size_t n) const override { return const_cast<CachingCpuAllocator*>(this)->take(n); }
#endif

  // Every block carries its size in a header just before the data, so data and context are the same pointer
  // (what libtorch's raw_allocate/raw_deallocate, used by oneDNN, require).
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void empty() {
    std::multimap<size_t, void*> drop;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      drop.swap(free_);
      stats_.cached_bytes = 0;
    }
    for (auto& [size, base] : drop) c10::free_cpu(base);
  }

  // Off: every block is allocated fresh and freed at once, as with the default allocator (benchmarks compare both).
  bool set_caching(bool on) {
    bool old = caching_.exchange(on);
    if (!on) empty();
    return old;
  }
  bool caching() const { return caching_.load(); }

  static void release(void* data) { instance->give_back(static_cast<char*>(data) - kHeader); }

  static CachingCpuAllocator* instance;

 private:
  c10::DataPtr take(size_t n) {
    if (n < kMinCached || !caching_.load(std::memory_order_relaxed)) return wrap(fresh(n), n < kMinCached ? n : 0);
    size_t want = (n + kRound - 1) / kRound * kRound;
    void* base = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Best fit, wasting at most a quarter of the block.
      auto it = free_.lower_bound(want);
      if (it != free_.end() && it->first <= want + want / 4) {
        base = it->second;
        want = it->first;
        free_.erase(it);
        stats_.cached_bytes -= static_cast<int64_t>(want);
        stats_.hits++;
      } else {
        stats_.misses++;
      }
      stats_.in_use_bytes += static_cast<int64_t>(want);
    }
    if (base == nullptr) {
      try {
        base = fresh(want);
      } catch (...) {
        // Out of memory with blocks cached: give them back and try once more.
        empty();
        try {
          base = fresh(want);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          stats_.in_use_bytes -= static_cast<int64_t>(want);
          throw;
        }
      }
    }
    return wrap(base, want);
  }

  static void* fresh(size_t size) { return c10::alloc_cpu(size + kHeader); }

  static c10::DataPtr wrap(void* base, size_t size) {
    *static_cast<size_t*>(base) = size;
    void* data = static_cast<char*>(base) + kHeader;
    return {data, data, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }

  void give_back(void* base) {
    size_t size = *static_cast<size_t*>(base);
    if (size < kMinCached) {  // small, or allocated while caching was off (size 0)
      c10::free_cpu(base);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.in_use_bytes -= static_cast<int64_t>(size);
      if (static_cast<size_t>(stats_.cached_bytes) + size <= limit_) {
        free_.emplace(size, base);
        stats_.cached_bytes += static_cast<int64_t>(size);
        return;
      }
    }
    c10::free_cpu(base);
  }

  const size_t limit_;
  std::atomic<bool> caching_{true};
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  Stats stats_;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

size_t default_limit() {
  if (const char* mb = std::getenv("CANKIT_CPU_CACHE_MB")) {
    char* end = nullptr;
    long long v = std::strtoll(mb, &end, 10);
    if (end != mb && *end == '\0' && v >= 0) return static_cast<size_t>(v) << 20;
  }
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  size_t quarter = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : size_t(1) << 30;
  return std::min(quarter, size_t(4) << 30);
}

// Installed once when the library loads, before any tensor exists. Never destroyed: tensors freed during process
// exit still return their blocks to it.
bool install() {
#if defined(CK_ALLOCATOR_UNSUPPORTED)
  return false;
#else
  const char* mode = std::getenv("CANKIT_CPU_ALLOCATOR");
  if (mode != nullptr && std::string(mode) == "system") return false;
  CachingCpuAllocator::instance = new CachingCpuAllocator(default_limit());
  c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/1);
  return true;
#endif
}

const bool installed = install();
}  // namespace

// out[0..4]: 1 when installed, bytes cached (free), bytes in use through the cache, cache hits, misses.
CK_EXPORT int ck_cpu_allocator_stats(int64_t* out) {
  CK_STATUS({
    out[0] = installed ? 1 : 0;
    Stats s = installed ? CachingCpuAllocator::instance->stats() : Stats{};
    out[1] = s.cached_bytes;
    out[2] = s.in_use_bytes;
    out[3] = s.hits;
    out[4] = s.misses;
  })
}

// Turns reuse on (1) or off (0), or reads the setting (−1); returns the setting before the call, or −1 when the
// caching allocator is not installed.
CK_EXPORT int ck_cpu_allocator_caching(int on) {
  if (!installed) return -1;
  if (on < 0) return CachingCpuAllocator::instance->caching() ? 1 : 0;
  return CachingCpuAllocator::instance->set_caching(on != 0) ? 1 : 0;
}

// Returns every cached block to the system.
CK_EXPORT int ck_cpu_allocator_empty_cache() {
  CK_STATUS({
    if (installed) CachingCpuAllocator::instance->empty();
  })
}
