using CanKit.Nn;
using CanKit.Optim;

namespace CanKit.Evaluation;

/// <summary>
/// Linear probe on frozen features: features standardised with the training set's mean and std (MAE's
/// parameter-free BatchNorm before the head), one Linear layer trained with AdamW + cosine on mini-batches,
/// top-1 on the test split.
/// </summary>
public static class LinearProbe
{
    public sealed record Result(double TrainAccuracy, double TestAccuracy, int Epochs);

    public static Result Run(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, int epochs = 30, int batchSize = 1024,
                             double lr = 1e-3, double weightDecay = 1e-4, ulong seed = 0)
    {
        using var outer = Torch.NewDisposeScope();
        var mean = trainX.Mean(0, keepDim: true);
        var std = trainX.Std(0, keepDim: true) + 1e-6;
        var xtr = (trainX - mean) / std;
        var xte = (testX - mean) / std;
        long n = xtr.Size(0), d = xtr.Size(1);
        // Small feature sets still get at least 16 steps per epoch.
        batchSize = (int)Math.Max(1, Math.Min(batchSize, Math.Max(64, n / 16)));
        using var g = new Generator(seed);
        using var head = new Linear(d, classes, generator: g);
        using var opt = new AdamW(head.Parameters(), lr: lr, weightDecay: weightDecay);
        long stepsPerEpoch = Math.Max(1, n / batchSize), total = stepsPerEpoch * epochs;
        var schedule = new WarmupCosineSchedule(lr, 0, total);
        long step = 0;
        for (int e = 0; e < epochs; e++)
        {
            using var perm = Tensor.RandPerm(n, g);
            for (long b = 0; b < stepsPerEpoch; b++)
            {
                using var scope = Torch.NewDisposeScope();
                var idx = perm.Narrow(0, b * batchSize, Math.Min(batchSize, n - b * batchSize));
                schedule.Apply(opt, step++);
                opt.ZeroGrad();
                var loss = Functional.CrossEntropy(head.Forward(xtr.IndexSelect(0, idx)), trainY.IndexSelect(0, idx));
                loss.Backward();
                opt.Step();
            }
        }
        return new Result(Accuracy(head, xtr, trainY), Accuracy(head, xte, testY), epochs);
    }

    private static double Accuracy(Linear head, Tensor x, Tensor y)
    {
        using var noGrad = Torch.NoGrad();
        using var scope = Torch.NewDisposeScope();
        return head.Forward(x).ArgMax(1).Eq(y).To(DType.Float64).Mean().Item<double>();
    }
}
