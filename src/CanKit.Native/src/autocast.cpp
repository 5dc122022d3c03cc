// Automatic mixed precision (autocast) regions: eligible ops (matmul, linear, conv, …) run in a lower precision
// dtype while the rest stays float32. The API moved in libtorch 2.4 (per-device-type setters).
#include "common.h"
#include <ATen/autocast_mode.h>

namespace {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool enabled_now(at::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void enable(at::DeviceType t, bool on, at::ScalarType dtype) {
  at::autocast::set_autocast_enabled(t, on);
  if (on) at::autocast::set_autocast_dtype(t, dtype);
}
at::ScalarType dtype_of(at::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
#else
bool enabled_now(at::DeviceType t) { return t == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
void enable(at::DeviceType t, bool on, at::ScalarType dtype) {
  if (t == at::kCPU) {
    at::autocast::set_cpu_enabled(on);
    if (on) at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(on);
    if (on) at::autocast::set_autocast_gpu_dtype(dtype);
  }
}
at::ScalarType dtype_of(at::DeviceType t) {
  return t == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
#endif
}  // namespace

bool ck::autocast_enabled(at::DeviceType t) { return enabled_now(t); }

// Enters an autocast region for `device_type` (0 CPU, 1 CUDA) with `dtype`; writes the previous state to
// prev_enabled / prev_dtype so the managed scope can restore it.
CK_EXPORT int ck_autocast_enter(int device_type, int dtype, int* prev_enabled, int* prev_dtype) {
  CK_STATUS({
    auto t = static_cast<at::DeviceType>(device_type);
    *prev_enabled = enabled_now(t) ? 1 : 0;
    *prev_dtype = static_cast<int>(dtype_of(t));
    enable(t, true, static_cast<at::ScalarType>(dtype));
    at::autocast::increment_nesting();
  })
}

// Leaves the region: restores the previous state and, at the outermost level, drops cached casts.
CK_EXPORT int ck_autocast_exit(int device_type, int prev_enabled, int prev_dtype) {
  CK_STATUS({
    auto t = static_cast<at::DeviceType>(device_type);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    enable(t, prev_enabled != 0, static_cast<at::ScalarType>(prev_dtype));
  })
}
