using CanKit.Data;
using CanKit.Vision;

namespace CanKit.Evaluation;

/// <summary>
/// The online kNN monitor: the weighted k-NN top-1 (<see cref="KnnClassifier"/>) of an encoder's frozen features on a
/// fixed small labelled subset, cheap enough to measure every few hundred steps, so a run shows its representations
/// improve while it trains (solo-learn and lightly monitor the same way). It draws no random numbers, so a run with a
/// monitor trains exactly as one without.
/// </summary>
public sealed class KnnMonitor
{
    private readonly ImageSet _bank, _queries;
    private readonly int _k;
    private readonly double _temperature;

    /// <param name="bank">Labelled images whose features vote.</param>
    /// <param name="queries">Labelled images that are classified (disjoint from the bank).</param>
    /// <param name="k">Neighbours that vote (at most the bank's size).</param>
    /// <param name="temperature">Vote temperature T: each neighbour votes exp(cosine / T).</param>
    public KnnMonitor(ImageSet bank, ImageSet queries, int k = 20, double temperature = 0.07)
    {
        if (bank.Count < 1 || queries.Count < 1)
            throw new ArgumentException($"the monitor needs images in both sets; got {bank.Count} bank and {queries.Count} query images");
        if (k <= 0 || k > bank.Count) throw new ArgumentOutOfRangeException(nameof(k), k, $"must be in [1, {bank.Count}] (the bank's size)");
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite number > 0");
        (_bank, _queries, _k, _temperature) = (bank, queries, k, temperature);
    }

    /// <summary>
    /// The first <paramref name="bank"/> images of <paramref name="train"/> vote for its last <paramref name="queries"/>
    /// (fewer of each when the set is small; never the test split, so nothing chosen by looking at it touches the test split).
    /// </summary>
    public static KnnMonitor FromTraining(ImageSet train, int bank = 5000, int queries = 1000, int k = 20)
    {
        if (train.Count < 2) throw new ArgumentException($"{train.Name}: the monitor needs at least 2 training images, got {train.Count}");
        int q = Math.Clamp(queries, 1, train.Count / 2), b = Math.Clamp(bank, 1, train.Count - q);
        return new KnnMonitor(train.Take(b), train.Skip(train.Count - q), Math.Min(k, b));
    }

    public int BankSize => _bank.Count;
    public int QuerySize => _queries.Count;

    /// <summary>The same k-NN on the raw pixels (<see cref="Features.Pixels"/>): the monitor's line to beat.</summary>
    public double PixelTop1()
    {
        var (xb, yb) = Features.Pixels(_bank);
        var (xq, yq) = Features.Pixels(_queries);
        using (xb) using (yb) using (xq) using (yq)
            return KnnClassifier.Accuracy(xb, yb, xq, yq, _bank.ClassNames.Count, _k, _temperature);
    }

    /// <summary>k-NN top-1 of <paramref name="encoder"/>'s features on the queries (its training mode is restored).</summary>
    public double Measure(VisionTransformer encoder, Device device)
    {
        var (xb, yb) = Features.Extract(encoder, _bank, device);
        var (xq, yq) = Features.Extract(encoder, _queries, device);
        using (xb) using (yb) using (xq) using (yq)
            return KnnClassifier.Accuracy(xb, yb, xq, yq, _bank.ClassNames.Count, _k, _temperature);
    }
}
