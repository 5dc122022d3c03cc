// AVX2/FMA helpers shared by the native kernels (attention.cpp, linear.cpp). Each kernel is compiled for AVX2 in
// its own functions only (CK_AVX2) and chosen at run time with cpu_has_avx2_fma(), so the library still loads and
// runs its fallbacks on CPUs without AVX2.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CK_HAVE_AVX2_KERNEL 1
#define CK_AVX2 __attribute__((target("avx2,fma")))

namespace ck {
inline bool cpu_has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

// e^x for x ≤ 0 (softmax after subtracting the row max, Gaussian tails): Cody–Waite range reduction x = n·ln2 + r and
// a degree-6 polynomial for e^r (Cephes' expf coefficients), then 2ⁿ through the exponent bits. Relative error
// ≲ 2e-7; below −87.3 the result is 0 instead of a denormal.
CK_AVX2 inline __m256 exp_nonpositive(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

CK_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

CK_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Lanes [0, n) of a vector for loads and stores of a row's tail (n < 8).
CK_AVX2 inline __m256i tail_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The standard normal CDF Φ(x) and φ(x)·√(2π) = e^(−x²/2), for GELU (x·Φ(x)) and its derivative (Φ(x) + x·φ(x)).
// With z = |x|/√2, Φ(−|x|) = ½·erfc(z) = ½·e^(−z²)·erfcx(z), and erfcx(z) = e^(z²)·erfc(z) is a degree-10 polynomial in
// t = 1/(1 + z/2) fitted for relative error (≤ 7e-9 in exact arithmetic, ≈ 2.5e-7 evaluated in float32) on
// z ∈ [0, 10]. Φ(x) = 1 − Φ(−|x|) for x ≥ 0. Computing the lower tail directly keeps its relative accuracy where
// 1 + erf(x/√2) would cancel (libtorch's float32 GELU is off by up to 5 % of the value near x = −5); one exponential
// serves both Φ and φ.
CK_AVX2 inline __m256 normal_cdf(__m256 x, __m256* gauss) {
  // e^(−x²/2) with x² carried as hi + lo (exact through FMA): rounding x²/2 to float would cost up to x²/2 · 6e-8 of
  // relative accuracy (3e-6 at x = −5); e^(−lo/2) ≈ 1 − lo/2 restores it.
  const __m256 sq_hi = _mm256_mul_ps(x, x);
  const __m256 sq_lo = _mm256_fmsub_ps(x, x, sq_hi);
  __m256 e = exp_nonpositive(_mm256_mul_ps(sq_hi, _mm256_set1_ps(-0.5f)));
  e = _mm256_fmadd_ps(e, _mm256_mul_ps(sq_lo, _mm256_set1_ps(-0.5f)), e);
  __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
  z = _mm256_min_ps(z, _mm256_set1_ps(10.0f));
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(2.916046605e-02f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-2.176054269e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(6.589779854e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-9.913491607e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(7.052550912e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-2.638104260e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.897853553e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.222766578e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.854722142e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.818281054e-01f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(9.178994333e-06f));
  *gauss = e;
  const __m256 lower = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), e), p);  // Φ(−|x|)
  const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), lower), lower, negative);
}
}  // namespace ck
#else
namespace ck {
inline bool cpu_has_avx2_fma() { return false; }
}  // namespace ck
#endif
