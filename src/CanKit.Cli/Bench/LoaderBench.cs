using System.CommandLine;
using System.Diagnostics;
using CanKit.Augment;
using CanKit.Data;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Training;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench loader`: images per second the input pipeline delivers (prefetching loader + CAN's two-view
/// augmentation on the training device) against images per second the reference CAN step consumes, in
/// alternating rounds. The goal is a ratio of at least 5, so data never limits training.
/// </summary>
internal static class LoaderBench
{
    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "images per batch", DefaultValueFactory = _ => 64 };
        var cmd = new Command("loader", "input pipeline throughput vs the reference CAN step's consumption") { rounds, batch };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(batch))));
        return cmd;
    }

    private static int Run(int rounds, int batch)
    {
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {rounds})");
        if (batch < 2) throw new ArgumentException($"--batch must be ≥ 2 (got {batch})");
        // CIFAR-sized uint8 images (the reference step's input); synthetic so the benchmark needs no download.
        var px = new byte[4096 * 3 * 32 * 32];
        new Random(0).NextBytes(px);
        var data = new ImageSet("cifar-sized", px, new int[4096], 3, 32, 32, ["x"], Normalization.Cifar10);
        using var g = new Generator(0);
        using var can = new Can(CanConfig.Paper, g);
        using var opt = optim.AdamW(WeightDecayGroups.Split(can, 0.05, "pos_embed", "mask_token"), lr: 1e-4);
        using var loader = new BatchLoader(data, batch, 0, new DataPosition(0, 0));
        using (var first = loader.Next().Images)
        {
            var (w1, w2) = TwoViewPipeline.Can.Apply(first, data.Normalization, 32, g);
            w1.Dispose();
            w2.Dispose();
        }

        var pipe = new List<double>();
        var step = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            int batches = 20;
            for (int i = 0; i < batches; i++)
            {
                using var scope = torch.NewDisposeScope();
                var (raw, _) = loader.Next();
                TwoViewPipeline.Can.Apply(raw, data.Normalization, 32, g);
            }
            pipe.Add(batches * batch / sw.Elapsed.TotalSeconds);

            using var stepImages = loader.Next().Images;
            var (v1, v2) = TwoViewPipeline.Can.Apply(stepImages, data.Normalization, 32, g);
            using (v1) using (v2)
            {
                sw.Restart();
                for (int i = 0; i < 2; i++)
                {
                    using var scope = torch.NewDisposeScope();
                    opt.zero_grad();
                    can.Forward(v1, v2, g).Loss.backward();
                    opt.step();
                }
            }
            step.Add(2 * batch / sw.Elapsed.TotalSeconds);
            Console.WriteLine($"round {r + 1}/{rounds}: pipeline {pipe[^1]:F0} images/s, CAN step consumes {step[^1]:F0} images/s");
        }
        double p = SideBySide.MedianOf(pipe), s = SideBySide.MedianOf(step);
        Console.WriteLine($"pipeline / consumption = {p / s:F1}× (goal ≥ 5×)");
        return 0;
    }
}
