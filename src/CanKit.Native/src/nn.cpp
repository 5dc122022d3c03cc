// Neural-network functions: normalisation, activations with state, losses, convolution, attention.
#include "common.h"

CK_EXPORT ck_tensor ck_softmax(ck_tensor a, int64_t d) { CK_TENSOR(at::softmax(*a, d)) }
CK_EXPORT ck_tensor ck_log_softmax(ck_tensor a, int64_t d) { CK_TENSOR(at::log_softmax(*a, d)) }
// ck_layer_norm, ck_add_layer_norm: layernorm.cpp.
CK_EXPORT ck_tensor ck_dropout(ck_tensor x, double p, int train) { CK_TENSOR(at::dropout(*x, p, train != 0)) }
// reduction: 0 none, 1 mean, 2 sum (at::Reduction).
CK_EXPORT ck_tensor ck_cross_entropy(ck_tensor logits, ck_tensor target, ck_tensor weight, int reduction,
                                     int64_t ignore_index, double label_smoothing) {
  CK_TENSOR(at::cross_entropy_loss(*logits, *target, ck::opt(weight), reduction, ignore_index, label_smoothing))
}
CK_EXPORT ck_tensor ck_mse_loss(ck_tensor a, ck_tensor b, int reduction) { CK_TENSOR(at::mse_loss(*a, *b, reduction)) }
// F.normalize: x / max(||x||_p, eps) along dim.
CK_EXPORT ck_tensor ck_normalize(ck_tensor x, double p, int64_t d, double eps) {
  CK_TENSOR(*x / at::norm(*x, p, {d}, true).clamp_min(eps).expand_as(*x))
}
CK_EXPORT ck_tensor ck_conv2d(ck_tensor x, ck_tensor w, ck_tensor b, const int64_t* stride, const int64_t* padding,
                              const int64_t* dilation, int64_t groups) {
  CK_TENSOR(at::conv2d(*x, *w, ck::opt(b), ck::dims(stride, 2), ck::dims(padding, 2), ck::dims(dilation, 2), groups))
}
// softmax(q kᵀ / sqrt(E) + mask) v with q, k, v [..., L, E]; libtorch's fused kernel from 2.0 on, its math
// path in 1.13 (same numbers). `mask` may be null; bool masks mean "may attend".
CK_EXPORT ck_tensor ck_sdpa(ck_tensor q, ck_tensor k, ck_tensor v, ck_tensor mask, double dropout_p, int causal) {
#if TORCH_VERSION_MAJOR >= 2
  CK_TENSOR(at::scaled_dot_product_attention(*q, *k, *v, ck::opt(mask), dropout_p, causal != 0))
#else
  CK_TENSOR(std::get<0>(at::_scaled_dot_product_attention(*q, *k, *v, ck::opt(mask), dropout_p, false, causal != 0)))
#endif
}
// Sampling grids for batched geometric augmentation: theta [N, 2, 3] → grid [N, H, W, 2] in [-1, 1] coordinates.
CK_EXPORT ck_tensor ck_affine_grid(ck_tensor theta, const int64_t* size, int n, int align_corners) {
  CK_TENSOR(at::affine_grid_generator(*theta, ck::dims(size, n), align_corners != 0))
}
// mode: 0 bilinear, 1 nearest, 2 bicubic; padding: 0 zeros, 1 border, 2 reflection.
CK_EXPORT ck_tensor ck_grid_sample(ck_tensor input, ck_tensor grid, int mode, int padding, int align_corners) {
  CK_TENSOR(at::grid_sampler(*input, *grid, mode, padding, align_corners != 0))
}
