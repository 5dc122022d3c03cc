using CanKit.Optim;
using CanKit.Tensors;

namespace CanKit.Evaluation;

/// <summary>
/// Linear probe on frozen features: features standardised with the training set's mean and std (MAE's
/// parameter-free BatchNorm before the head), one Linear layer trained with AdamW + cosine on mini-batches,
/// top-1 on the test split.
/// </summary>
public static class LinearProbe
{
    public sealed record Result(double TrainAccuracy, double TestAccuracy, int Epochs);

    /// <summary>Features [N, D] float32 and int64 labels [N]; <paramref name="seed"/> fixes the head's initialisation and the batch order.</summary>
    public static Result Run(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, int epochs = 30, int batchSize = 1024,
                             double lr = 1e-3, double weightDecay = 1e-4, ulong seed = 0)
    {
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "must be > 0");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be > 0");
        if (trainX.dim() != 2 || testX.dim() != 2 || trainX.size(1) != testX.size(1))
            throw new ArgumentException($"features must be [N, D] with the same D; got train {Shapes.Of(trainX)}, " +
                                        $"test {Shapes.Of(testX)}", nameof(testX));
        using var outer = NewDisposeScope();
        var mean = trainX.mean([0], keepdim: true);                                           // [1, D]
        var std = trainX.std(0, keepdim: true) + 1e-6;                                        // [1, D]
        var xtr = (trainX - mean) / std;
        var xte = (testX - mean) / std;
        long n = xtr.size(0), d = xtr.size(1);
        // Small feature sets still get at least 16 steps per epoch.
        batchSize = (int)Math.Max(1, Math.Min(batchSize, Math.Max(64, n / 16)));
        using var g = new Generator(seed);
        using var head = ClassifierHead.Create(d, classes, g);
        using var opt = new AdamW(head.parameters().ToList(), lr: lr, weight_decay: weightDecay);
        long stepsPerEpoch = Math.Max(1, n / batchSize), total = stepsPerEpoch * epochs;
        var schedule = new WarmupCosineSchedule(lr, 0, total);
        long step = 0;
        for (int e = 0; e < epochs; e++)
        {
            using var perm = randperm(n, generator: g);                                      // [N]
            for (long b = 0; b < stepsPerEpoch; b++)
            {
                using var scope = NewDisposeScope();
                var idx = perm.narrow(0, b * batchSize, Math.Min(batchSize, n - b * batchSize));
                schedule.Apply(opt, step++);
                opt.zero_grad();
                var loss = nn.functional.cross_entropy(head.forward(xtr.index_select(0, idx)), trainY.index_select(0, idx));
                loss.backward();
                opt.step();
            }
        }
        return new Result(Accuracy(head, xtr, trainY), Accuracy(head, xte, testY), epochs);
    }

    private static double Accuracy(Linear head, Tensor x, Tensor y)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return head.forward(x).argmax(1).eq(y).to(ScalarType.Float64).mean().item<double>();
    }
}
