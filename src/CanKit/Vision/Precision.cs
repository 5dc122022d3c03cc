namespace CanKit.Vision;

/// <summary>
/// The arithmetic of a model's matrix products. TorchSharp 0.107 has no autocast, so CanKit's mixed precision is an
/// explicit policy, applied in one place (<see cref="PrecisionPolicy"/>) that the ViT's layers call:
/// <list type="bullet">
/// <item>parameters, AdamW's moments and the gradients that reach the parameters stay float32 (master weights);</item>
/// <item>with <see cref="BFloat16"/> the matrix products (linear layers, the patch projection, both attention products)
///   read bf16 copies of their inputs and weights and accumulate in float32 inside the kernel;</item>
/// <item>LayerNorm, the residual stream, the attention softmax (<see cref="PrecisionPolicy.Attention"/>), losses and
///   InfoNCE logits stay float32.</item>
/// </list>
/// bf16 keeps float32's exponent and 8 significant bits (unit roundoff u = 2⁻⁸), so each product's result is good to
/// about u relative to the size of its terms.
/// </summary>
public enum Precision
{
    /// <summary>float32 everywhere: the reference arithmetic, bit-identical to CanKit without a policy.</summary>
    Float32,

    /// <summary>bf16 products with float32 master weights, norms and losses. Faster only where the device computes bf16
    /// natively (CPUs with avx512_bf16 or AMX, CUDA GPUs); measure with <c>cankit bench precision</c>.</summary>
    BFloat16,
}

/// <summary>
/// Where the casts of <see cref="Precision"/> happen. A bf16 product casts its float32 inputs and weights down
/// (<c>.to(bfloat16)</c>; autograd casts their gradients back up, so the parameters receive float32 gradients) and,
/// at the end of a run of products, casts the result back to float32 before it meets a norm or the residual stream.
/// </summary>
public static class PrecisionPolicy
{
    /// <summary>The dtype the products compute in.</summary>
    public static ScalarType ComputeType(this Precision precision) =>
        precision == Precision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>
    /// <paramref name="layer"/> applied in <paramref name="precision"/>'s compute dtype: [.., in] → [.., out], left in
    /// that dtype so that a following product (attention after qkv, fc2 after fc1) needs no cast. Float32 is the
    /// layer's own call, unchanged.
    /// </summary>
    public static Tensor LinearCompute(Linear layer, Tensor x, Precision precision)
    {
        if (precision == Precision.Float32) return layer.call(x);
        using var xc = x.to(ScalarType.BFloat16);
        using var w = layer.weight!.to(ScalarType.BFloat16);       // a bf16 copy of the float32 master weight
        using var b = layer.bias?.to(ScalarType.BFloat16);
        return nn.functional.linear(xc, w, b);                      // oneDNN/cuBLAS: bf16 in, float32 accumulation, bf16 out
    }

    /// <summary><see cref="LinearCompute"/> with the result back in float32: [.., in] → [.., out] float32.</summary>
    public static Tensor Linear(Linear layer, Tensor x, Precision precision)
    {
        if (precision == Precision.Float32) return layer.call(x);
        using var y = LinearCompute(layer, x, precision);
        return y.to(ScalarType.Float32);
    }

    /// <summary>A p×p, stride-p patch projection in <paramref name="precision"/>: [N, C, H, W] → [N, D, h, w] float32.</summary>
    public static Tensor PatchConv(Conv2d layer, Tensor images, long patchSize, Precision precision)
    {
        if (precision == Precision.Float32) return layer.call(images);
        using var xc = images.to(ScalarType.BFloat16);
        using var w = layer.weight!.to(ScalarType.BFloat16);
        using var b = layer.bias?.to(ScalarType.BFloat16);
        using var y = nn.functional.conv2d(xc, w, b, strides: [patchSize, patchSize]);
        return y.to(ScalarType.Float32);
    }

    /// <summary>
    /// Why <see cref="Precision.BFloat16"/> is not offered on <paramref name="device"/>, or null when it is: on a CPU
    /// only with native bf16 (<see cref="Engine.CpuFeatures.NativeBf16Flags"/>); elsewhere bf16 is emulated and slower
    /// than float32. CUDA GPUs compute bf16 natively.
    /// </summary>
    public static string? Bf16Unavailable(Device device) => device.type switch
    {
        DeviceType.CUDA => null,
        DeviceType.CPU when Engine.CpuFeatures.HasNativeBf16 => null,
        DeviceType.CPU => $"this CPU has no native bf16 ({string.Join(" or ", Engine.CpuFeatures.NativeBf16Flags)} missing from the flags in " +
                          "/proc/cpuinfo), where bf16 products are slower than float32; train in float32",
        _ => $"bf16 products are not supported on {device.type}",
    };

    /// <summary>
    /// The precision a run gets when none is asked for: <see cref="Precision.BFloat16"/> where the device computes bf16
    /// natively (CUDA; CPUs with avx512_bf16 or AMX), float32 elsewhere. On a 2-core avx512_bf16 CPU the policy's CAN
    /// step took 0.37–0.39× the float32 step and the main job's linear probe moved by 0.08 points (docs/performance.md).
    /// </summary>
    public static Precision Default(Device device) => Bf16Unavailable(device) is null ? Precision.BFloat16 : Precision.Float32;

    /// <summary>
    /// A precision by name: <c>auto</c> (<see cref="Default"/> for <paramref name="device"/>), <c>fp32</c> or <c>bf16</c>
    /// (whether the device supports it is <see cref="Bf16Unavailable"/>'s question, asked where the run is checked).
    /// </summary>
    public static Precision Parse(string name, Device device) => name.Trim().ToLowerInvariant() switch
    {
        "auto" => Default(device),
        "fp32" or "float32" => Precision.Float32,
        "bf16" or "bfloat16" => Precision.BFloat16,
        _ => throw new ArgumentException($"unknown precision '{name}' (expected auto, fp32 or bf16)"),
    };

    /// <summary>
    /// softmax(q·kᵀ/√hd)·v for q, k, v [N, H, L, hd] in <paramref name="precision"/>'s compute dtype → [N, H, L, hd] in
    /// that dtype. Float32, and bf16 on CUDA (fused flash / memory-efficient kernels): <c>scaled_dot_product_attention</c>.
    /// bf16 on a CPU: the two products as bf16 matmuls around a float32 softmax — at the reference shapes
    /// ([128, 3, 32, 64], forward + backward) libtorch 2.10's bf16 SDPA took 4.3× the float32 SDPA's time on an
    /// avx512_bf16 CPU, and this form 0.74× (<c>cankit bench precision</c>, docs/performance.md).
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, Precision precision)
    {
        if (precision == Precision.Float32 || q.device.type == DeviceType.CUDA)
            return nn.functional.scaled_dot_product_attention(q, k, v);
        using var kt = k.transpose(-2, -1);                                // [N, H, hd, L]
        using var raw = q.matmul(kt);                                      // [N, H, L, L] bf16 (float32 accumulation)
        using var scores = raw.to(ScalarType.Float32);
        using var scaled = scores * (1.0 / Math.Sqrt(q.size(-1)));         // the 1/√hd scale in float32
        using var weights = scaled.softmax(-1);                            // float32: max and sum in float32
        using var wc = weights.to(q.dtype);
        return wc.matmul(v);                                               // [N, H, L, hd] bf16
    }
}
