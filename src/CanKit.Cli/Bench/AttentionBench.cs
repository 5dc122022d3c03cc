using System.CommandLine;
using System.Diagnostics;
using CanKit.Nn;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench attention`: self-attention forward + backward at the reference encoder and decoder shapes, three
/// ways in alternating rounds (fused with the AVX2 kernel, fused with one BLAS call per product, composed from
/// libtorch ops), as GFLOP/s of the attention products.
/// </summary>
internal static class AttentionBench
{
    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 5 };
        var reps = new Option<int>("--reps") { Description = "forward+backward passes per round per variant", DefaultValueFactory = _ => 5 };
        var only = new Option<string?>("--only") { Description = "run one variant: kernel, blas or composed (e.g. under a profiler)" };
        var cmd = new Command("attention", "fused vs composed self-attention, forward + backward, side by side") { rounds, reps, only };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(reps), r.GetValue(only))));
        return cmd;
    }

    private static int Run(int rounds, int reps, string? only)
    {
        if (rounds < 1 || reps < 1) throw new ArgumentException("--rounds and --reps must be ≥ 1");
        var shapes = new (string Name, int N, int L, int Heads, int Hd)[]
        {
            ("encoder 128×32 tokens, 3×64", 128, 32, 3, 64),
            ("decoder 128×64 tokens, 4×32", 128, 64, 4, 32),
            ("SimCLR encoder 128×64 tokens, 3×64", 128, 64, 3, 64),
        };
        var all = new (string Key, string Name, bool Fused, bool Kernel)[] { ("kernel", "fused, AVX2 kernel", true, true), ("blas", "fused, BLAS", true, false), ("composed", "composed", false, true) };
        var variants = all.Where(v => only is null || v.Key == only).Select(v => (v.Name, v.Fused, v.Kernel)).ToArray();
        if (variants.Length == 0) throw new ArgumentException($"--only must be kernel, blas or composed (got {only})");
        Console.WriteLine($"self-attention forward + backward, {Torch.NumThreads} threads; {rounds} rounds × {reps} passes, medians");
        var table = new MarkdownTable(["shape", .. variants.Select(v => v.Name + " ms"), "GFLOP/s (first)", "last / first"]);
        table.RightAligned.UnionWith(Enumerable.Range(1, variants.Length + 2));
        using var g = new Generator(0);
        foreach (var s in shapes)
        {
            using var x = Tensor.Randn([s.N, s.L, 3 * s.Heads * s.Hd], g).RequiresGrad_();
            var times = variants.Select(_ => new List<double>()).ToArray();
            for (int r = 0; r < rounds + 1; r++)   // round 0 warms up
                for (int v = 0; v < variants.Length; v++)
                {
                    using var fused = Torch.Override(EngineSetting.FusedAttention, variants[v].Fused);
                    using var kernel = Torch.Override(EngineSetting.AttentionKernel, variants[v].Kernel);
                    var one = new List<double>();
                    for (int i = 0; i < reps; i++)
                    {
                        using var scope = Torch.NewDisposeScope();
                        var sw = Stopwatch.StartNew();
                        Functional.SelfAttention(x, s.Heads).Sum().Backward();
                        one.Add(sw.Elapsed.TotalMilliseconds);
                        x.ZeroGrad();
                    }
                    if (r > 0) times[v].Add(one.Order().ElementAt(one.Count / 2));
                }
            double[] med = times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
            double flops = 3.0 * 4.0 * s.N * s.Heads * s.L * s.L * s.Hd;   // 2 products × 2 FLOP, forward + 2× backward
            table.Add([s.Name, .. med.Select(m => $"{m:F2}"), $"{flops / med[0] / 1e6:F1}", $"{med[^1] / med[0]:F2}"]);
        }
        Console.Write(table);
        return 0;
    }
}
