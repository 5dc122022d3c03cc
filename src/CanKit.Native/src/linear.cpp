// y = x·Wᵀ + b. On CPU in float32 the forward product and the input gradient run on oneDNN's matmul (the
// libdnnl libtorch itself links), the weight gradient on BLAS: measured on the ViT shapes of the reference step
// (2 cores, AVX2), oneDNN is 1.06–1.8× faster than OpenBLAS where the rows are many and the inner dimension small
// (x·Wᵀ, dy·W), and slower where the inner dimension is the batch (dyᵀ·x), so each product goes where it is
// faster. Everything else (float64, bf16 autocast, CUDA, a build without oneDNN's headers) is libtorch's linear.
#include "common.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>

#ifdef CANKIT_WITH_DNNL
#include <dnnl.hpp>
#endif

namespace {
std::atomic<bool> dnnl_enabled{true};

#ifdef CANKIT_WITH_DNNL
dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// C[m×n] (row stride ldc) = A[m×k] · B[k×n] (+ bias[n]); B given by its strides, so Wᵀ is W read column-wise.
// oneDNN caches the compiled primitive per shape/stride set, so repeated steps reuse it.
void matmul(const float* a, int64_t m, int64_t k, int64_t lda, const float* b, int64_t n, int64_t b_row_stride,
            int64_t b_col_stride, const float* bias, float* c) {
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc a_md({m, k}, dt::f32, dnnl::memory::dims{lda, 1});
  dnnl::memory::desc b_md({k, n}, dt::f32, dnnl::memory::dims{b_row_stride, b_col_stride});
  dnnl::memory::desc c_md({m, n}, dt::f32, dnnl::memory::dims{n, 1});
  auto& eng = cpu_engine();
  dnnl::matmul::primitive_desc pd;
  dnnl::memory::desc bias_md({1, n}, dt::f32, dnnl::memory::dims{n, 1});
#if DNNL_VERSION_MAJOR >= 3
  pd = bias != nullptr ? dnnl::matmul::primitive_desc(eng, a_md, b_md, bias_md, c_md) : dnnl::matmul::primitive_desc(eng, a_md, b_md, c_md);
#else
  pd = bias != nullptr ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, bias_md, c_md), eng)
                       : dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), eng);
#endif
  dnnl::matmul prim(pd);
  dnnl::stream s(eng);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(a_md, eng, const_cast<float*>(a))},
      {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, eng, const_cast<float*>(b))},
      {DNNL_ARG_DST, dnnl::memory(c_md, eng, c)}};
  if (bias != nullptr) args.insert({DNNL_ARG_BIAS, dnnl::memory(pd.bias_desc(), eng, const_cast<float*>(bias))});
  prim.execute(s, args);
  s.wait();
}

// y = x·Wᵀ (+ b): the forward and input gradient on oneDNN, the weight gradient on BLAS. Two autograd functions
// (with and without bias) because an undefined tensor cannot be an autograd input.
at::Tensor linear_forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
  at::Tensor wc = w.contiguous();
  const int64_t m = x2.size(0), k = x2.size(1), n = wc.size(0);
  at::Tensor y = at::empty({m, n}, x.options());
  at::Tensor bc = b.defined() ? b.contiguous() : b;
  if (m > 0 && n > 0) {
    if (k == 0) {
      y.zero_();
      if (bc.defined()) y.add_(bc);
    } else {
      // Wᵀ [k×n]: element (p, j) is W[j, p], at p·1 + j·k.
      matmul(x2.data_ptr<float>(), m, k, k, wc.data_ptr<float>(), n, 1, k, bc.defined() ? bc.data_ptr<float>() : nullptr,
             y.data_ptr<float>());
    }
  }
  ctx->save_for_backward({x2, wc});
  auto shape = x.sizes().vec();
  shape.back() = n;
  return y.view(shape);
}

torch::autograd::variable_list linear_backward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad, bool has_bias) {
  auto saved = ctx->get_saved_variables();
  const at::Tensor& x2 = saved[0];
  const at::Tensor& w = saved[1];
  const int64_t m = x2.size(0), k = x2.size(1), n = w.size(0);
  at::Tensor dy = grad.reshape({m, n}).contiguous();
  at::Tensor dx, dw, db;
  if (ctx->needs_input_grad(0)) {
    dx = at::empty({m, k}, dy.options());
    if (m > 0 && k > 0) {
      if (n == 0) dx.zero_();
      else matmul(dy.data_ptr<float>(), m, n, n, w.data_ptr<float>(), k, k, 1, nullptr, dx.data_ptr<float>());  // dy·W
    }
    auto shape = grad.sizes().vec();
    shape.back() = k;
    dx = dx.view(shape);
  }
  if (ctx->needs_input_grad(1)) dw = at::mm(dy.t(), x2);  // dyᵀ·x on BLAS
  if (has_bias && ctx->needs_input_grad(2)) db = dy.sum(0);
  if (has_bias) return {dx, dw, db};
  return {dx, dw};
}

struct DnnlLinearBias : public torch::autograd::Function<DnnlLinearBias> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor w, at::Tensor b) {
    return linear_forward(ctx, x, w, b);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    return linear_backward(ctx, grads[0], true);
  }
};

struct DnnlLinearNoBias : public torch::autograd::Function<DnnlLinearNoBias> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor w) {
    return linear_forward(ctx, x, w, at::Tensor());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    return linear_backward(ctx, grads[0], false);
  }
};

bool dnnl_applies(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b) {
  if (!dnnl_enabled.load(std::memory_order_relaxed)) return false;
  if (x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || !x.device().is_cpu() || !w.device().is_cpu()) return false;
  if (x.is_sparse() || w.is_sparse() || x.dim() < 1 || w.dim() != 2 || x.size(-1) != w.size(1)) return false;  // libtorch reports those
  if (b.has_value() && b->defined() && (b->scalar_type() != at::kFloat || !b->device().is_cpu() || b->dim() != 1 || b->size(0) != w.size(0)))
    return false;
  if (at::autocast::is_cpu_enabled()) return false;  // autocast decides the dtype: libtorch's linear
  return true;
}
#endif
}  // namespace

CK_EXPORT ck_tensor ck_linear(ck_tensor x, ck_tensor w, ck_tensor b) {
  try {
#ifdef CANKIT_WITH_DNNL
    if (dnnl_applies(*x, *w, ck::opt(b)))
      return ck::wrap(b != nullptr && b->defined() ? DnnlLinearBias::apply(*x, *w, *b) : DnnlLinearNoBias::apply(*x, *w));
#endif
    return ck::wrap(at::linear(*x, *w, ck::opt(b)));
  }
  CK_CATCH(nullptr)
}

// oneDNN for float32 CPU linear layers on (1) or off (0), or read (−1); returns the setting before the call, or
// −1 when the native layer was built without oneDNN.
CK_EXPORT int ck_set_dnnl_linear(int on) {
#ifdef CANKIT_WITH_DNNL
  if (on < 0) return dnnl_enabled.load() ? 1 : 0;
  return dnnl_enabled.exchange(on != 0) ? 1 : 0;
#else
  return -1;
#endif
}
