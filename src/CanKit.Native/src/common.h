// The one pattern every export follows: catch everything, report through one thread-local error slot.
// C ABI only: handles are opaque pointers, sizes are int64_t, booleans are int.
#pragma once
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/version.h>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <vector>

#define CK_EXPORT extern "C" __attribute__((visibility("default")))

// Names one of CanKit's own forward ops in libtorch's profiler (`cankit bench profile`, Torch.Profile), as libtorch
// names its aten:: ops; costs one flag check when no profiler runs.
#define CK_RECORD(name) RECORD_FUNCTION(name, c10::ArrayRef<const c10::IValue>{})

typedef at::Tensor* ck_tensor;
typedef at::Generator* ck_generator;

namespace ck {
// libtorch's optional: its own c10::optional up to 2.1, std::optional from 2.2 on (c10::optional became an alias
// there, then deprecated).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
template <class T>
using optional = std::optional<T>;
inline constexpr std::nullopt_t nullopt = std::nullopt;
#else
template <class T>
using optional = c10::optional<T>;
inline constexpr c10::nullopt_t nullopt = c10::nullopt;
#endif

// Whether an autocast region is open for this device type (autocast.cpp; the API moved in libtorch 2.4).
bool autocast_enabled(at::DeviceType t);

void set_error(const char* message);

// Tensor handles currently owned by the managed side (a leak detector for tests and long runs).
extern std::atomic<int64_t> live_handles;

// nullptr means "undefined tensor"; an error is reported separately through the error slot.
inline ck_tensor wrap(at::Tensor t) {
  if (!t.defined()) return nullptr;
  live_handles.fetch_add(1, std::memory_order_relaxed);
  return new at::Tensor(std::move(t));
}

inline at::IntArrayRef dims(const int64_t* p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

inline std::vector<at::Tensor> list(const ck_tensor* ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) v.push_back(*ts[i]);
  return v;
}

inline ck::optional<at::Tensor> opt(ck_tensor t) {
  if (t == nullptr) return ck::nullopt;
  return *t;
}

// Integer scalars stay integers so int64 tensors do not get promoted to float.
inline at::Scalar scalar(double v, int is_int) {
  if (is_int) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

// add/sub's alpha: libtorch rejects a floating alpha for integer tensors, so an integral value (the usual 1)
// travels as an integer scalar; that is exact and still accepted by floating tensors.
inline at::Scalar alpha(double v) {
  if (std::isfinite(v) && std::abs(v) <= 9.0e15 && v == std::trunc(v)) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

inline at::TensorOptions options(int dtype, int device_type, int device_index) {
  return at::TensorOptions()
      .dtype(static_cast<at::ScalarType>(dtype))
      .device(at::Device(static_cast<at::DeviceType>(device_type), static_cast<c10::DeviceIndex>(device_index)));
}

inline at::Generator* gen_or_null(ck_generator g) { return g; }
inline ck::optional<at::Generator> opt_gen(ck_generator g) {
  if (g == nullptr) return ck::nullopt;
  return *g;
}
}  // namespace ck

#define CK_CATCH(fail)                                                   \
  catch (const c10::Error& e) {                                          \
    ck::set_error(e.what_without_backtrace());                           \
    return fail;                                                         \
  }                                                                      \
  catch (const std::exception& e) {                                      \
    ck::set_error(e.what());                                             \
    return fail;                                                         \
  }                                                                      \
  catch (...) {                                                          \
    ck::set_error("unknown native exception");                           \
    return fail;                                                         \
  }

// Tensor-returning export: returns the new handle, or nullptr (undefined or error).
#define CK_TENSOR(expr) \
  try {                 \
    return ck::wrap(expr); \
  }                     \
  CK_CATCH(nullptr)

// Status-returning export: 0 on success, -1 on error.
#define CK_STATUS(stmts) \
  try {                  \
    stmts;               \
    return 0;            \
  }                      \
  CK_CATCH(-1)

// Writes two results (values, indices) into out[0], out[1].
#define CK_PAIR(expr)                 \
  try {                               \
    auto r = (expr);                  \
    out[0] = ck::wrap(std::get<0>(r)); \
    out[1] = ck::wrap(std::get<1>(r)); \
    return 0;                         \
  }                                   \
  CK_CATCH(-1)
