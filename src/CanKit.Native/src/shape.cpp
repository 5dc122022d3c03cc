// Views, reshapes, joins, indexing and sorting.
#include "common.h"

CK_EXPORT ck_tensor ck_view(ck_tensor a, const int64_t* s, int n) { CK_TENSOR(a->view(ck::dims(s, n))) }
CK_EXPORT ck_tensor ck_reshape(ck_tensor a, const int64_t* s, int n) { CK_TENSOR(at::reshape(*a, ck::dims(s, n))) }
CK_EXPORT ck_tensor ck_flatten(ck_tensor a, int64_t start, int64_t end) { CK_TENSOR(at::flatten(*a, start, end)) }
CK_EXPORT ck_tensor ck_permute(ck_tensor a, const int64_t* s, int n) { CK_TENSOR(a->permute(ck::dims(s, n))) }
CK_EXPORT ck_tensor ck_transpose(ck_tensor a, int64_t d0, int64_t d1) { CK_TENSOR(at::transpose(*a, d0, d1)) }
CK_EXPORT ck_tensor ck_unsqueeze(ck_tensor a, int64_t d) { CK_TENSOR(at::unsqueeze(*a, d)) }
CK_EXPORT ck_tensor ck_squeeze(ck_tensor a, int64_t d, int has_dim) { CK_TENSOR(has_dim ? at::squeeze(*a, d) : at::squeeze(*a)) }
CK_EXPORT ck_tensor ck_expand(ck_tensor a, const int64_t* s, int n) { CK_TENSOR(a->expand(ck::dims(s, n))) }
CK_EXPORT ck_tensor ck_repeat(ck_tensor a, const int64_t* s, int n) { CK_TENSOR(a->repeat(ck::dims(s, n))) }
CK_EXPORT ck_tensor ck_narrow(ck_tensor a, int64_t d, int64_t start, int64_t len) { CK_TENSOR(at::narrow(*a, d, start, len)) }
CK_EXPORT ck_tensor ck_select(ck_tensor a, int64_t d, int64_t i) { CK_TENSOR(at::select(*a, d, i)) }
CK_EXPORT ck_tensor ck_slice(ck_tensor a, int64_t d, int64_t start, int64_t end, int64_t step) {
  CK_TENSOR(at::slice(*a, d, start, end, step))
}
CK_EXPORT ck_tensor ck_flip(ck_tensor a, const int64_t* s, int n) { CK_TENSOR(at::flip(*a, ck::dims(s, n))) }
CK_EXPORT ck_tensor ck_cat(const ck_tensor* ts, int n, int64_t d) { CK_TENSOR(at::cat(ck::list(ts, n), d)) }
CK_EXPORT ck_tensor ck_stack(const ck_tensor* ts, int n, int64_t d) { CK_TENSOR(at::stack(ck::list(ts, n), d)) }
// Splits along `dim` into a[dim] tensors; out must have room for them.
CK_EXPORT int ck_unbind(ck_tensor a, int64_t d, ck_tensor* out) {
  CK_STATUS({
    auto parts = at::unbind(*a, d);
    for (size_t i = 0; i < parts.size(); i++) out[i] = ck::wrap(parts[i]);
  })
}
CK_EXPORT ck_tensor ck_index_select(ck_tensor a, int64_t d, ck_tensor idx) { CK_TENSOR(at::index_select(*a, d, *idx)) }
CK_EXPORT ck_tensor ck_gather(ck_tensor a, int64_t d, ck_tensor idx) { CK_TENSOR(at::gather(*a, d, *idx)) }
CK_EXPORT ck_tensor ck_scatter(ck_tensor a, int64_t d, ck_tensor idx, ck_tensor src) { CK_TENSOR(at::scatter(*a, d, *idx, *src)) }
CK_EXPORT ck_tensor ck_scatter_s(ck_tensor a, int64_t d, ck_tensor idx, double v) { CK_TENSOR(at::scatter(*a, d, *idx, v)) }
CK_EXPORT int ck_sort(ck_tensor a, int64_t d, int descending, int stable, ck_tensor* out) {
  CK_PAIR(at::sort(*a, ck::optional<bool>(stable != 0), d, descending != 0))
}
CK_EXPORT ck_tensor ck_argsort(ck_tensor a, int64_t d, int descending) { CK_TENSOR(at::argsort(*a, d, descending != 0)) }
CK_EXPORT int ck_topk(ck_tensor a, int64_t k, int64_t d, int largest, int sorted, ck_tensor* out) {
  CK_PAIR(at::topk(*a, k, d, largest != 0, sorted != 0))
}
