// Elementwise math, comparisons, matrix products and reductions.
#include "common.h"

#define CK_UNARY(name, expr) \
  CK_EXPORT ck_tensor ck_##name(ck_tensor a) { CK_TENSOR(expr) }

CK_UNARY(neg, at::neg(*a))
CK_UNARY(exp, at::exp(*a))
CK_UNARY(log, at::log(*a))
CK_UNARY(sqrt, at::sqrt(*a))
CK_UNARY(rsqrt, at::rsqrt(*a))
CK_UNARY(sin, at::sin(*a))
CK_UNARY(cos, at::cos(*a))
CK_UNARY(abs, at::abs(*a))
CK_UNARY(sign, at::sign(*a))
CK_UNARY(floor, at::floor(*a))
CK_UNARY(round, at::round(*a))
CK_UNARY(relu, at::relu(*a))
CK_UNARY(sigmoid, at::sigmoid(*a))
CK_UNARY(tanh, at::tanh(*a))
CK_UNARY(erfinv, at::erfinv(*a))
CK_UNARY(isnan, at::isnan(*a))
CK_UNARY(isfinite, at::isfinite(*a))
CK_UNARY(logical_not, at::logical_not(*a))
CK_UNARY(sum_all, at::sum(*a))
CK_UNARY(mean_all, at::mean(*a))
CK_UNARY(max_all, at::max(*a))
CK_UNARY(min_all, at::min(*a))
CK_UNARY(all_all, at::all(*a))
CK_UNARY(any_all, at::any(*a))
CK_UNARY(t, a->t())

CK_EXPORT ck_tensor ck_gelu(ck_tensor a, int tanh_approx) { CK_TENSOR(at::gelu(*a, tanh_approx ? "tanh" : "none")) }

// ---- binary, tensor with tensor ------------------------------------------------------------------------
#define CK_BINARY(name, expr) \
  CK_EXPORT ck_tensor ck_##name(ck_tensor a, ck_tensor b) { CK_TENSOR(expr) }

CK_BINARY(mul, at::mul(*a, *b))
CK_BINARY(div, at::div(*a, *b))
CK_BINARY(pow, at::pow(*a, *b))
CK_BINARY(maximum, at::maximum(*a, *b))
CK_BINARY(minimum, at::minimum(*a, *b))
CK_BINARY(matmul, at::matmul(*a, *b))
CK_BINARY(mm, at::mm(*a, *b))
CK_BINARY(bmm, at::bmm(*a, *b))
CK_BINARY(eq, at::eq(*a, *b))
CK_BINARY(ne, at::ne(*a, *b))
CK_BINARY(lt, at::lt(*a, *b))
CK_BINARY(le, at::le(*a, *b))
CK_BINARY(gt, at::gt(*a, *b))
CK_BINARY(ge, at::ge(*a, *b))
CK_BINARY(logical_and, at::logical_and(*a, *b))
CK_BINARY(logical_or, at::logical_or(*a, *b))

CK_EXPORT ck_tensor ck_add(ck_tensor a, ck_tensor b, double alpha) { CK_TENSOR(at::add(*a, *b, ck::alpha(alpha))) }
CK_EXPORT ck_tensor ck_sub(ck_tensor a, ck_tensor b, double alpha) { CK_TENSOR(at::sub(*a, *b, ck::alpha(alpha))) }

// ---- binary, tensor with scalar ------------------------------------------------------------------------
#define CK_SCALAR(name, expr) \
  CK_EXPORT ck_tensor ck_##name(ck_tensor a, double v, int is_int) { auto s = ck::scalar(v, is_int); CK_TENSOR(expr) }

CK_SCALAR(add_s, at::add(*a, s))
CK_SCALAR(sub_s, at::sub(*a, s))
CK_SCALAR(rsub_s, at::rsub(*a, s))
CK_SCALAR(mul_s, at::mul(*a, s))
CK_SCALAR(div_s, at::div(*a, s))
CK_SCALAR(rdiv_s, at::mul(at::reciprocal(*a), s))
CK_SCALAR(pow_s, at::pow(*a, s))
CK_SCALAR(rpow_s, at::pow(s, *a))
CK_SCALAR(eq_s, at::eq(*a, s))
CK_SCALAR(ne_s, at::ne(*a, s))
CK_SCALAR(lt_s, at::lt(*a, s))
CK_SCALAR(le_s, at::le(*a, s))
CK_SCALAR(gt_s, at::gt(*a, s))
CK_SCALAR(ge_s, at::ge(*a, s))
CK_SCALAR(clamp_min, at::clamp_min(*a, s))
CK_SCALAR(clamp_max, at::clamp_max(*a, s))

CK_EXPORT ck_tensor ck_clamp(ck_tensor a, double lo, double hi) { CK_TENSOR(at::clamp(*a, lo, hi)) }
CK_EXPORT ck_tensor ck_addmm(ck_tensor bias, ck_tensor a, ck_tensor b, double beta, double alpha) {
  CK_TENSOR(at::addmm(*bias, *a, *b, beta, alpha))
}
CK_EXPORT ck_tensor ck_where(ck_tensor cond, ck_tensor a, ck_tensor b) { CK_TENSOR(at::where(*cond, *a, *b)) }
CK_EXPORT ck_tensor ck_masked_fill(ck_tensor a, ck_tensor mask, double v, int is_int) {
  CK_TENSOR(at::masked_fill(*a, *mask, ck::scalar(v, is_int)))
}

// ---- in place ------------------------------------------------------------------------------------------
CK_EXPORT int ck_add_(ck_tensor a, ck_tensor b, double alpha) { CK_STATUS(a->add_(*b, ck::alpha(alpha))) }
CK_EXPORT int ck_mul_(ck_tensor a, ck_tensor b) { CK_STATUS(a->mul_(*b)) }
CK_EXPORT int ck_add_s_(ck_tensor a, double v, int is_int) { CK_STATUS(a->add_(ck::scalar(v, is_int))) }
CK_EXPORT int ck_mul_s_(ck_tensor a, double v, int is_int) { CK_STATUS(a->mul_(ck::scalar(v, is_int))) }
CK_EXPORT int ck_fill_(ck_tensor a, double v, int is_int) { CK_STATUS(a->fill_(ck::scalar(v, is_int))) }
CK_EXPORT int ck_zero_(ck_tensor a) { CK_STATUS(a->zero_()) }
CK_EXPORT int ck_clamp_(ck_tensor a, double lo, double hi) { CK_STATUS(a->clamp_(lo, hi)) }
CK_EXPORT int ck_uniform_(ck_tensor a, double lo, double hi, ck_generator g) { CK_STATUS(a->uniform_(lo, hi, ck::opt_gen(g))) }
CK_EXPORT int ck_normal_(ck_tensor a, double mean, double std, ck_generator g) { CK_STATUS(a->normal_(mean, std, ck::opt_gen(g))) }
CK_EXPORT int ck_erfinv_(ck_tensor a) { CK_STATUS(a->erfinv_()) }
// EMA in one call: a = mu * a + (1 - mu) * b  (computed as a.mul_(mu).add_(b, 1 - mu), like PyTorch code does).
CK_EXPORT int ck_lerp_ema_(ck_tensor a, ck_tensor b, double mu) { CK_STATUS(a->mul_(mu).add_(*b, 1.0 - mu)) }

// ---- reductions ----------------------------------------------------------------------------------------
CK_EXPORT ck_tensor ck_sum(ck_tensor a, const int64_t* d, int nd, int keepdim) {
  CK_TENSOR(at::sum(*a, ck::dims(d, nd), keepdim != 0))
}
CK_EXPORT ck_tensor ck_mean(ck_tensor a, const int64_t* d, int nd, int keepdim) {
  CK_TENSOR(at::mean(*a, ck::dims(d, nd), keepdim != 0))
}
CK_EXPORT ck_tensor ck_logsumexp(ck_tensor a, const int64_t* d, int nd, int keepdim) {
  CK_TENSOR(at::logsumexp(*a, ck::dims(d, nd), keepdim != 0))
}
// correction: 1 = unbiased (PyTorch's default), 0 = population. libtorch 2.x takes it as an optional Scalar.
#if TORCH_VERSION_MAJOR >= 2
#define CK_CORRECTION(c) ck::optional<at::Scalar>(at::Scalar(c))
#else
#define CK_CORRECTION(c) ck::optional<int64_t>(c)
#endif
CK_EXPORT ck_tensor ck_var(ck_tensor a, const int64_t* d, int nd, int64_t correction, int keepdim) {
  CK_TENSOR(at::var(*a, at::OptionalIntArrayRef(ck::dims(d, nd)), CK_CORRECTION(correction), keepdim != 0))
}
CK_EXPORT ck_tensor ck_std(ck_tensor a, const int64_t* d, int nd, int64_t correction, int keepdim) {
  CK_TENSOR(at::std(*a, at::OptionalIntArrayRef(ck::dims(d, nd)), CK_CORRECTION(correction), keepdim != 0))
}
CK_EXPORT ck_tensor ck_norm(ck_tensor a, double p, const int64_t* d, int nd, int keepdim) {
  CK_TENSOR(nd == 0 ? at::norm(*a, p) : at::norm(*a, p, ck::dims(d, nd), keepdim != 0))
}
CK_EXPORT int ck_max_dim(ck_tensor a, int64_t dim, int keepdim, ck_tensor* out) { CK_PAIR(at::max(*a, dim, keepdim != 0)) }
CK_EXPORT int ck_min_dim(ck_tensor a, int64_t dim, int keepdim, ck_tensor* out) { CK_PAIR(at::min(*a, dim, keepdim != 0)) }
CK_EXPORT ck_tensor ck_argmax(ck_tensor a, int64_t dim, int has_dim, int keepdim) {
  CK_TENSOR(at::argmax(*a, has_dim ? ck::optional<int64_t>(dim) : ck::nullopt, keepdim != 0))
}
CK_EXPORT ck_tensor ck_argmin(ck_tensor a, int64_t dim, int has_dim, int keepdim) {
  CK_TENSOR(at::argmin(*a, has_dim ? ck::optional<int64_t>(dim) : ck::nullopt, keepdim != 0))
}
CK_EXPORT ck_tensor ck_cumsum(ck_tensor a, int64_t dim) { CK_TENSOR(at::cumsum(*a, dim)) }
