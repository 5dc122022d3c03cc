// Multi-head self-attention straight from a ViT block's packed qkv projection, [N, L, 3·D] → [N, L, D].
//
// On CPU (float32/float64) it runs as one fused autograd function that reads q, k and v in place through their row
// stride (no permute, no contiguous copies, no head transpose on the way out) and spreads the (image, head) pairs
// over the intra-op threads. float32 on AVX2/FMA CPUs: each pair runs start to finish on one thread with our
// micro-kernel and an AVX2 softmax, its scores staying in cache. Otherwise (float64, no AVX2, long sequences) each
// product is a BLAS call and softmax and its backward are libtorch's kernels over all pairs at once. libtorch
// 1.13's CPU bmm runs such small batched products one after another on one thread through per-slice mm calls.
// Anywhere else (CUDA, bf16/fp16, or a libtorch whose BLAS symbols are not visible) the same function is composed
// from libtorch ops: scaled_dot_product_attention, fused on CUDA from libtorch 2.0 on.
#include "common.h"
#include "simd.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <cstring>
#include <type_traits>
#include <vector>

// The reference BLAS interface of the library libtorch itself links (OpenBLAS on Debian). Weak: a libtorch that
// does not expose them (static MKL builds) leaves these null and the composed path runs instead.
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha, const float* a,
            const int* lda, const float* b, const int* ldb, const float* beta, float* c, const int* ldc) __attribute__((weak));
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha, const double* a,
            const int* lda, const double* b, const int* ldb, const double* beta, double* c, const int* ldc)
    __attribute__((weak));
}

namespace {
std::atomic<bool> fused_enabled{true};

// Row-major C[m×n] = alpha·op(A)·op(B) + beta·C through column-major BLAS: Cᵀ = op(B)ᵀ·op(A)ᵀ.
inline void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                 float beta, float* c, int ldc) {
  const char sa = ta ? 'T' : 'N', sb = tb ? 'T' : 'N';
  sgemm_(&sb, &sa, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
}
inline void gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
                 double beta, double* c, int ldc) {
  const char sa = ta ? 'T' : 'N', sb = tb ? 'T' : 'N';
  dgemm_(&sb, &sa, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
}

// Small products in float32 on AVX2/FMA CPUs: C[m×n] = alpha · A·B with A(i, p) = a[i·ai + p·ap] (so Aᵀ costs
// nothing) and B row-major with row stride ldb. Tiles of 6 rows × 16 columns are accumulated in 12 registers while p
// runs over k (6 broadcasts and 2 loads per 12 FMAs, more accumulators than the FMA latency needs), so B's rows stream
// from L1 and the FMA units stay busy; BLAS call overhead dominates at these sizes (a 32×32×64 product is ~130 kFLOP).
// Edges are tiles too: the last 1–5 rows get a 1–5-row tile, the last 1–15 columns a masked 8- or 16-column one
// (masked loads never touch memory past column n); with a class token the sequence lengths are odd (33, 65). One core,
// the reference model's products (32 or 64 tokens, head width 64 or 32): 75–78 GFLOP/s with the former 2 × 32 tile,
// 88–95 with this one; with a class token (scalar column and single-row edges before) 38–72 → 65–94. Results are the
// same bit for bit: every element sums over p in the same order.
// Compiled for AVX2 only in these functions and chosen at run time.
#ifdef CK_HAVE_AVX2_KERNEL
using ck::exp_nonpositive;
using ck::hmax;
using ck::hsum;
// MR rows × NV vectors of 8 columns; the last vector loads and stores only the columns `mask` selects when MASK.
template <int MR, int NV, bool MASK>
CK_AVX2 inline void tile(int k, float alpha, const float* a, int64_t ai, int64_t ap, const float* b, int64_t ldb, float* c,
                         int64_t ldc, __m256i mask) {
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
  for (int p = 0; p < k; p++) {
    const float* br = b + p * ldb;
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++)
      bv[v] = (MASK && v == NV - 1) ? _mm256_maskload_ps(br + 8 * v, mask) : _mm256_loadu_ps(br + 8 * v);
    const float* ap_ = a + p * ap;
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      const __m256 x = _mm256_broadcast_ss(ap_ + r * ai);
#pragma GCC unroll 2
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(x, bv[v], acc[r][v]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
      float* out = c + r * ldc + 8 * v;
      if (MASK && v == NV - 1) _mm256_maskstore_ps(out, mask, _mm256_mul_ps(va, acc[r][v]));
      else _mm256_storeu_ps(out, _mm256_mul_ps(va, acc[r][v]));
    }
}

template <int MR>
CK_AVX2 inline void row_block(int n, int k, float alpha, const float* a, int64_t ai, int64_t ap, const float* b, int64_t ldb,
                              float* c, int64_t ldc) {
  int j = 0;
  for (; j + 16 <= n; j += 16) tile<MR, 2, false>(k, alpha, a, ai, ap, b + j, ldb, c + j, ldc, __m256i{});
  const int rest = n - j;
  if (rest == 0) return;
  if (rest > 8) tile<MR, 2, true>(k, alpha, a, ai, ap, b + j, ldb, c + j, ldc, ck::tail_mask(rest - 8));
  else if (rest == 8) tile<MR, 1, false>(k, alpha, a, ai, ap, b + j, ldb, c + j, ldc, __m256i{});
  else tile<MR, 1, true>(k, alpha, a, ai, ap, b + j, ldb, c + j, ldc, ck::tail_mask(rest));
}

CK_AVX2 void small_gemm_avx2(int m, int n, int k, float alpha, const float* a, int64_t ai, int64_t ap, const float* b,
                            int64_t ldb, float* c, int64_t ldc) {
  int i = 0;
  for (; i + 6 <= m; i += 6) row_block<6>(n, k, alpha, a + i * ai, ai, ap, b, ldb, c + i * ldc, ldc);
  const float* ar = a + i * ai;
  float* cr = c + i * ldc;
  switch (m - i) {
    case 5: row_block<5>(n, k, alpha, ar, ai, ap, b, ldb, cr, ldc); break;
    case 4: row_block<4>(n, k, alpha, ar, ai, ap, b, ldb, cr, ldc); break;
    case 3: row_block<3>(n, k, alpha, ar, ai, ap, b, ldb, cr, ldc); break;
    case 2: row_block<2>(n, k, alpha, ar, ai, ap, b, ldb, cr, ldc); break;
    case 1: row_block<1>(n, k, alpha, ar, ai, ap, b, ldb, cr, ldc); break;
    default: break;
  }
}

// Softmax of each row of s [m × n] in place.
__attribute__((target("avx2,fma"))) void softmax_rows_avx2(float* s, int m, int n) {
  for (int i = 0; i < m; i++) {
    float* r = s + static_cast<int64_t>(i) * n;
    int j = 0;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(r + j));
    float mx = hmax(vmax);
    for (; j < n; j++) mx = std::max(mx, r[j]);
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
      __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(r + j), vm));
      _mm256_storeu_ps(r + j, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum(vsum);
    for (; j < n; j++) sum += r[j] = std::exp(r[j] - mx);
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(r + j, _mm256_mul_ps(_mm256_loadu_ps(r + j), inv));
    for (; j < n; j++) r[j] *= 1.0f / sum;
  }
}

// Softmax backward in place: d ← p ⊙ (d − Σ_j d ⊙ p) per row of [m × n].
__attribute__((target("avx2,fma"))) void softmax_backward_rows_avx2(float* d, const float* p, int m, int n) {
  for (int i = 0; i < m; i++) {
    float* dr = d + static_cast<int64_t>(i) * n;
    const float* pr = p + static_cast<int64_t>(i) * n;
    int j = 0;
    __m256 vdot = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) vdot = _mm256_fmadd_ps(_mm256_loadu_ps(dr + j), _mm256_loadu_ps(pr + j), vdot);
    float dot = hsum(vdot);
    for (; j < n; j++) dot += dr[j] * pr[j];
    const __m256 vd = _mm256_set1_ps(dot);
    for (j = 0; j + 8 <= n; j += 8)
      _mm256_storeu_ps(dr + j, _mm256_mul_ps(_mm256_loadu_ps(pr + j), _mm256_sub_ps(_mm256_loadu_ps(dr + j), vd)));
    for (; j < n; j++) dr[j] = pr[j] * (dr[j] - dot);
  }
}

#endif

// OpenBLAS runs products below about 2.6e5 multiply-adds on the calling thread; those are spread over libtorch's
// intra-op threads. Larger per-head products are issued one after another and BLAS threads each of them.
constexpr int64_t kThreadedGemm = 262144;

// Runs f(pair) for every (image, head) pair.
template <typename F>
void for_pairs(int64_t pairs, int64_t work_per_product, const F& f) {
  if (work_per_product <= kThreadedGemm) {
    at::parallel_for(0, pairs, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; p++) f(p);
    });
  } else {
    for (int64_t p = 0; p < pairs; p++) f(p);
  }
}

#ifdef CK_HAVE_AVX2_KERNEL
// dst[p·n + j] = b[j·ldb + p] for j < n, p < k: 8×8 blocks transposed in registers (unpack/shuffle/permute), the
// edges element by element. A scalar transpose of a 64×32 key panel took about as long as the product it feeds.
CK_AVX2 void transpose_avx2(const float* b, int64_t ldb, int n, int k, float* dst) {
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    int p = 0;
    for (; p + 8 <= k; p += 8) {
      const float* src = b + static_cast<int64_t>(j) * ldb + p;
      __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ldb), r2 = _mm256_loadu_ps(src + 2 * ldb),
             r3 = _mm256_loadu_ps(src + 3 * ldb), r4 = _mm256_loadu_ps(src + 4 * ldb), r5 = _mm256_loadu_ps(src + 5 * ldb),
             r6 = _mm256_loadu_ps(src + 6 * ldb), r7 = _mm256_loadu_ps(src + 7 * ldb);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
             t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
             t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
             u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
             u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* out = dst + static_cast<int64_t>(p) * n + j;
      _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(out + n, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(out + 2 * n, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(out + 3 * n, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(out + 4 * n, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(out + 5 * n, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(out + 6 * n, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(out + 7 * n, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    for (; p < k; p++)
      for (int jj = j; jj < j + 8; jj++) dst[static_cast<int64_t>(p) * n + jj] = b[static_cast<int64_t>(jj) * ldb + p];
  }
  for (; j < n; j++)
    for (int p = 0; p < k; p++) dst[static_cast<int64_t>(p) * n + j] = b[static_cast<int64_t>(j) * ldb + p];
}
#endif

std::atomic<bool> kernel_enabled{true};

// One per-pair product, row-major: C = alpha · op(A)·op(B) (beta 0). Float32 products small enough to sit in L1/L2
// use the AVX2 kernel (B first packed into a per-thread panel); everything else goes to BLAS.
inline bool use_kernel(int64_t l, int64_t hd) {
  return kernel_enabled.load(std::memory_order_relaxed) && ck::cpu_has_avx2_fma() && l <= 256 && hd <= 256;
}

inline void product(bool kernel, bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float* c, int ldc) {
#ifdef CK_HAVE_AVX2_KERNEL
  if (kernel) {
    // B is packed into a contiguous k×n panel (transposed when it is stored n×k): rows of q, k, v lie 3·D floats
    // apart, a stride that maps them onto a few L1 sets, so reading them in place evicts the panel as it streams.
    if (tb || ldb != n) {
      thread_local std::vector<float> panel;
      panel.resize(static_cast<size_t>(n) * k);
      float* dst = panel.data();
      if (tb) {
        transpose_avx2(b, ldb, n, k, dst);
      } else {
        for (int p = 0; p < k; p++) std::memcpy(dst + static_cast<size_t>(p) * n, b + static_cast<int64_t>(p) * ldb, sizeof(float) * n);
      }
      b = dst;
      ldb = n;
    }
    small_gemm_avx2(m, n, k, alpha, a, ta ? 1 : lda, ta ? lda : 1, b, ldb, c, ldc);
    return;
  }
#endif
  gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, 0.0f, c, ldc);
}

inline void product(bool, bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                    int ldb, double* c, int ldc) {
  gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, 0.0, c, ldc);
}

struct Geometry {
  int64_t n, l, d, heads, hd;
  int64_t work() const { return l * l * hd; }
  // Offsets of pair p's q, k, v in the packed [N, L, 3, H, hd] buffer and of its output in [N, L, H, hd].
  int64_t q(int64_t p) const { return (p / heads) * l * 3 * d + (p % heads) * hd; }
  int64_t o(int64_t p) const { return (p / heads) * l * d + (p % heads) * hd; }
};

Geometry geometry(const at::Tensor& qkv, int64_t heads) {
  TORCH_CHECK(qkv.dim() == 3, "self_attention: qkv must be [N, L, 3·D], got ", qkv.sizes());
  TORCH_CHECK(heads >= 1, "self_attention: heads must be ≥ 1, got ", heads);
  TORCH_CHECK(qkv.size(2) % (3 * heads) == 0, "self_attention: the last dimension of qkv ", qkv.sizes(),
              " is not 3 × heads (", heads, ") × head width");
  Geometry g{qkv.size(0), qkv.size(1), qkv.size(2) / 3, heads, qkv.size(2) / (3 * heads)};
  TORCH_CHECK(g.l * 3 * g.d < INT32_MAX && g.l * g.l < INT32_MAX, "self_attention: sequence too long for the fused path");
  return g;
}

template <typename T>
void forward_pairs(const Geometry& g, const T* qkv, T* probs, T* out, bool scores) {
  const int l = static_cast<int>(g.l), hd = static_cast<int>(g.hd), ld = static_cast<int>(3 * g.d), ldo = static_cast<int>(g.d);
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(g.hd)));
  // The BLAS path (the AVX2 one runs whole pairs in forward_pairs_fused).
  for_pairs(g.n * g.heads, g.work(), [&](int64_t p) {
    const T* q = qkv + g.q(p);
    T* pp = probs + p * g.l * g.l;
    if (scores)  // S = q kᵀ / √hd
      product(false, false, true, l, l, hd, scale, q, ld, q + g.d, ld, pp, l);
    else  // O = P v
      product(false, false, false, l, hd, l, T(1), pp, l, q + 2 * g.d, ld, out + g.o(p), ldo);
  });
}

#ifdef CK_HAVE_AVX2_KERNEL
// float32 with the AVX2 kernel: each (image, head) pair runs start to finish on one thread, its scores and their
// gradient staying in cache; only the probabilities P are written out (the backward needs them).
void forward_pairs_fused(const Geometry& g, const float* qkv, float* probs, float* out) {
  const int l = static_cast<int>(g.l), hd = static_cast<int>(g.hd), ld = static_cast<int>(3 * g.d), ldo = static_cast<int>(g.d);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(g.hd)));
  at::parallel_for(0, g.n * g.heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; p++) {
      const float* q = qkv + g.q(p);
      float* pp = probs + p * g.l * g.l;
      product(true, false, true, l, l, hd, scale, q, ld, q + g.d, ld, pp, l);              // S = q kᵀ / √hd
      softmax_rows_avx2(pp, l, l);                                                         // P
      product(true, false, false, l, hd, l, 1.0f, pp, l, q + 2 * g.d, ld, out + g.o(p), ldo);  // O = P v
    }
  });
}

void backward_pairs_fused(const Geometry& g, const float* qkv, const float* probs, const float* dout, float* dqkv) {
  const int l = static_cast<int>(g.l), hd = static_cast<int>(g.hd), ld = static_cast<int>(3 * g.d), ldo = static_cast<int>(g.d);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(g.hd)));
  at::parallel_for(0, g.n * g.heads, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> buffer;
    buffer.resize(static_cast<size_t>(g.l * g.l));
    float* ds = buffer.data();
    for (int64_t p = begin; p < end; p++) {
      const int64_t off = g.q(p);
      const float* pp = probs + p * g.l * g.l;
      const float* go = dout + g.o(p);
      product(true, true, false, l, hd, l, 1.0f, pp, l, go, ldo, dqkv + off + 2 * g.d, ld);  // dv = Pᵀ dO
      product(true, false, true, l, l, hd, 1.0f, go, ldo, qkv + off + 2 * g.d, ld, ds, l);   // dP = dO vᵀ
      softmax_backward_rows_avx2(ds, pp, l, l);                                             // dS
      product(true, false, false, l, hd, l, scale, ds, l, qkv + off + g.d, ld, dqkv + off, ld);   // dq = dS k / √hd
      product(true, true, false, l, hd, l, scale, ds, l, qkv + off, ld, dqkv + off + g.d, ld);    // dk = dSᵀ q / √hd
    }
  });
}
#endif

struct FusedAttention : public torch::autograd::Function<FusedAttention> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor qkv, int64_t heads) {
    qkv = qkv.contiguous();
    Geometry g = geometry(qkv, heads);
    at::Tensor out = at::empty({g.n, g.l, g.d}, qkv.options());
    ctx->saved_data["heads"] = heads;
#ifdef CK_HAVE_AVX2_KERNEL
    if (qkv.scalar_type() == at::kFloat && use_kernel(g.l, g.hd)) {
      at::Tensor probs = at::empty({g.n, g.heads, g.l, g.l}, qkv.options());
      forward_pairs_fused(g, qkv.data_ptr<float>(), probs.data_ptr<float>(), out.data_ptr<float>());
      ctx->save_for_backward({qkv, probs});
      return out;
    }
#endif
    at::Tensor scores = at::empty({g.n, g.heads, g.l, g.l}, qkv.options());
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "self_attention", [&] {
      forward_pairs<scalar_t>(g, qkv.data_ptr<scalar_t>(), scores.data_ptr<scalar_t>(), nullptr, true);
    });
    at::Tensor probs = at::_softmax(scores, -1, false);
    scores.reset();
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "self_attention", [&] {
      forward_pairs<scalar_t>(g, qkv.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), false);
    });
    ctx->save_for_backward({qkv, probs});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& qkv = saved[0];
    const at::Tensor& probs = saved[1];
    Geometry g = geometry(qkv, ctx->saved_data["heads"].toInt());
    at::Tensor dout = grads[0].contiguous();
    at::Tensor dqkv = at::empty_like(qkv);
#ifdef CK_HAVE_AVX2_KERNEL
    if (qkv.scalar_type() == at::kFloat && use_kernel(g.l, g.hd)) {
      backward_pairs_fused(g, qkv.data_ptr<float>(), probs.data_ptr<float>(), dout.data_ptr<float>(), dqkv.data_ptr<float>());
      return {dqkv, at::Tensor()};
    }
#endif
    at::Tensor dprobs = at::empty_like(probs);
    const int l = static_cast<int>(g.l), hd = static_cast<int>(g.hd), ld = static_cast<int>(3 * g.d), ldo = static_cast<int>(g.d);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "self_attention_backward", [&] {
      const scalar_t* x = qkv.data_ptr<scalar_t>();
      const scalar_t* pr = probs.data_ptr<scalar_t>();
      const scalar_t* go = dout.data_ptr<scalar_t>();
      scalar_t* dx = dqkv.data_ptr<scalar_t>();
      scalar_t* dp = dprobs.data_ptr<scalar_t>();
      for_pairs(g.n * g.heads, g.work(), [&](int64_t p) {
        const int64_t off = g.q(p);
        // dv = Pᵀ dO;  dP = dO vᵀ
        product(false, true, false, l, hd, l, scalar_t(1), pr + p * g.l * g.l, l, go + g.o(p), ldo, dx + off + 2 * g.d, ld);
        product(false, false, true, l, l, hd, scalar_t(1), go + g.o(p), ldo, x + off + 2 * g.d, ld, dp + p * g.l * g.l, l);
      });
    });
    // dS = P ⊙ (dP − Σ_j dP ⊙ P), libtorch's softmax backward over all pairs.
    at::Tensor dscores = at::_softmax_backward_data(dprobs, probs, -1, probs.scalar_type());
    dprobs.reset();
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "self_attention_backward", [&] {
      const scalar_t* x = qkv.data_ptr<scalar_t>();
      const scalar_t* ds = dscores.data_ptr<scalar_t>();
      scalar_t* dx = dqkv.data_ptr<scalar_t>();
      const scalar_t scale = static_cast<scalar_t>(1.0 / std::sqrt(static_cast<double>(g.hd)));
      for_pairs(g.n * g.heads, g.work(), [&](int64_t p) {
        const int64_t off = g.q(p);
        const scalar_t* s = ds + p * g.l * g.l;
        // dq = dS k / √hd;  dk = dSᵀ q / √hd
        product(false, false, false, l, hd, l, scale, s, l, x + off + g.d, ld, dx + off, ld);
        product(false, true, false, l, hd, l, scale, s, l, x + off, ld, dx + off + g.d, ld);
      });
    });
    return {dqkv, at::Tensor()};
  }
};

bool fused_applies(const at::Tensor& qkv) {
  if (!fused_enabled.load(std::memory_order_relaxed) || !qkv.device().is_cpu() || qkv.is_sparse()) return false;
  if (qkv.scalar_type() == at::kFloat) return sgemm_ != nullptr;
  if (qkv.scalar_type() == at::kDouble) return dgemm_ != nullptr;
  return false;
}

at::Tensor composed(const at::Tensor& qkv, int64_t heads) {
  Geometry g = geometry(qkv, heads);
  auto parts = qkv.reshape({g.n, g.l, 3, g.heads, g.hd}).permute({2, 0, 3, 1, 4}).unbind(0);
#if TORCH_VERSION_MAJOR >= 2
  at::Tensor o = at::scaled_dot_product_attention(parts[0], parts[1], parts[2]);
#else
  at::Tensor o = std::get<0>(at::_scaled_dot_product_attention(parts[0], parts[1], parts[2], ck::nullopt, 0.0, false, false));
#endif
  return o.transpose(1, 2).reshape({g.n, g.l, g.d});
}
}  // namespace

// softmax(q kᵀ / √hd) v per head, from qkv [N, L, 3·D] laid out as [N, L, 3, H, hd] (timm's packed projection).
CK_EXPORT ck_tensor ck_self_attention(ck_tensor qkv, int64_t heads) {
  try {
    CK_RECORD("cankit::self_attention");
    return ck::wrap(fused_applies(*qkv) ? FusedAttention::apply(*qkv, heads) : composed(*qkv, heads));
  }
  CK_CATCH(nullptr)
}

// 1 when ck_self_attention would take the fused path for this tensor.
CK_EXPORT int ck_self_attention_fused(ck_tensor qkv) {
  try {
    return fused_applies(*qkv) ? 1 : 0;
  }
  CK_CATCH(-1)
}

// The AVX2 kernel for float32 per-head products on (1) or off (0, BLAS for every product), or read (−1); returns
// the setting before the call. Benchmarks and tests compare both.
CK_EXPORT int ck_set_attention_kernel(int on) {
  if (on < 0) return kernel_enabled.load() ? 1 : 0;
  return kernel_enabled.exchange(on != 0) ? 1 : 0;
}

// Turns the fused CPU path on (1) or off (0) for the whole process (benchmarks compare both), or only reads the
// setting (−1); returns the setting before the call.
CK_EXPORT int ck_set_fused_attention(int on) {
  if (on < 0) return fused_enabled.load() ? 1 : 0;
  return fused_enabled.exchange(on != 0) ? 1 : 0;
}
