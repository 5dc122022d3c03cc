using System.Globalization;
using System.Text;

namespace CanKit;

// PyTorch-like printing: tensor([[1.0000, 2.0000], ...], dtype=..., device=...), summarised past 1000 elements.
public sealed partial class Tensor
{
    private const int SummariseAbove = 1000;
    private const int EdgeItems = 3;

    public override string ToString()
    {
        if (IsDisposed) return "tensor(<disposed>)";
        long[] shape = Shape;
        DType dt = DType;
        double[] values;
        using (var host = To(Device.Cpu, DType.Float64))
            values = host.ToArray<double>();
        bool summarise = values.Length > SummariseAbove;
        Func<double, string> fmt = Formatter(dt, values);

        var sb = new StringBuilder("tensor(");
        if (values.Length == 0) sb.Append("[]");
        else if (shape.Length == 0) sb.Append(fmt(values[0]));
        else AppendDim(sb, values, shape, 0, 0, summarise, fmt, indent: 8);
        if (values.Length == 0 || summarise) sb.Append(", size=[").Append(string.Join(", ", shape)).Append(']');
        if (dt != DType.Float32 && dt != DType.Int64 && dt != DType.Bool) sb.Append(", dtype=").Append(dt.TorchName());
        if (Device.IsCuda) sb.Append(", device='").Append(Device).Append('\'');
        if (RequiresGrad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }

    private static Func<double, string> Formatter(DType dt, double[] values)
    {
        var inv = CultureInfo.InvariantCulture;
        if (dt == DType.Bool) return v => v != 0 ? "True" : "False";
        if (!dt.IsFloatingPoint()) return v => ((long)v).ToString(inv);
        bool allIntegral = values.All(v => !double.IsFinite(v) || v == Math.Floor(v));
        double maxAbs = values.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        double minAbs = values.Where(v => double.IsFinite(v) && v != 0).Select(Math.Abs).DefaultIfEmpty(1).Min();
        bool sci = maxAbs >= 1e8 || minAbs < 1e-4 || (maxAbs / minAbs > 1000 && !allIntegral);
        return v =>
        {
            if (double.IsNaN(v)) return "nan";
            if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
            if (sci) return v.ToString("0.0000e+00", inv);
            if (allIntegral) return v.ToString("0", inv) + ".";
            return v.ToString("0.0000", inv);
        };
    }

    private static void AppendDim(StringBuilder sb, double[] v, long[] shape, int dim, long offset, bool summarise,
                                  Func<double, string> fmt, int indent)
    {
        long n = shape[dim];
        long stride = 1;
        for (int d = dim + 1; d < shape.Length; d++) stride *= shape[d];
        sb.Append('[');
        bool cut = summarise && n > 2 * EdgeItems;
        for (long i = 0; i < n; i++)
        {
            if (cut && i == EdgeItems)
            {
                sb.Append(dim == shape.Length - 1 ? "..., " : "...,\n" + new string(' ', indent + dim + 1));
                i = n - EdgeItems - 1;
                continue;
            }
            if (dim == shape.Length - 1) sb.Append(fmt(v[offset + i]));
            else AppendDim(sb, v, shape, dim + 1, offset + i * stride, summarise, fmt, indent);
            if (i < n - 1)
                sb.Append(dim == shape.Length - 1 ? ", " : ",\n" + new string('\n', shape.Length - dim - 2) + new string(' ', indent + dim + 1));
        }
        sb.Append(']');
    }
}
