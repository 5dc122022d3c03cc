using CanKit.Nn;

namespace CanKit.Evaluation;

/// <summary>
/// Weighted k-nearest-neighbour classification on cosine similarity (Wu et al. 2018, as DINO evaluates): each of
/// the k nearest training features votes for its class with weight exp(similarity / T).
/// </summary>
public static class KnnClassifier
{
    public static double Accuracy(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, int k = 20, double temperature = 0.07, int chunk = 512)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "must be > 0");
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be > 0");
        using var noGrad = Torch.NoGrad();
        using var outer = Torch.NewDisposeScope();
        var train = Functional.Normalize(trainX, 2, 1);                                 // [Ntr, D]
        var trainT = train.T();                                                        // [D, Ntr]
        var test = Functional.Normalize(testX, 2, 1);                                  // [Nte, D]
        long n = test.Size(0), kk = Math.Min(k, train.Size(0)), correct = 0;
        for (long i = 0; i < n; i += chunk)
        {
            using var scope = Torch.NewDisposeScope();
            long b = Math.Min(chunk, n - i);
            var sim = test.Narrow(0, i, b).MatMul(trainT);                            // [b, Ntr]
            var (top, idx) = sim.TopK(kk, 1);                                          // [b, k]
            var neighbourLabels = trainY.IndexSelect(0, idx.Reshape(-1)).Reshape(b, kk);  // [b, k]
            var weights = (top / temperature).Exp();                                   // [b, k]
            var votes = Tensor.Zeros([b, kk, classes], weights.DType)
                .Scatter(2, neighbourLabels.Unsqueeze(2), weights.Unsqueeze(2))         // [b, k, C] one-hot · weight
                .Sum(1);                                                               // [b, C]
            correct += votes.ArgMax(1).Eq(testY.Narrow(0, i, b)).Sum().Item<long>();
        }
        return (double)correct / n;
    }
}
