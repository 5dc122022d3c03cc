using System.CommandLine;
using System.Diagnostics;
using CanKit.Data;
using CanKit.Optim;

namespace CanKit.Cli;

/// <summary>`cankit demo`: trains a small MLP classifier on Fashion-MNIST and prints its loss falling.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "training steps", DefaultValueFactory = _ => 400 };
        var batch = new Option<int>("--batch") { Description = "batch size", DefaultValueFactory = _ => 128 };
        var data = new Option<string?>("--data", "--data-root")
        {
            Description = "folder with the Fashion-MNIST idx files, or a data root with a fashion-mnist/ sub-folder " +
                          "(default: $CANKIT_DATA, the per-user data folder, Debian's package; docs/data.md)",
        };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var cmd = new Command("demo", "train a small MLP on Fashion-MNIST and print its loss falling") { steps, batch, data, seed };
        cmd.SetAction(r => Run(r.GetValue(steps), r.GetValue(batch), r.GetValue(data), r.GetValue(seed)));
        return cmd;
    }

    private static int Run(int steps, int batch, string? dataRoot, ulong seed)
    {
        if (steps <= 0) { Console.Error.WriteLine($"error: --steps: must be > 0, got {steps}"); return 2; }
        if (batch <= 0) { Console.Error.WriteLine($"error: --batch: must be > 0, got {batch}"); return 2; }
        Console.WriteLine($"CanKit demo · {Cli.EngineVersion} · {torch.get_num_threads()} threads");
        FashionMnist train, test;
        string root;
        try
        {
            root = FashionMnist.Resolve(dataRoot);
            train = FashionMnist.Load(train: true, root);
            test = FashionMnist.Load(train: false, root);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)   // a missing file or folder, a malformed file
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        Console.WriteLine($"Fashion-MNIST: {train.Count} train / {test.Count} test images from {root}");

        torch.manual_seed((long)seed);   // the layers' initialisation draws from the global generator
        using var model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10));
        using var opt = optim.AdamW(WeightDecayGroups.Split(model, 0.01), lr: 2e-3);
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
            using var scope = torch.NewDisposeScope();
            if (cursor + batch > order.Length) { rng.Shuffle(order); cursor = 0; }
            var (x, y) = train.Batch(order.AsSpan(cursor, batch));   // [B, 1, 28, 28], [B]
            cursor += batch;
            double lr = schedule.Apply(opt, step);
            opt.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(x.flatten(1)), y);
            loss.backward();
            opt.step();
            double l = loss.item<float>();
            running = step == 0 ? l : 0.9 * running + 0.1 * l;
            if (step == 0) first = l;
            if (step % logEvery == 0 || step == steps - 1)
                Console.WriteLine($"step {step + 1,5}/{steps}  loss {l:F4}  (smoothed {running:F4})  " +
                                  $"lr {lr:0.00e+00}  {(step + 1) * batch / clock.Elapsed.TotalSeconds:F0} img/s");
        }

        double acc = Accuracy(model, test);
        Console.WriteLine($"test accuracy {acc:P2} after {steps} steps in {clock.Elapsed.TotalSeconds:F1} s");
        // The demo's own check: training must have lowered the loss and beaten chance (10 %) clearly.
        bool ok = running < 0.5 * first && acc > 0.5;
        Console.WriteLine(ok ? $"check passed: loss fell from {first:F3} to {running:F3}"
                             : $"check FAILED: loss {first:F3} → {running:F3}, accuracy {acc:P1}");
        return ok ? 0 : 1;
    }

    private static double Accuracy(Sequential model, FashionMnist data)
    {
        using var noGrad = torch.no_grad();
        model.eval();
        long correct = 0;
        int[] all = Enumerable.Range(0, data.Count).ToArray();
        for (int i = 0; i < data.Count; i += 1000)
        {
            using var scope = torch.NewDisposeScope();
            var (x, y) = data.Batch(all.AsSpan(i, Math.Min(1000, data.Count - i)));
            correct += model.forward(x.flatten(1)).argmax(1).eq(y).sum().item<long>();
        }
        model.train();
        return (double)correct / data.Count;
    }
}
