using System.Diagnostics;
using CanKit.Nn;

namespace CanKit.Cli.Bench;

/// <summary>
/// The CanKit side of every <see cref="Workload"/>, written the way application code would be: results are
/// disposed by a <see cref="DisposeScope"/> per batch. torch_worker.py holds the PyTorch twins; keep them in step.
/// </summary>
internal static class CanKitWorkloads
{
    /// <summary>Calls per dispose scope in the per-op loops (a training step frees its temporaries about this often).</summary>
    private const long Batch = 1000;

    public static double Run(string function, IReadOnlyDictionary<string, long> a) => function switch
    {
        "gemm" => Gemm(a["n"], a["reps"], a["warmup"]),
        "add" => Add(a["numel"], a["calls"]),
        "mm" => TinyMatMul(a["n"], a["calls"]),
        "vit" => VitMlp(a["tokens"], a["dim"], a["hidden"], a["iters"]),
        "can_step" => CanStep(a["batch"], a["steps"]),
        _ => throw new ArgumentException($"unknown workload function '{function}'", nameof(function)),
    };

    private static double Gemm(long n, long reps, long warmup)
    {
        using var scope = Torch.NewDisposeScope();
        var a = Tensor.Randn([n, n]);
        var b = Tensor.Randn([n, n]);
        for (long i = 0; i < warmup; i++) a.Mm(b).Dispose();
        var sw = Stopwatch.StartNew();
        for (long i = 0; i < reps; i++) a.Mm(b).Dispose();
        return 2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9;
    }

    private static double Add(long numel, long calls)
    {
        using var scope = Torch.NewDisposeScope();
        var a = Tensor.Randn([numel]);
        var b = Tensor.Randn([numel]);
        return PerCallMicroseconds(calls, () => _ = a + b);
    }

    private static double TinyMatMul(long n, long calls)
    {
        using var scope = Torch.NewDisposeScope();
        var a = Tensor.Randn([n, n]);
        var b = Tensor.Randn([n, n]);
        return PerCallMicroseconds(calls, () => _ = a.MatMul(b));
    }

    /// <summary>Warms up with a tenth of the calls, then times <paramref name="calls"/> calls in scoped batches.</summary>
    private static double PerCallMicroseconds(long calls, Action op)
    {
        Batched(calls / 10, op);
        var sw = Stopwatch.StartNew();
        Batched(calls, op);
        return sw.Elapsed.TotalMicroseconds / calls;
    }

    private static void Batched(long calls, Action op)
    {
        for (long done = 0; done < calls;)
        {
            long n = Math.Min(Batch, calls - done);
            using (Torch.NewDisposeScope())
                for (long i = 0; i < n; i++) op();
            done += n;
        }
    }

    /// <summary>The reference CAN step, built on the first call for each batch and kept: ms, median of the timed steps.</summary>
    private static double CanStep(long batch, long steps)
    {
        if (!Steps.TryGetValue(batch, out var step))
        {
            Steps[batch] = step = new ReferenceStep("can", checked((int)batch));
            step.Run();
        }
        var times = new double[Math.Max(1, steps)];
        for (int i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            step.Run();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        return SideBySide.MedianOf(times);
    }

    private static readonly Dictionary<long, ReferenceStep> Steps = [];

    private static double VitMlp(long tokens, long dim, long hidden, long iters)
    {
        using var scope = Torch.NewDisposeScope();
        var x = Tensor.Randn([tokens, dim]);    // [T, D]
        var w1 = Tensor.Randn([hidden, dim]) * 0.05;  // [H, D]
        var b1 = Tensor.Zeros([hidden]);
        var w2 = Tensor.Randn([dim, hidden]) * 0.05;  // [D, H]
        var b2 = Tensor.Zeros([dim]);
        var g = Tensor.Ones([hidden]);
        var beta = Tensor.Zeros([hidden]);

        void Step()
        {
            using var _ = Torch.NewDisposeScope();
            var h = Functional.Linear(x, w1, b1);  // [T, H]
            h = h.Gelu();
            h = Functional.LayerNorm(h, [hidden], g, beta);
            Functional.Linear(h, w2, b2);         // [T, D]
        }

        for (long i = 0; i < Math.Max(1, iters / 10); i++) Step();
        var sw = Stopwatch.StartNew();
        for (long i = 0; i < iters; i++) Step();
        return sw.Elapsed.TotalMilliseconds / iters;
    }
}
