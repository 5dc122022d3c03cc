using System.CommandLine;
using System.Diagnostics;
using CanKit.Data;
using CanKit.Nn;
using CanKit.Optim;

namespace CanKit.Cli;

/// <summary>`cankit demo`: trains a small MLP classifier on Fashion-MNIST and prints its loss falling.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "training steps", DefaultValueFactory = _ => 400 };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 128 };
        var data = new Option<string>("--data") { Description = "folder with the Fashion-MNIST idx files", DefaultValueFactory = _ => FashionMnist.DefaultRoot };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var cmd = new Command("demo", "train a small MLP on Fashion-MNIST and print its loss falling") { steps, batch, data, seed };
        cmd.SetAction(r => Run(r.GetValue(steps), r.GetValue(batch), r.GetValue(data)!, r.GetValue(seed)));
        return cmd;
    }

    private static int Run(int steps, int batch, string root, ulong seed)
    {
        if (steps <= 0) { Console.Error.WriteLine("--steps must be > 0"); return 2; }
        if (batch <= 0) { Console.Error.WriteLine("--batch must be > 0"); return 2; }
        Console.WriteLine($"CanKit demo · libtorch {Torch.LibTorchVersion} · {Torch.NumThreads} threads");
        FashionMnist train, test;
        try
        {
            train = FashionMnist.Load(train: true, root);
            test = FashionMnist.Load(train: false, root);
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        Console.WriteLine($"Fashion-MNIST: {train.Count} train / {test.Count} test images from {root}");

        using var gen = new Generator(seed);
        using var model = new Sequential(new Linear(784, 256, generator: gen), new ReLU(), new Linear(256, 10, generator: gen));
        using var opt = new AdamW(AdamW.DecayGroups(model, 0.01), lr: 2e-3);
        var schedule = new WarmupCosineSchedule(2e-3, warmupSteps: steps / 20, totalSteps: steps, minLr: 1e-5);
        var rng = new Random((int)seed);
        int[] order = Enumerable.Range(0, train.Count).ToArray();
        rng.Shuffle(order);
        int cursor = 0;
        var clock = Stopwatch.StartNew();
        double running = 0, first = 0;
        int logEvery = Math.Max(1, steps / 16);
        for (int step = 0; step < steps; step++)
        {
            using var scope = Torch.NewDisposeScope();
            if (cursor + batch > order.Length) { rng.Shuffle(order); cursor = 0; }
            var (x, y) = train.Batch(order.AsSpan(cursor, batch));
            cursor += batch;
            schedule.Apply(opt, step);
            opt.ZeroGrad();
            var loss = Functional.CrossEntropy(model.Forward(x.Flatten(1)), y);
            loss.Backward();
            opt.Step();
            double l = loss.Item<float>();
            running = step == 0 ? l : 0.9 * running + 0.1 * l;
            if (step == 0) first = l;
            if (step % logEvery == 0 || step == steps - 1)
                Console.WriteLine($"step {step + 1,5}/{steps}  loss {l:F4}  (smoothed {running:F4})  lr {opt.LearningRate:0.00e+00}  {(step + 1) * batch / clock.Elapsed.TotalSeconds:F0} img/s");
        }

        double acc = Accuracy(model, test);
        Console.WriteLine($"test accuracy {acc:P2} after {steps} steps in {clock.Elapsed.TotalSeconds:F1} s");
        // The demo's own check: training must have lowered the loss and beaten chance (10 %) clearly.
        bool ok = running < 0.5 * first && acc > 0.5;
        Console.WriteLine(ok ? $"check passed: loss fell from {first:F3} to {running:F3}" : $"check FAILED: loss {first:F3} → {running:F3}, accuracy {acc:P1}");
        return ok ? 0 : 1;
    }

    private static double Accuracy(Sequential model, FashionMnist data)
    {
        using var noGrad = Torch.NoGrad();
        model.Eval();
        long correct = 0;
        int[] all = Enumerable.Range(0, data.Count).ToArray();
        for (int i = 0; i < data.Count; i += 1000)
        {
            using var scope = Torch.NewDisposeScope();
            var (x, y) = data.Batch(all.AsSpan(i, Math.Min(1000, data.Count - i)));
            correct += model.Forward(x.Flatten(1)).ArgMax(1).Eq(y).Sum().Item<long>();
        }
        model.Train();
        return (double)correct / data.Count;
    }
}
