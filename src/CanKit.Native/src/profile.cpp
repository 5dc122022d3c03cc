// libtorch's operator profiler for the calling thread (and the autograd work it drives): a Chrome trace file.
#include "common.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <memory>
#include <mutex>

namespace {
std::mutex profile_mutex;
std::unique_ptr<torch::autograd::profiler::RecordProfile> active;
}  // namespace

// Starts recording every libtorch op to `path` (Chrome trace JSON, written when profiling stops).
CK_EXPORT int ck_profile_begin(const char* path) {
  CK_STATUS({
    std::lock_guard<std::mutex> lock(profile_mutex);
    TORCH_CHECK(!active, "profiler: a profile is already being recorded");
    TORCH_CHECK(path != nullptr && *path, "profiler: no output path");
    active = std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(path));
  })
}

// Stops recording and writes the trace.
CK_EXPORT int ck_profile_end() {
  CK_STATUS({
    std::lock_guard<std::mutex> lock(profile_mutex);
    TORCH_CHECK(active, "profiler: no profile is being recorded");
    active.reset();
  })
}
