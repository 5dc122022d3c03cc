using System.Globalization;
using System.Text;

namespace CanKit;

// PyTorch-like printing (torch/_tensor_str.py): elements padded to one width, rows wrapped at 80 columns,
// summarised past 1000 elements with the first and last 3 items of each dim, suffixes device, dtype, requires_grad.
public sealed partial class Tensor
{
    private const int SummariseAbove = 1000;
    private const int EdgeItems = 3;
    private const int LineWidth = 80;
    private const string Prefix = "tensor(";

    public override string ToString()
    {
        if (IsDisposed) return "tensor(<disposed>)";
        long[] shape = Shape;
        DType dt = DType;
        double[] values;
        using (var host = To(Device.Cpu, DType.Float64))
            values = host.ToArray<double>();
        bool summarise = values.Length > SummariseAbove;

        var sb = new StringBuilder(Prefix);
        var suffixes = new List<string>();
        if (Device.IsCuda) suffixes.Add($"device='{Device}'");
        if (values.Length == 0)
        {
            sb.Append("[]");
            if (shape.Length != 1) suffixes.Add("size=(" + string.Join(", ", shape) + ")");
            if (dt != DType.Float32) suffixes.Add("dtype=torch." + dt.TorchName());
        }
        else
        {
            // As PyTorch, the number format and the width are chosen from the elements that are shown.
            double[] shown = shape.Length == 0 ? values : ShownIndices(shape, 0, 0, summarise).Select(i => values[i]).ToArray();
            Func<double, string> fmt = Formatter(dt, shown);
            // For floats PyTorch sizes the column from the finite non-zero elements only (nan, inf are not padded).
            var sized = dt.IsFloatingPoint() ? shown.Where(v => double.IsFinite(v) && v != 0).DefaultIfEmpty(0) : shown;
            int width = sized.Max(v => fmt(v).Length);
            if (shape.Length == 0) sb.Append(fmt(values[0]));
            else AppendDim(sb, values, shape, 0, 0, summarise, v => fmt(v).PadLeft(width), width, Prefix.Length);
            if (dt != DType.Float32 && dt != DType.Int64 && dt != DType.Bool) suffixes.Add("dtype=torch." + dt.TorchName());
        }
        if (RequiresGrad) suffixes.Add("requires_grad=True");
        foreach (string s in suffixes) sb.Append(", ").Append(s);
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

    /// <summary>The positions printed along one dim: all, or the first and last <see cref="EdgeItems"/>.</summary>
    private static IEnumerable<long> ShownRows(long n, bool summarise) =>
        summarise && n > 2 * EdgeItems
            ? Enumerable.Range(0, EdgeItems).Select(i => (long)i).Concat(Enumerable.Range(0, EdgeItems).Select(i => n - EdgeItems + i))
            : Enumerable.Range(0, checked((int)n)).Select(i => (long)i);

    private static long Stride(long[] shape, int dim)
    {
        long stride = 1;
        for (int d = dim + 1; d < shape.Length; d++) stride *= shape[d];
        return stride;
    }

    /// <summary>Flat indices of the printed elements, in print order.</summary>
    private static IEnumerable<long> ShownIndices(long[] shape, int dim, long offset, bool summarise)
    {
        long stride = Stride(shape, dim);
        foreach (long i in ShownRows(shape[dim], summarise))
        {
            if (dim == shape.Length - 1) yield return offset + i;
            else foreach (long j in ShownIndices(shape, dim + 1, offset + i * stride, summarise)) yield return j;
        }
    }

    private static void AppendDim(StringBuilder sb, double[] v, long[] shape, int dim, long offset, bool summarise,
                                  Func<double, string> cell, int width, int indent)
    {
        long n = shape[dim];
        long stride = Stride(shape, dim);
        bool cut = summarise && n > 2 * EdgeItems;
        var items = new List<string>();
        if (dim == shape.Length - 1)
        {
            foreach (long i in ShownRows(n, summarise))
            {
                if (cut && i == n - EdgeItems) items.Add(" ...");
                items.Add(cell(v[offset + i]));
            }
            // Rows wrap so that a line of elements fits in LineWidth columns.
            int perLine = Math.Max(1, (LineWidth - indent) / (width + 2));
            var lines = items.Chunk(perLine).Select(line => string.Join(", ", line));
            sb.Append('[').Append(string.Join(",\n" + new string(' ', indent + 1), lines)).Append(']');
            return;
        }
        foreach (long i in ShownRows(n, summarise))
        {
            if (cut && i == n - EdgeItems) items.Add("...");
            var sub = new StringBuilder();
            AppendDim(sub, v, shape, dim + 1, offset + i * stride, summarise, cell, width, indent + 1);
            items.Add(sub.ToString());
        }
        string separator = "," + new string('\n', shape.Length - dim - 1) + new string(' ', indent + 1);
        sb.Append('[').Append(string.Join(separator, items)).Append(']');
    }
}
