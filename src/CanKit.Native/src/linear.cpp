// y = x·Wᵀ + b, and the MLP's first layer fused with its GELU.
//
// On CPU in float32 the forward product and the input gradient run on oneDNN's matmul (the libdnnl libtorch itself
// links), the weight gradient on BLAS: measured on the ViT shapes of the reference step (2 cores, AVX2), oneDNN is
// 1.06–1.8× faster than OpenBLAS where the rows are many and the inner dimension small (x·Wᵀ, dy·W), and slower where
// the inner dimension is the batch (dyᵀ·x), so each product goes where it is faster. The bias gradient is a column
// sum of our own (AVX2, one pass, per-thread partial sums added in double).
//
// Linear + GELU (ck_linear_gelu, a ViT MLP's fc1 and its activation): the product h = x·Wᵀ + b is followed by one
// pass that writes a = GELU(h) and overwrites h with GELU′(h), the only thing the backward needs from it; the
// backward is then one pass dh = da·GELU′(h) that also sums dh's columns for the bias gradient. libtorch needs a
// GELU pass, a GELU-backward pass (erf and exp again) and a separate sum.
//
// Everything else (float64, bf16 autocast, CUDA, CPUs without AVX2, a build without oneDNN's headers) is libtorch's
// linear and gelu.
#include "common.h"
#include "rows.h"
#include "simd.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <vector>

#ifdef CANKIT_WITH_DNNL
#include <dnnl.hpp>
#endif

namespace {
std::atomic<bool> dnnl_enabled{true};
std::atomic<bool> linear_gelu_enabled{true};

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
#endif

bool use_dnnl() {
#ifdef CANKIT_WITH_DNNL
  return dnnl_enabled.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// x2·Wᵀ (+ b) for contiguous float32 x2 [m×k], W [n×k]: [m×n].
at::Tensor project(const at::Tensor& x2, const at::Tensor& w, const at::Tensor& b) {
  const int64_t m = x2.size(0), k = x2.size(1), n = w.size(0);
#ifdef CANKIT_WITH_DNNL
  if (use_dnnl() && m > 0 && n > 0 && k > 0) {
    at::Tensor y = at::empty({m, n}, x2.options());
    // Wᵀ [k×n]: element (p, j) is W[j, p], at p·1 + j·k.
    matmul(x2.data_ptr<float>(), m, k, k, w.data_ptr<float>(), n, 1, k, b.defined() ? b.data_ptr<float>() : nullptr,
           y.data_ptr<float>());
    return y;
  }
#endif
  return b.defined() ? at::addmm(b, x2, w.t()) : at::mm(x2, w.t());
}

// dy·W for contiguous dy [m×n], W [n×k]: [m×k].
at::Tensor project_back(const at::Tensor& dy, const at::Tensor& w) {
  const int64_t m = dy.size(0), n = dy.size(1), k = w.size(1);
#ifdef CANKIT_WITH_DNNL
  if (use_dnnl() && m > 0 && n > 0 && k > 0) {
    at::Tensor dx = at::empty({m, k}, dy.options());
    matmul(dy.data_ptr<float>(), m, n, n, w.data_ptr<float>(), k, k, 1, nullptr, dx.data_ptr<float>());
    return dx;
  }
#endif
  return at::mm(dy, w);
}

#ifdef CK_HAVE_AVX2_KERNEL
// block[j] = Σ_{r0 ≤ r < r1} d[r, j].
CK_AVX2 void sum_rows_avx2(const float* d, int64_t n, int64_t r0, int64_t r1, float* block) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 s = _mm256_setzero_ps();
    for (int64_t r = r0; r < r1; r++) s = _mm256_add_ps(s, _mm256_loadu_ps(d + r * n + j));
    _mm256_storeu_ps(block + j, s);
  }
  for (; j < n; j++) {
    float s = 0;
    for (int64_t r = r0; r < r1; r++) s += d[r * n + j];
    block[j] = s;
  }
}

// a = GELU(h) and h ← GELU′(h) (when grad is set; else h is left alone) for the flat elements [begin, end).
CK_AVX2 void gelu_forward_avx2(float* h, float* a, int64_t begin, int64_t end, bool grad) {
  const __m256 inv_sqrt_2pi = _mm256_set1_ps(0.398942280401432678f);
  for (int64_t i = begin; i < end; i += 8) {
    const int lanes = static_cast<int>(std::min<int64_t>(8, end - i));
    const __m256i mask = ck::tail_mask(lanes);
    const __m256 x = lanes == 8 ? _mm256_loadu_ps(h + i) : _mm256_maskload_ps(h + i, mask);
    __m256 gauss;
    const __m256 cdf = ck::normal_cdf(x, &gauss);
    const __m256 y = _mm256_mul_ps(x, cdf);
    if (lanes == 8) _mm256_storeu_ps(a + i, y);
    else _mm256_maskstore_ps(a + i, mask, y);
    if (grad) {
      const __m256 d = _mm256_fmadd_ps(_mm256_mul_ps(x, gauss), inv_sqrt_2pi, cdf);
      if (lanes == 8) _mm256_storeu_ps(h + i, d);
      else _mm256_maskstore_ps(h + i, mask, d);
    }
  }
}

// dh = da·GELU′(h) for rows [r0, r1) of [m×n], block[j] = Σ_r dh[r, j].
CK_AVX2 void gelu_backward_avx2(const float* da, const float* dgelu, float* dh, int64_t n, int64_t r0, int64_t r1, float* block) {
  for (int64_t j = 0; j < n; j += 8) {
    const int lanes = static_cast<int>(std::min<int64_t>(8, n - j));
    const __m256i mask = ck::tail_mask(lanes);
    __m256 s = _mm256_setzero_ps();
    for (int64_t r = r0; r < r1; r++) {
      const int64_t o = r * n + j;
      __m256 g;
      if (lanes == 8) {
        g = _mm256_mul_ps(_mm256_loadu_ps(da + o), _mm256_loadu_ps(dgelu + o));
        _mm256_storeu_ps(dh + o, g);
      } else {
        g = _mm256_mul_ps(_mm256_maskload_ps(da + o, mask), _mm256_maskload_ps(dgelu + o, mask));
        _mm256_maskstore_ps(dh + o, mask, g);
      }
      s = _mm256_add_ps(s, g);
    }
    if (lanes == 8) _mm256_storeu_ps(block + j, s);
    else _mm256_maskstore_ps(block + j, mask, s);
  }
}
#endif

// Bias gradient of a linear layer: dy's column sums ([m×n] → [n]).
at::Tensor bias_grad(const at::Tensor& dy) {
#ifdef CK_HAVE_AVX2_KERNEL
  if (dy.scalar_type() == at::kFloat && ck::cpu_has_avx2_fma() && dy.is_contiguous()) {
    const int64_t m = dy.size(0), n = dy.size(1);
    at::Tensor db = at::empty({n}, dy.options());
    const float* d = dy.data_ptr<float>();
    ck::column_sums(m, n, db.data_ptr<float>(), [&](int64_t r0, int64_t r1, float* block) { sum_rows_avx2(d, n, r0, r1, block); });
    return db;
  }
#endif
  return dy.sum(0);
}

// dW = dyᵀ·x [n×k] on BLAS for dy [m×n], x2 [m×k]. BLAS (column-major) runs either as C[k×n] (writing dW in place)
// or, for the transposed product xᵀ·dy, as C[n×k] (then one copy into dW's layout). On the step's shapes the second
// is 1.03–1.10× faster when n > k (qkv, fc1: 192 → 576/768, 128 → 384/512) and 0.93× when n < k (fc2), copy
// included, so the larger of the two sizes becomes BLAS's row count.
at::Tensor weight_grad(const at::Tensor& dy, const at::Tensor& x2) {
  if (dy.size(1) > x2.size(1)) return at::mm(x2.t(), dy).t().contiguous();
  return at::mm(dy.t(), x2);
}

// The input and weight gradients from dy [m×n] (contiguous), x2 [m×k], W [n×k]: dx on oneDNN, dW on BLAS.
void input_weight_grads(torch::autograd::AutogradContext* ctx, const at::Tensor& dy, const at::Tensor& x2, const at::Tensor& w,
                        const at::Tensor& grad, at::Tensor& dx, at::Tensor& dw) {
  if (ctx->needs_input_grad(0)) {
    dx = project_back(dy, w);
    auto shape = grad.sizes().vec();
    shape.back() = x2.size(1);
    dx = dx.view(shape);
  }
  if (ctx->needs_input_grad(1)) dw = weight_grad(dy, x2);
}

// y = x·Wᵀ (+ b) on oneDNN. Two autograd functions (with and without bias) because an undefined tensor cannot be an
// autograd input.
at::Tensor linear_forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
  at::Tensor wc = w.contiguous();
  at::Tensor y = project(x2, wc, b.defined() ? b.contiguous() : b);
  ctx->save_for_backward({x2, wc});
  auto shape = x.sizes().vec();
  shape.back() = wc.size(0);
  return y.view(shape);
}

torch::autograd::variable_list linear_backward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad, bool has_bias) {
  auto saved = ctx->get_saved_variables();
  const at::Tensor& x2 = saved[0];
  const at::Tensor& w = saved[1];
  at::Tensor dy = grad.reshape({x2.size(0), w.size(0)}).contiguous();
  at::Tensor dx, dw, db;
  input_weight_grads(ctx, dy, x2, w, grad, dx, dw);
  if (has_bias && ctx->needs_input_grad(2)) db = bias_grad(dy);
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

#ifdef CK_HAVE_AVX2_KERNEL
// a = GELU(x·Wᵀ + b); saved: x, W and GELU′(h) (in h's buffer).
at::Tensor linear_gelu_forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                               bool grad) {
  at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();
  at::Tensor wc = w.contiguous();
  at::Tensor h = project(x2, wc, b.defined() ? b.contiguous() : b);
  at::Tensor a = at::empty_like(h);
  float* hp = h.data_ptr<float>();
  float* ap = a.data_ptr<float>();
  at::parallel_for(0, (h.numel() + 7) / 8, 2048, [&](int64_t v0, int64_t v1) {
    gelu_forward_avx2(hp, ap, v0 * 8, std::min(h.numel(), v1 * 8), grad);
  });
  if (grad) ctx->save_for_backward({x2, wc, h});
  auto shape = x.sizes().vec();
  shape.back() = wc.size(0);
  return a.view(shape);
}

torch::autograd::variable_list linear_gelu_backward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad, bool has_bias) {
  auto saved = ctx->get_saved_variables();
  const at::Tensor& x2 = saved[0];
  const at::Tensor& w = saved[1];
  const at::Tensor& dgelu = saved[2];
  const int64_t m = x2.size(0), n = w.size(0);
  at::Tensor da = grad.reshape({m, n}).contiguous();
  at::Tensor dh = at::empty({m, n}, da.options());
  at::Tensor db = at::empty({n}, da.options());
  const float* dap = da.data_ptr<float>();
  const float* gp = dgelu.data_ptr<float>();
  float* dhp = dh.data_ptr<float>();
  ck::column_sums(m, n, db.data_ptr<float>(), [&](int64_t r0, int64_t r1, float* block) { gelu_backward_avx2(dap, gp, dhp, n, r0, r1, block); });
  at::Tensor dx, dw;
  input_weight_grads(ctx, dh, x2, w, grad, dx, dw);
  if (has_bias) return {dx, dw, ctx->needs_input_grad(2) ? db : at::Tensor()};
  return {dx, dw};
}

struct LinearGeluBias : public torch::autograd::Function<LinearGeluBias> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor w, at::Tensor b, bool grad) {
    return linear_gelu_forward(ctx, x, w, b, grad);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto g = linear_gelu_backward(ctx, grads[0], true);
    g.emplace_back();  // the bool
    return g;
  }
};

struct LinearGeluNoBias : public torch::autograd::Function<LinearGeluNoBias> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor w, bool grad) {
    return linear_gelu_forward(ctx, x, w, at::Tensor(), grad);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto g = linear_gelu_backward(ctx, grads[0], false);
    g.emplace_back();
    return g;
  }
};
#endif

// float32 CPU tensors of consistent shapes outside autocast: the cases our functions handle; anything else (including
// what libtorch reports as an error) goes to libtorch's linear.
bool float_cpu_linear(const at::Tensor& x, const at::Tensor& w, const ck::optional<at::Tensor>& b) {
  if (x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || !x.device().is_cpu() || !w.device().is_cpu()) return false;
  if (x.is_sparse() || w.is_sparse() || x.dim() < 1 || w.dim() != 2 || x.size(-1) != w.size(1)) return false;
  if (b.has_value() && b->defined() && (b->scalar_type() != at::kFloat || !b->device().is_cpu() || b->dim() != 1 || b->size(0) != w.size(0)))
    return false;
  if (ck::autocast_enabled(at::kCPU)) return false;  // autocast decides the dtype: libtorch's linear
  return true;
}

bool dnnl_applies(const at::Tensor& x, const at::Tensor& w, const ck::optional<at::Tensor>& b) {
  return use_dnnl() && float_cpu_linear(x, w, b);
}

at::Tensor cpu_linear(const at::Tensor& x, const at::Tensor& w, const ck::optional<at::Tensor>& b) {
  if (dnnl_applies(x, w, b))
    return b.has_value() && b->defined() ? DnnlLinearBias::apply(x, w, *b) : DnnlLinearNoBias::apply(x, w);
  return at::linear(x, w, b);
}

bool linear_gelu_applies(const at::Tensor& x, const at::Tensor& w, const ck::optional<at::Tensor>& b) {
  return linear_gelu_enabled.load(std::memory_order_relaxed) && ck::cpu_has_avx2_fma() && float_cpu_linear(x, w, b);
}
}  // namespace

CK_EXPORT ck_tensor ck_linear(ck_tensor x, ck_tensor w, ck_tensor b) {
  try {
    CK_RECORD("cankit::linear");
    return ck::wrap(cpu_linear(*x, *w, ck::opt(b)));
  }
  CK_CATCH(nullptr)
}

// GELU(x·Wᵀ + b) (exact, erf-based GELU): fused on float32 CPU tensors with AVX2, else libtorch's linear and gelu.
CK_EXPORT ck_tensor ck_linear_gelu(ck_tensor x, ck_tensor w, ck_tensor b) {
  try {
    CK_RECORD("cankit::linear_gelu");
    auto bias = ck::opt(b);
#ifdef CK_HAVE_AVX2_KERNEL
    if (linear_gelu_applies(*x, *w, bias)) {
      const bool has_bias = bias.has_value() && bias->defined();
      const bool grad = at::GradMode::is_enabled() && (x->requires_grad() || w->requires_grad() || (has_bias && bias->requires_grad()));
      return ck::wrap(has_bias ? LinearGeluBias::apply(*x, *w, *bias, grad) : LinearGeluNoBias::apply(*x, *w, grad));
    }
#endif
    return ck::wrap(at::gelu(cpu_linear(*x, *w, bias)));
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

// The fused Linear + GELU on (1) or off (0), or read (−1); returns the setting before the call, or −1 when this
// build or CPU has no AVX2 kernel for it.
CK_EXPORT int ck_set_linear_gelu(int on) {
  if (!ck::cpu_has_avx2_fma()) return -1;
  if (on < 0) return linear_gelu_enabled.load() ? 1 : 0;
  return linear_gelu_enabled.exchange(on != 0) ? 1 : 0;
}
