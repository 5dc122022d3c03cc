using CanKit.Tensors;

namespace CanKit.Evaluation;

/// <summary>
/// Weighted k-nearest-neighbour classification on cosine similarity (Wu et al. 2018, as DINO evaluates): each of
/// the k nearest training features votes for its class with weight exp(similarity / T).
/// </summary>
public static class KnnClassifier
{
    /// <summary>Top-1 of <paramref name="testX"/> [Nte, D] against <paramref name="trainX"/> [Ntr, D] with int64 labels [N].</summary>
    public static double Accuracy(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes, int k = 20, double temperature = 0.07, int chunk = 512)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "must be > 0");
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite number > 0");
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "must be > 0");
        if (trainX.dim() != 2 || testX.dim() != 2 || trainX.size(1) != testX.size(1))
            throw new ArgumentException($"features must be [N, D] with the same D; got train {Shapes.Of(trainX)}, " +
                                        $"test {Shapes.Of(testX)}", nameof(testX));
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var train = nn.functional.normalize(trainX, 2, 1);                                    // [Ntr, D]
        var trainT = train.t();                                                               // [D, Ntr]
        var test = nn.functional.normalize(testX, 2, 1);                                      // [Nte, D]
        long n = test.size(0), kk = Math.Min(k, train.size(0)), correct = 0;
        for (long i = 0; i < n; i += chunk)
        {
            using var scope = NewDisposeScope();
            long b = Math.Min(chunk, n - i);
            var sim = test.narrow(0, i, b).matmul(trainT);                                    // [b, Ntr]
            var (top, idx) = sim.topk((int)kk, 1);                                            // [b, k]
            var neighbourLabels = trainY.index_select(0, idx.reshape(-1)).reshape(b, kk);     // [b, k]
            var weights = (top / temperature).exp();                                          // [b, k]
            var votes = zeros([b, kk, classes], weights.dtype)
                .scatter(2, neighbourLabels.unsqueeze(2), weights.unsqueeze(2))               // [b, k, C] one-hot · weight
                .sum(1);                                                                      // [b, C]
            correct += votes.argmax(1).eq(testY.narrow(0, i, b)).sum().item<long>();
        }
        return (double)correct / n;
    }
}
