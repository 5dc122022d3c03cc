// Layer norm over the last dimension, optionally fused with the residual add in front of it (a pre-norm transformer
// block's x + attn(…) followed by norm2): s = x + r, y = (s − μ)/σ · γ + β, both s and y returned.
//
// float32 on AVX2 CPUs with a weight and bias: each row is one pass in registers/L1 (the add, a two-pass mean and
// variance, the affine output), and the backward is one pass per row that also adds the gradient arriving at s
// through the skip connection and sums γ's and β's gradients (ck::column_sums). libtorch's path is an add, then
// layer_norm, and in the backward layer_norm's backward plus an add where the two gradients of s meet.
// Everything else (float64, bf16, CUDA, no affine parameters, several normalised dimensions) is libtorch's.
#include "common.h"
#include "rows.h"
#include "simd.h"

#include <torch/csrc/autograd/custom_function.h>

#include <atomic>

namespace {
std::atomic<bool> fused_enabled{true};

#ifdef CK_HAVE_AVX2_KERNEL
CK_AVX2 inline __m256 load(const float* p, int lanes, __m256i mask) {
  return lanes == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}
CK_AVX2 inline void store(float* p, __m256 v, int lanes, __m256i mask) {
  if (lanes == 8) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, mask, v);
}

// Rows [r0, r1) of [rows × d]: s = x (+ r), stored when s_out is set; y = (s − μ)·rstd·γ + β; μ and rstd saved.
CK_AVX2 void forward_rows(const float* x, const float* r, const float* gamma, const float* beta, float* s_out, float* y, float* mean,
                          float* rstd, int64_t d, float eps, int64_t r0, int64_t r1) {
  const __m256i tail = ck::tail_mask(static_cast<int>(d % 8));
  const float inv_d = 1.0f / static_cast<float>(d);
  for (int64_t row = r0; row < r1; row++) {
    const int64_t o = row * d;
    const float* src = x + o;
    if (r != nullptr) {
      for (int64_t j = 0; j < d; j += 8) {
        const int lanes = static_cast<int>(std::min<int64_t>(8, d - j));
        store(s_out + o + j, _mm256_add_ps(load(x + o + j, lanes, tail), load(r + o + j, lanes, tail)), lanes, tail);
      }
      src = s_out + o;
    }
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < d; j += 8) acc = _mm256_add_ps(acc, load(src + j, static_cast<int>(std::min<int64_t>(8, d - j)), tail));
    const float mu = ck::hsum(acc) * inv_d;
    const __m256 vmu = _mm256_set1_ps(mu);
    acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < d; j += 8) {
      const int lanes = static_cast<int>(std::min<int64_t>(8, d - j));
      const __m256 c = _mm256_sub_ps(load(src + j, lanes, tail), vmu);
      acc = _mm256_fmadd_ps(lanes == 8 ? c : _mm256_and_ps(c, _mm256_castsi256_ps(tail)), c, acc);
    }
    const float rs = 1.0f / std::sqrt(ck::hsum(acc) * inv_d + eps);
    const __m256 vrs = _mm256_set1_ps(rs);
    for (int64_t j = 0; j < d; j += 8) {
      const int lanes = static_cast<int>(std::min<int64_t>(8, d - j));
      const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(load(src + j, lanes, tail), vmu), vrs);
      store(y + o + j, _mm256_fmadd_ps(xhat, load(gamma + j, lanes, tail), load(beta + j, lanes, tail)), lanes, tail);
    }
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// Rows [r0, r1): with g = dy·γ and x̂ = (s − μ)·rstd, ds = rstd·(g − mean(g) − x̂·mean(g·x̂)) (+ ds_skip); block[0, d)
// gets Σ dy·x̂ (γ's gradient) and block[d, 2d) Σ dy (β's).
CK_AVX2 void backward_rows(const float* dy, const float* ds_skip, const float* s, const float* gamma, const float* mean, const float* rstd,
                           float* ds, int64_t d, int64_t r0, int64_t r1, float* block) {
  const __m256i tail = ck::tail_mask(static_cast<int>(d % 8));
  const float inv_d = 1.0f / static_cast<float>(d);
  std::fill(block, block + 2 * d, 0.0f);
  for (int64_t row = r0; row < r1; row++) {
    const int64_t o = row * d;
    const __m256 vmu = _mm256_set1_ps(mean[row]), vrs = _mm256_set1_ps(rstd[row]);
    __m256 sum_g = _mm256_setzero_ps(), sum_gx = _mm256_setzero_ps();
    for (int64_t j = 0; j < d; j += 8) {
      const int lanes = static_cast<int>(std::min<int64_t>(8, d - j));
      const __m256 dyv = load(dy + o + j, lanes, tail);
      const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(load(s + o + j, lanes, tail), vmu), vrs);
      const __m256 g = _mm256_mul_ps(dyv, load(gamma + j, lanes, tail));  // masked lanes are 0
      sum_g = _mm256_add_ps(sum_g, g);
      sum_gx = _mm256_fmadd_ps(g, xhat, sum_gx);
      store(block + j, _mm256_fmadd_ps(dyv, xhat, load(block + j, lanes, tail)), lanes, tail);
      store(block + d + j, _mm256_add_ps(dyv, load(block + d + j, lanes, tail)), lanes, tail);
    }
    const __m256 c1 = _mm256_set1_ps(ck::hsum(sum_g) * inv_d), c2 = _mm256_set1_ps(ck::hsum(sum_gx) * inv_d);
    for (int64_t j = 0; j < d; j += 8) {
      const int lanes = static_cast<int>(std::min<int64_t>(8, d - j));
      const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(load(s + o + j, lanes, tail), vmu), vrs);
      const __m256 g = _mm256_mul_ps(load(dy + o + j, lanes, tail), load(gamma + j, lanes, tail));
      __m256 v = _mm256_mul_ps(vrs, _mm256_sub_ps(_mm256_sub_ps(g, c1), _mm256_mul_ps(xhat, c2)));
      if (ds_skip != nullptr) v = _mm256_add_ps(v, load(ds_skip + o + j, lanes, tail));
      store(ds + o + j, v, lanes, tail);
    }
  }
}

constexpr int64_t kRowGrain = 32;

// Shared by the two autograd functions: returns {s, y} (s undefined without a residual) and saves what the backward
// needs: the normalised input (s, or x itself), γ, μ and rstd.
torch::autograd::variable_list ln_forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& r_in,
                                       const at::Tensor& w_in, const at::Tensor& b_in, double eps) {
  at::Tensor x = x_in.contiguous(), w = w_in.contiguous(), b = b_in.contiguous();
  at::Tensor r = r_in.defined() ? r_in.contiguous() : r_in;
  const int64_t d = x.size(-1), rows = d == 0 ? 0 : x.numel() / d;
  at::Tensor s = r.defined() ? at::empty_like(x) : at::Tensor();
  at::Tensor y = at::empty_like(x);
  at::Tensor mean = at::empty({rows}, x.options()), rstd = at::empty({rows}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* rp = r.defined() ? r.data_ptr<float>() : nullptr;
  float* sp = s.defined() ? s.data_ptr<float>() : nullptr;
  at::parallel_for(0, rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    forward_rows(xp, rp, w.data_ptr<float>(), b.data_ptr<float>(), sp, y.data_ptr<float>(), mean.data_ptr<float>(), rstd.data_ptr<float>(), d,
                 static_cast<float>(eps), r0, r1);
  });
  ctx->save_for_backward({s.defined() ? s : x, w, mean, rstd});
  return {s, y};
}

// grads: {ds (through the skip; may be undefined), dy}. Returns dx (= dr), γ's and β's gradients.
std::tuple<at::Tensor, at::Tensor, at::Tensor> ln_backward(torch::autograd::AutogradContext* ctx, const at::Tensor& ds_skip_in,
                                                        const at::Tensor& dy_in) {
  auto saved = ctx->get_saved_variables();
  const at::Tensor& s = saved[0];
  const at::Tensor& w = saved[1];
  const int64_t d = s.size(-1), rows = d == 0 ? 0 : s.numel() / d;
  at::Tensor dy = dy_in.defined() ? dy_in.contiguous() : at::zeros_like(s);
  at::Tensor ds_skip = ds_skip_in.defined() ? ds_skip_in.contiguous() : ds_skip_in;
  at::Tensor ds = at::empty_like(s);
  at::Tensor wb = at::empty({2 * d}, s.options());
  const float* dyp = dy.data_ptr<float>();
  const float* skp = ds_skip.defined() ? ds_skip.data_ptr<float>() : nullptr;
  const float* sp = s.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* mp = saved[2].data_ptr<float>();
  const float* rp = saved[3].data_ptr<float>();
  float* dsp = ds.data_ptr<float>();
  ck::column_sums(rows, 2 * d, wb.data_ptr<float>(),
                  [&](int64_t r0, int64_t r1, float* block) { backward_rows(dyp, skp, sp, wp, mp, rp, dsp, d, r0, r1, block); });
  return {ds, wb.narrow(0, 0, d).view(w.sizes()), wb.narrow(0, d, d).view(w.sizes())};
}

struct AddLayerNorm : public torch::autograd::Function<AddLayerNorm> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor r, at::Tensor w,
                                                at::Tensor b, double eps) {
    return ln_forward(ctx, x, r, w, b, eps);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto [ds, dw, db] = ln_backward(ctx, grads[0], grads[1]);
    return {ds, ds, dw, db, at::Tensor()};
  }
};

struct LayerNorm : public torch::autograd::Function<LayerNorm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor w, at::Tensor b, double eps) {
    return ln_forward(ctx, x, at::Tensor(), w, b, eps)[1];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto [dx, dw, db] = ln_backward(ctx, at::Tensor(), grads[0]);
    return {dx, dw, db, at::Tensor()};
  }
};
#endif

// The fused path: float32 CPU, AVX2, normalised over the last dimension only, with a weight and a bias of that size
// (and a residual of x's exact shape). Anything else, including what libtorch reports as an error, goes to libtorch.
bool applies(const at::Tensor& x, at::IntArrayRef shape, const ck::optional<at::Tensor>& w, const ck::optional<at::Tensor>& b,
             const at::Tensor* r) {
  if (!fused_enabled.load(std::memory_order_relaxed) || !ck::cpu_has_avx2_fma()) return false;
  if (x.scalar_type() != at::kFloat || !x.device().is_cpu() || x.is_sparse() || x.dim() < 1) return false;
  if (shape.size() != 1 || shape[0] != x.size(-1) || x.size(-1) == 0) return false;
  for (const auto* p : {&w, &b})
    if (!p->has_value() || !(*p)->defined() || (*p)->scalar_type() != at::kFloat || !(*p)->device().is_cpu() || (*p)->dim() != 1 ||
        (*p)->size(0) != x.size(-1))
      return false;
  if (r != nullptr && (r->scalar_type() != at::kFloat || !r->device().is_cpu() || r->sizes() != x.sizes() || r->is_sparse())) return false;
  return true;
}
}  // namespace

CK_EXPORT ck_tensor ck_layer_norm(ck_tensor x, const int64_t* shape, int n, ck_tensor w, ck_tensor b, double eps) {
  try {
    CK_RECORD("cankit::layer_norm");
#ifdef CK_HAVE_AVX2_KERNEL
    if (applies(*x, ck::dims(shape, n), ck::opt(w), ck::opt(b), nullptr)) return ck::wrap(LayerNorm::apply(*x, *w, *b, eps));
#endif
    return ck::wrap(at::layer_norm(*x, ck::dims(shape, n), ck::opt(w), ck::opt(b), eps, true));
  }
  CK_CATCH(nullptr)
}

// s = x + r and y = layer_norm(s) in one op: out[0] = s, out[1] = y.
CK_EXPORT int ck_add_layer_norm(ck_tensor x, ck_tensor r, const int64_t* shape, int n, ck_tensor w, ck_tensor b, double eps,
                                ck_tensor* out) {
  try {
    CK_RECORD("cankit::add_layer_norm");
#ifdef CK_HAVE_AVX2_KERNEL
    if (applies(*x, ck::dims(shape, n), ck::opt(w), ck::opt(b), r)) {
      auto sy = AddLayerNorm::apply(*x, *r, *w, *b, eps);
      out[0] = ck::wrap(sy[0]);
      out[1] = ck::wrap(sy[1]);
      return 0;
    }
#endif
    at::Tensor s = *x + *r;
    at::Tensor y = at::layer_norm(s, ck::dims(shape, n), ck::opt(w), ck::opt(b), eps, true);
    out[0] = ck::wrap(s);
    out[1] = ck::wrap(y);
    return 0;
  }
  CK_CATCH(-1)
}

// The fused layer norm on (1) or off (0), or read (−1); returns the setting before the call, or −1 when this build or
// CPU has no AVX2 kernel for it.
CK_EXPORT int ck_set_fused_layer_norm(int on) {
  if (!ck::cpu_has_avx2_fma()) return -1;
  if (on < 0) return fused_enabled.load() ? 1 : 0;
  return fused_enabled.exchange(on != 0) ? 1 : 0;
}
