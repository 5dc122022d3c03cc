using System.Runtime.InteropServices;

namespace CanKit;

/// <summary>
/// The C ABI of <c>libcankit_native</c>. Every tensor-returning export returns a handle or null; null with an
/// error pending is an error, null without one is an undefined tensor. Status-returning exports return 0 or -1.
/// Callers go through <see cref="NativeCheck"/>, the one place that reads the error channel.
/// </summary>
internal static unsafe partial class Native
{
    internal const string Lib = "cankit_native";

    // error channel
    [DllImport(Lib)] internal static extern IntPtr ck_take_error();
    [DllImport(Lib)] internal static extern void ck_free_string(IntPtr s);
    [DllImport(Lib)] internal static extern int ck_debug_throw(int kind);

    // lifecycle, creation
    [DllImport(Lib)] internal static extern void ck_tensor_free(IntPtr t);
    [DllImport(Lib)] internal static extern long ck_live_handles();
    [DllImport(Lib)] internal static extern TensorHandle ck_empty(long* shape, int ndim, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_zeros(long* shape, int ndim, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_ones(long* shape, int ndim, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_full(long* shape, int ndim, double value, int isInt, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_arange(double start, double end, double step, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_linspace(double start, double end, long steps, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_rand(long* shape, int ndim, GeneratorHandle g, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_randn(long* shape, int ndim, GeneratorHandle g, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_randint(long low, long high, long* shape, int ndim, GeneratorHandle g, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_randperm(long n, GeneratorHandle g, int dtype, int dev, int idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_from_buffer(void* data, long nbytes, long* shape, int ndim, int dtype);
    [DllImport(Lib)] internal static extern int ck_copy_to_buffer(TensorHandle t, void* dst, long nbytes);

    // properties
    [DllImport(Lib)] internal static extern int ck_ndim(TensorHandle t);
    [DllImport(Lib)] internal static extern void ck_sizes(TensorHandle t, long* outp);
    [DllImport(Lib)] internal static extern void ck_strides(TensorHandle t, long* outp);
    [DllImport(Lib)] internal static extern int ck_dtype(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_device_type(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_device_index(TensorHandle t);
    [DllImport(Lib)] internal static extern long ck_numel(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_is_contiguous(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_requires_grad(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_is_leaf(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_set_requires_grad(TensorHandle t, int on);
    [DllImport(Lib)] internal static extern double ck_item_double(TensorHandle t, out int status);
    [DllImport(Lib)] internal static extern long ck_item_long(TensorHandle t, out int status);
    [DllImport(Lib)] internal static extern TensorHandle ck_alias(TensorHandle t);

    // conversion
    [DllImport(Lib)] internal static extern TensorHandle ck_to(TensorHandle t, int dtype, int dev, int idx, int nonBlocking, int copy);
    [DllImport(Lib)] internal static extern TensorHandle ck_pin_memory(TensorHandle t);
    [DllImport(Lib)] internal static extern TensorHandle ck_clone(TensorHandle t);
    [DllImport(Lib)] internal static extern TensorHandle ck_detach(TensorHandle t);
    [DllImport(Lib)] internal static extern TensorHandle ck_contiguous(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_copy_(TensorHandle dst, TensorHandle src, int nonBlocking);

    // autograd
    [DllImport(Lib)] internal static extern int ck_backward(TensorHandle t, TensorHandle grad, int retainGraph);
    [DllImport(Lib)] internal static extern TensorHandle ck_grad(TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_set_grad(TensorHandle t, TensorHandle g);
    [DllImport(Lib)] internal static extern int ck_zero_grad(TensorHandle t, int setToNone);
    [DllImport(Lib)] internal static extern int ck_set_data(TensorHandle t, TensorHandle data);
    [DllImport(Lib)] internal static extern int ck_grad_enabled();
    [DllImport(Lib)] internal static extern void ck_set_grad_enabled(int on);

    // runtime
    [DllImport(Lib)] internal static extern int ck_get_num_threads();
    [DllImport(Lib)] internal static extern int ck_set_num_threads(int n);
    [DllImport(Lib)] internal static extern int ck_get_num_interop_threads();
    [DllImport(Lib)] internal static extern int ck_set_num_interop_threads(int n);
    [DllImport(Lib)] internal static extern int ck_manual_seed(ulong seed);
    [DllImport(Lib)] internal static extern int ck_cuda_is_available();
    [DllImport(Lib)] internal static extern int ck_cuda_device_count();
    [DllImport(Lib)] internal static extern int ck_cuda_synchronize(int index);
    [DllImport(Lib)] internal static extern unsafe int ck_cuda_peak_memory(int device, long* out2);
    [DllImport(Lib)] internal static extern int ck_torch_version_major();
    [DllImport(Lib)] internal static extern int ck_profile_begin([MarshalAs(UnmanagedType.LPUTF8Str)] string path);
    [DllImport(Lib)] internal static extern int ck_profile_end();
    [DllImport(Lib)] internal static extern int ck_cpu_allocator_stats(long* out5);
    [DllImport(Lib)] internal static extern int ck_cpu_allocator_empty_cache();
    [DllImport(Lib)] internal static extern int ck_cpu_allocator_caching(int on);
    [DllImport(Lib)] internal static extern int ck_torch_version_minor();
    [DllImport(Lib)] internal static extern IntPtr ck_parallel_info();
    [DllImport(Lib)] internal static extern GeneratorHandle ck_generator_new(int dev, int idx, ulong seed);
    [DllImport(Lib)] internal static extern void ck_generator_free(IntPtr g);
    [DllImport(Lib)] internal static extern int ck_generator_set_seed(GeneratorHandle g, ulong seed);
    [DllImport(Lib)] internal static extern TensorHandle ck_generator_get_state(GeneratorHandle g);
    [DllImport(Lib)] internal static extern int ck_generator_set_state(GeneratorHandle g, TensorHandle state);

    // unary
    [DllImport(Lib)] internal static extern TensorHandle ck_neg(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_exp(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_log(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_sqrt(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_rsqrt(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_sin(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_cos(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_abs(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_sign(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_floor(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_round(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_relu(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_sigmoid(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_tanh(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_erfinv(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_isnan(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_isfinite(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_logical_not(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_sum_all(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_mean_all(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_max_all(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_min_all(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_all_all(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_any_all(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_t(TensorHandle a);
    [DllImport(Lib)] internal static extern TensorHandle ck_gelu(TensorHandle a, int tanhApprox);

    // binary
    [DllImport(Lib)] internal static extern TensorHandle ck_add(TensorHandle a, TensorHandle b, double alpha);
    [DllImport(Lib)] internal static extern TensorHandle ck_sub(TensorHandle a, TensorHandle b, double alpha);
    [DllImport(Lib)] internal static extern TensorHandle ck_mul(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_div(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_pow(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_maximum(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_minimum(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_matmul(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_mm(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_bmm(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_eq(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_ne(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_lt(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_le(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_gt(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_ge(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_logical_and(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_logical_or(TensorHandle a, TensorHandle b);

    // with a scalar
    [DllImport(Lib)] internal static extern TensorHandle ck_add_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_sub_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_rsub_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_mul_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_div_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_rdiv_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_pow_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_rpow_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_eq_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_ne_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_lt_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_le_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_gt_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_ge_s(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_clamp_min(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_clamp_max(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern TensorHandle ck_clamp(TensorHandle a, double lo, double hi);
    [DllImport(Lib)] internal static extern TensorHandle ck_linear(TensorHandle x, TensorHandle w, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_linear_gelu(TensorHandle x, TensorHandle w, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_addmm(TensorHandle bias, TensorHandle a, TensorHandle b, double beta, double alpha);
    [DllImport(Lib)] internal static extern TensorHandle ck_where(TensorHandle cond, TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern TensorHandle ck_masked_fill(TensorHandle a, TensorHandle mask, double v, int isInt);

    // in place
    [DllImport(Lib)] internal static extern int ck_add_(TensorHandle a, TensorHandle b, double alpha);
    [DllImport(Lib)] internal static extern int ck_mul_(TensorHandle a, TensorHandle b);
    [DllImport(Lib)] internal static extern int ck_add_s_(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern int ck_mul_s_(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern int ck_fill_(TensorHandle a, double v, int isInt);
    [DllImport(Lib)] internal static extern int ck_zero_(TensorHandle a);
    [DllImport(Lib)] internal static extern int ck_clamp_(TensorHandle a, double lo, double hi);
    [DllImport(Lib)] internal static extern int ck_uniform_(TensorHandle a, double lo, double hi, GeneratorHandle g);
    [DllImport(Lib)] internal static extern int ck_normal_(TensorHandle a, double mean, double std, GeneratorHandle g);
    [DllImport(Lib)] internal static extern int ck_erfinv_(TensorHandle a);
    [DllImport(Lib)] internal static extern int ck_lerp_ema_(TensorHandle a, TensorHandle b, double mu);

    // reductions
    [DllImport(Lib)] internal static extern TensorHandle ck_sum(TensorHandle a, long* dims, int nd, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_mean(TensorHandle a, long* dims, int nd, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_logsumexp(TensorHandle a, long* dims, int nd, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_var(TensorHandle a, long* dims, int nd, long correction, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_std(TensorHandle a, long* dims, int nd, long correction, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_norm(TensorHandle a, double p, long* dims, int nd, int keepdim);
    [DllImport(Lib)] internal static extern int ck_max_dim(TensorHandle a, long dim, int keepdim, IntPtr* outp);
    [DllImport(Lib)] internal static extern int ck_min_dim(TensorHandle a, long dim, int keepdim, IntPtr* outp);
    [DllImport(Lib)] internal static extern TensorHandle ck_argmax(TensorHandle a, long dim, int hasDim, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_argmin(TensorHandle a, long dim, int hasDim, int keepdim);
    [DllImport(Lib)] internal static extern TensorHandle ck_cumsum(TensorHandle a, long dim);

    // shape
    [DllImport(Lib)] internal static extern TensorHandle ck_view(TensorHandle a, long* s, int n);
    [DllImport(Lib)] internal static extern TensorHandle ck_reshape(TensorHandle a, long* s, int n);
    [DllImport(Lib)] internal static extern TensorHandle ck_flatten(TensorHandle a, long start, long end);
    [DllImport(Lib)] internal static extern TensorHandle ck_permute(TensorHandle a, long* s, int n);
    [DllImport(Lib)] internal static extern TensorHandle ck_transpose(TensorHandle a, long d0, long d1);
    [DllImport(Lib)] internal static extern TensorHandle ck_unsqueeze(TensorHandle a, long d);
    [DllImport(Lib)] internal static extern TensorHandle ck_squeeze(TensorHandle a, long d, int hasDim);
    [DllImport(Lib)] internal static extern TensorHandle ck_expand(TensorHandle a, long* s, int n);
    [DllImport(Lib)] internal static extern TensorHandle ck_repeat(TensorHandle a, long* s, int n);
    [DllImport(Lib)] internal static extern TensorHandle ck_narrow(TensorHandle a, long d, long start, long len);
    [DllImport(Lib)] internal static extern TensorHandle ck_select(TensorHandle a, long d, long i);
    [DllImport(Lib)] internal static extern TensorHandle ck_slice(TensorHandle a, long d, long start, long end, long step);
    [DllImport(Lib)] internal static extern TensorHandle ck_flip(TensorHandle a, long* s, int n);
    [DllImport(Lib)] internal static extern TensorHandle ck_cat(IntPtr* ts, int n, long d);
    [DllImport(Lib)] internal static extern TensorHandle ck_stack(IntPtr* ts, int n, long d);
    [DllImport(Lib)] internal static extern int ck_unbind(TensorHandle a, long d, IntPtr* outp);
    [DllImport(Lib)] internal static extern TensorHandle ck_index_select(TensorHandle a, long d, TensorHandle idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_gather(TensorHandle a, long d, TensorHandle idx);
    [DllImport(Lib)] internal static extern TensorHandle ck_scatter(TensorHandle a, long d, TensorHandle idx, TensorHandle src);
    [DllImport(Lib)] internal static extern TensorHandle ck_scatter_s(TensorHandle a, long d, TensorHandle idx, double v);
    [DllImport(Lib)] internal static extern int ck_sort(TensorHandle a, long d, int descending, int stable, IntPtr* outp);
    [DllImport(Lib)] internal static extern TensorHandle ck_argsort(TensorHandle a, long d, int descending);
    [DllImport(Lib)] internal static extern int ck_topk(TensorHandle a, long k, long d, int largest, int sorted, IntPtr* outp);

    // nn
    [DllImport(Lib)] internal static extern TensorHandle ck_softmax(TensorHandle a, long d);
    [DllImport(Lib)] internal static extern TensorHandle ck_log_softmax(TensorHandle a, long d);
    [DllImport(Lib)] internal static extern TensorHandle ck_layer_norm(TensorHandle x, long* shape, int n, TensorHandle w, TensorHandle b, double eps);
    [DllImport(Lib)] internal static extern int ck_add_layer_norm(TensorHandle x, TensorHandle r, long* shape, int n, TensorHandle w, TensorHandle b, double eps, IntPtr* outp);
    [DllImport(Lib)] internal static extern int ck_set_fused_layer_norm(int on);
    [DllImport(Lib)] internal static extern TensorHandle ck_dropout(TensorHandle x, double p, int train);
    [DllImport(Lib)] internal static extern TensorHandle ck_cross_entropy(TensorHandle logits, TensorHandle target, TensorHandle weight, int reduction, long ignoreIndex, double labelSmoothing);
    [DllImport(Lib)] internal static extern TensorHandle ck_mse_loss(TensorHandle a, TensorHandle b, int reduction);
    [DllImport(Lib)] internal static extern TensorHandle ck_normalize(TensorHandle x, double p, long d, double eps);
    [DllImport(Lib)] internal static extern TensorHandle ck_conv2d(TensorHandle x, TensorHandle w, TensorHandle b, long* stride, long* padding, long* dilation, long groups);
    [DllImport(Lib)] internal static extern TensorHandle ck_sdpa(TensorHandle q, TensorHandle k, TensorHandle v, TensorHandle mask, double dropoutP, int causal);
    [DllImport(Lib)] internal static extern TensorHandle ck_self_attention(TensorHandle qkv, long heads);
    [DllImport(Lib)] internal static extern int ck_self_attention_fused(TensorHandle qkv);
    [DllImport(Lib)] internal static extern int ck_set_fused_attention(int on);
    [DllImport(Lib)] internal static extern int ck_set_attention_kernel(int on);
    [DllImport(Lib)] internal static extern int ck_set_dnnl_linear(int on);
    [DllImport(Lib)] internal static extern int ck_set_linear_gelu(int on);

    [DllImport(Lib)] internal static extern TensorHandle ck_affine_grid(TensorHandle theta, long* size, int n, int alignCorners);
    [DllImport(Lib)] internal static extern TensorHandle ck_grid_sample(TensorHandle input, TensorHandle grid, int mode, int padding, int alignCorners);

    // optimisers
    [DllImport(Lib)] internal static extern int ck_adamw_step(IntPtr* p, IntPtr* m, IntPtr* v, int n, double lr, double b1, double b2, double eps, double wd, long step);
    [DllImport(Lib)] internal static extern int ck_sgd_step(IntPtr* p, IntPtr* bufs, int n, double lr, double momentum, double dampening, double wd, int nesterov, int firstStep);
    [DllImport(Lib)] internal static extern double ck_clip_grad_norm(IntPtr* p, int n, double maxNorm, double normType, out int status);
}
