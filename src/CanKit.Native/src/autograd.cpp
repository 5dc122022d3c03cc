// Autograd: backward, gradients, grad mode.
#include "common.h"
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/variable.h>

CK_EXPORT int ck_backward(ck_tensor t, ck_tensor grad, int retain_graph) {
  CK_STATUS({
    std::vector<at::Tensor> grads;
    if (grad != nullptr) grads.push_back(*grad);
    torch::autograd::backward({*t}, grads, retain_graph != 0 ? ck::optional<bool>(true) : ck::nullopt, false);
  })
}
// nullptr with no error pending means the tensor has no gradient yet.
CK_EXPORT ck_tensor ck_grad(ck_tensor t) { CK_TENSOR(t->grad()) }
CK_EXPORT int ck_set_grad(ck_tensor t, ck_tensor g) {
  CK_STATUS({
    if (g == nullptr)
      t->mutable_grad().reset();
    else
      t->mutable_grad() = *g;
  })
}
// Zeroes the gradient in place (set_to_none drops it instead, like PyTorch's zero_grad default).
CK_EXPORT int ck_zero_grad(ck_tensor t, int set_to_none) {
  CK_STATUS({
    auto& g = t->mutable_grad();
    if (!g.defined()) return 0;
    if (set_to_none != 0) {
      g.reset();
    } else {
      if (g.grad_fn()) g = g.detach();
      else g.requires_grad_(false);
      g.zero_();
    }
  })
}
CK_EXPORT int ck_grad_enabled() { return c10::GradMode::is_enabled() ? 1 : 0; }
CK_EXPORT void ck_set_grad_enabled(int on) { c10::GradMode::set_enabled(on != 0); }
// Replaces the tensor's data (device, dtype, storage) but keeps the same tensor object and its autograd leaf
// identity, like PyTorch's `param.data = ...` in Module._apply.
CK_EXPORT int ck_set_data(ck_tensor t, ck_tensor data) { CK_STATUS(t->set_data(*data)) }
