// Process-wide runtime settings: threads, seeds, devices, generators.
#include "common.h"
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#ifdef CANKIT_WITH_CUDA_STATS
#include <c10/cuda/CUDACachingAllocator.h>
#endif

CK_EXPORT int ck_get_num_threads() { return at::get_num_threads(); }
CK_EXPORT int ck_set_num_threads(int n) { CK_STATUS(at::set_num_threads(n)) }
CK_EXPORT int ck_get_num_interop_threads() { return at::get_num_interop_threads(); }
CK_EXPORT int ck_set_num_interop_threads(int n) { CK_STATUS(at::set_num_interop_threads(n)) }
CK_EXPORT int ck_manual_seed(uint64_t seed) {
  CK_STATUS({
    at::manual_seed(seed);
  })
}
CK_EXPORT int ck_cuda_is_available() {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  }
  CK_CATCH(0)
}
CK_EXPORT int ck_cuda_device_count() {
  try {
    return static_cast<int>(torch::cuda::device_count());
  }
  CK_CATCH(0)
}
CK_EXPORT int ck_cuda_synchronize(int index) { CK_STATUS(torch::cuda::synchronize(index)) }

// Peak bytes allocated by tensors (out[0]) and reserved by libtorch's CUDA caching allocator (out[1]) on a device
// since the process started: 1, or 0 where this build has no CUDA allocator statistics (a CPU libtorch), -1 on error.
CK_EXPORT int ck_cuda_peak_memory(int device, int64_t* out) {
#ifdef CANKIT_WITH_CUDA_STATS
  try {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    out[0] = stats.allocated_bytes[0].peak;  // [0]: the aggregate over pool types
    out[1] = stats.reserved_bytes[0].peak;
    return 1;
  }
  CK_CATCH(-1)
#else
  (void)device;
  out[0] = out[1] = 0;
  return 0;
#endif
}
CK_EXPORT int ck_torch_version_major() { return TORCH_VERSION_MAJOR; }
CK_EXPORT int ck_torch_version_minor() { return TORCH_VERSION_MINOR; }
CK_EXPORT char* ck_parallel_info() {
  try {
    return strdup(at::get_parallel_info().c_str());
  }
  CK_CATCH(nullptr)
}

// ---- generators ----------------------------------------------------------------------------------------
// A private generator for `device`, seeded; same seed -> same stream (per device kind).
CK_EXPORT ck_generator ck_generator_new(int dev, int idx, uint64_t seed) {
  try {
    at::Device d(static_cast<at::DeviceType>(dev), static_cast<c10::DeviceIndex>(idx));
    auto g = at::globalContext().defaultGenerator(d).clone();
    {
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
    return new at::Generator(std::move(g));
  }
  CK_CATCH(nullptr)
}
CK_EXPORT void ck_generator_free(ck_generator g) { delete g; }
CK_EXPORT int ck_generator_set_seed(ck_generator g, uint64_t seed) {
  CK_STATUS({
    std::lock_guard<std::mutex> lock(g->mutex());
    g->set_current_seed(seed);
  })
}
// The full generator state as a uint8 tensor (for checkpoints), and its inverse.
CK_EXPORT ck_tensor ck_generator_get_state(ck_generator g) {
  try {
    std::lock_guard<std::mutex> lock(g->mutex());
    return ck::wrap(g->get_state());
  }
  CK_CATCH(nullptr)
}
CK_EXPORT int ck_generator_set_state(ck_generator g, ck_tensor state) {
  CK_STATUS({
    std::lock_guard<std::mutex> lock(g->mutex());
    g->set_state(*state);
  })
}
