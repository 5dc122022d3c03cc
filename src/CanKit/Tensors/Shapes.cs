namespace CanKit.Tensors;

/// <summary>How a tensor's shape reads in error messages: <c>[N, C, H, W]</c> with the sizes, e.g. <c>[8, 1, 28, 28]</c>.</summary>
public static class Shapes
{
    /// <summary>The sizes of <paramref name="t"/> in brackets, comma-separated: <c>[2, 3]</c>; <c>[]</c> for a scalar.</summary>
    public static string Of(Tensor t) => Of(t.shape);

    /// <summary>The sizes in brackets, comma-separated.</summary>
    public static string Of(long[] shape) => $"[{string.Join(", ", shape)}]";
}
