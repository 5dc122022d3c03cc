namespace CanKit.Cli.Bench;

/// <summary>
/// One measurement both engines can run: <see cref="Function"/> names the routine (the same name in
/// CanKitWorkloads.cs and torch_worker.py) and <see cref="Args"/> its integer arguments, sent verbatim.
/// </summary>
public sealed record Workload(string Key, string Label, string Function, string Unit, bool HigherIsBetter,
                              IReadOnlyDictionary<string, long> Args)
{
    /// <summary>GEMM [n, n]×[n, n] float32 in GFLOP/s, after <c>warmup</c> untimed products.</summary>
    public static Workload Gemm(long n, long reps) =>
        new("gemm", $"GEMM f32 {n}x{n}x{n}", "gemm", "GFLOP/s", true,
            new Dictionary<string, long> { ["n"] = n, ["reps"] = reps, ["warmup"] = 2 });

    /// <summary>Per-call cost of <c>a + b</c> on <paramref name="numel"/>-element tensors, in µs/op.</summary>
    public static Workload Add(long numel, long calls) =>
        new($"add{numel}", $"a + b, {numel} element{(numel == 1 ? "" : "s")}", "add", "us/op", false,
            new Dictionary<string, long> { ["numel"] = numel, ["calls"] = calls });

    /// <summary>Per-call cost of a tiny [n, n]×[n, n] matmul, in µs/op.</summary>
    public static Workload TinyMatMul(long n, long calls) =>
        new($"mm{n}", $"matmul {n}x{n}", "mm", "us/op", false,
            new Dictionary<string, long> { ["n"] = n, ["calls"] = calls });

    /// <summary>A ViT MLP block without the residual: linear [T, D]→[T, H], gelu, layer_norm, linear back, in ms/step.</summary>
    public static Workload VitMlp(long tokens, long dim, long hidden, long iters) =>
        new("vit", $"ViT MLP [{tokens},{dim}]x[{dim},{hidden}]+gelu+LN+back", "vit", "ms/step", false,
            new Dictionary<string, long> { ["tokens"] = tokens, ["dim"] = dim, ["hidden"] = hidden, ["iters"] = iters });

    /// <summary>
    /// The reference CAN training step (`bench step`'s configuration), in ms/step: one untimed step, then the median of
    /// <paramref name="steps"/> timed ones. CanKit workers only.
    /// </summary>
    public static Workload CanStep(long batch, long steps) =>
        new("can", $"CAN step, {batch} images/view", "can_step", "ms/step", false,
            new Dictionary<string, long> { ["batch"] = batch, ["steps"] = steps });

    /// <summary>What <c>bench engine</c> measures; <paramref name="quick"/> shrinks sizes for a smoke run.</summary>
    public static IReadOnlyList<Workload> EngineSet(bool quick) => quick
        ? [Gemm(256, 50), Add(1, 2_000), Add(8, 2_000), TinyMatMul(4, 2_000), VitMlp(64, 192, 768, 10)]
        : [Gemm(1024, 10), Add(1, 20_000), Add(8, 20_000), TinyMatMul(4, 20_000), VitMlp(256, 192, 768, 40)];

    /// <summary>What <c>bench threads</c> measures: the two workloads thread settings move most.</summary>
    public static IReadOnlyList<Workload> ThreadsSet(bool quick) => quick
        ? [Gemm(256, 50), VitMlp(64, 192, 768, 10)]
        : [Gemm(1024, 10), VitMlp(256, 192, 768, 40)];
}
