// Tensor lifecycle, creation, properties, raw data transfer and conversion.
#include "common.h"
#include <cstring>

std::atomic<int64_t> ck::live_handles{0};

CK_EXPORT void ck_tensor_free(ck_tensor t) {
  if (t == nullptr) return;
  ck::live_handles.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}
CK_EXPORT int64_t ck_live_handles() { return ck::live_handles.load(std::memory_order_relaxed); }

// ---- creation ------------------------------------------------------------------------------------------
CK_EXPORT ck_tensor ck_empty(const int64_t* shape, int ndim, int dtype, int dev, int idx) {
  CK_TENSOR(at::empty(ck::dims(shape, ndim), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_zeros(const int64_t* shape, int ndim, int dtype, int dev, int idx) {
  CK_TENSOR(at::zeros(ck::dims(shape, ndim), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_ones(const int64_t* shape, int ndim, int dtype, int dev, int idx) {
  CK_TENSOR(at::ones(ck::dims(shape, ndim), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_full(const int64_t* shape, int ndim, double value, int is_int, int dtype, int dev, int idx) {
  CK_TENSOR(at::full(ck::dims(shape, ndim), ck::scalar(value, is_int), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_arange(double start, double end, double step, int dtype, int dev, int idx) {
  CK_TENSOR(at::arange(at::Scalar(start), at::Scalar(end), at::Scalar(step), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_linspace(double start, double end, int64_t steps, int dtype, int dev, int idx) {
  CK_TENSOR(at::linspace(at::Scalar(start), at::Scalar(end), steps, ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_rand(const int64_t* shape, int ndim, ck_generator g, int dtype, int dev, int idx) {
  CK_TENSOR(at::rand(ck::dims(shape, ndim), ck::opt_gen(g), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_randn(const int64_t* shape, int ndim, ck_generator g, int dtype, int dev, int idx) {
  CK_TENSOR(at::randn(ck::dims(shape, ndim), ck::opt_gen(g), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_randint(int64_t low, int64_t high, const int64_t* shape, int ndim, ck_generator g, int dtype,
                               int dev, int idx) {
  CK_TENSOR(at::randint(low, high, ck::dims(shape, ndim), ck::opt_gen(g), ck::options(dtype, dev, idx)))
}
CK_EXPORT ck_tensor ck_randperm(int64_t n, ck_generator g, int dtype, int dev, int idx) {
  CK_TENSOR(at::randperm(n, ck::opt_gen(g), ck::options(dtype, dev, idx)))
}
// Copies `nbytes` from host memory into a new CPU tensor (the caller's buffer is not retained).
CK_EXPORT ck_tensor ck_from_buffer(const void* data, int64_t nbytes, const int64_t* shape, int ndim, int dtype) {
  try {
    auto t = at::empty(ck::dims(shape, ndim), at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)));
    int64_t expected = t.numel() * static_cast<int64_t>(t.element_size());
    TORCH_CHECK(expected == nbytes, "from_buffer: shape ", t.sizes(), " of ", t.scalar_type(), " needs ", expected,
                " bytes but ", nbytes, " were given");
    if (nbytes > 0) std::memcpy(t.data_ptr(), data, static_cast<size_t>(nbytes));
    return ck::wrap(t);
  }
  CK_CATCH(nullptr)
}
// Copies the tensor's elements (any device, any layout) into host memory as a contiguous row-major block.
CK_EXPORT int ck_copy_to_buffer(ck_tensor t, void* dst, int64_t nbytes) {
  CK_STATUS({
    auto c = t->detach().to(at::kCPU).contiguous();
    int64_t have = c.numel() * static_cast<int64_t>(c.element_size());
    TORCH_CHECK(have == nbytes, "copy_to_buffer: tensor holds ", have, " bytes but the buffer has ", nbytes);
    if (nbytes > 0) std::memcpy(dst, c.data_ptr(), static_cast<size_t>(nbytes));
  })
}

// ---- properties ----------------------------------------------------------------------------------------
CK_EXPORT int ck_ndim(ck_tensor t) { return static_cast<int>(t->dim()); }
// Writes sizes (or strides) into `out`, which has room for ck_ndim values.
CK_EXPORT void ck_sizes(ck_tensor t, int64_t* out) {
  auto s = t->sizes();
  for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
}
CK_EXPORT void ck_strides(ck_tensor t, int64_t* out) {
  auto s = t->strides();
  for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
}
CK_EXPORT int ck_dtype(ck_tensor t) { return static_cast<int>(t->scalar_type()); }
CK_EXPORT int ck_device_type(ck_tensor t) { return static_cast<int>(t->device().type()); }
CK_EXPORT int ck_device_index(ck_tensor t) { return static_cast<int>(t->device().index()); }
CK_EXPORT int64_t ck_numel(ck_tensor t) { return t->numel(); }
CK_EXPORT int ck_is_contiguous(ck_tensor t) { return t->is_contiguous() ? 1 : 0; }
CK_EXPORT int ck_requires_grad(ck_tensor t) { return t->requires_grad() ? 1 : 0; }
CK_EXPORT int ck_is_leaf(ck_tensor t) { return t->is_leaf() ? 1 : 0; }
CK_EXPORT int ck_set_requires_grad(ck_tensor t, int on) { CK_STATUS(t->set_requires_grad(on != 0)) }
CK_EXPORT double ck_item_double(ck_tensor t, int* status) {
  try {
    *status = 0;
    return t->item<double>();
  }
  catch (const c10::Error& e) { ck::set_error(e.what_without_backtrace()); }
  catch (const std::exception& e) { ck::set_error(e.what()); }
  catch (...) { ck::set_error("unknown native exception"); }
  *status = -1;
  return 0;
}
CK_EXPORT int64_t ck_item_long(ck_tensor t, int* status) {
  try {
    *status = 0;
    return t->item<int64_t>();
  }
  catch (const c10::Error& e) { ck::set_error(e.what_without_backtrace()); }
  catch (const std::exception& e) { ck::set_error(e.what()); }
  catch (...) { ck::set_error("unknown native exception"); }
  *status = -1;
  return 0;
}
// An identity that is a distinct handle (for moving results between scopes).
CK_EXPORT ck_tensor ck_alias(ck_tensor t) { CK_TENSOR(*t) }

// ---- conversion ----------------------------------------------------------------------------------------
CK_EXPORT ck_tensor ck_to(ck_tensor t, int dtype, int dev, int idx, int non_blocking, int copy) {
  CK_TENSOR(t->to(ck::options(dtype, dev, idx), non_blocking != 0, copy != 0))
}
CK_EXPORT ck_tensor ck_pin_memory(ck_tensor t) { CK_TENSOR(t->pin_memory()) }
CK_EXPORT ck_tensor ck_clone(ck_tensor t) { CK_TENSOR(t->clone()) }
CK_EXPORT ck_tensor ck_detach(ck_tensor t) { CK_TENSOR(t->detach()) }
CK_EXPORT ck_tensor ck_contiguous(ck_tensor t) { CK_TENSOR(t->contiguous()) }
CK_EXPORT int ck_copy_(ck_tensor dst, ck_tensor src, int non_blocking) { CK_STATUS(dst->copy_(*src, non_blocking != 0)) }
