using CanKit.Evaluation;
using Xunit;

namespace CanKit.Tests;

public sealed class EvaluationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-eval-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Class c is a Gaussian blob around a random centre; spread controls overlap.</summary>
    private static (Tensor X, Tensor Y) Blobs(int n, int classes, int d, double spread, ulong seed)
    {
        using var g = new Generator(seed);
        using var fixedCentres = new Generator(99);
        using var centres = randn([classes, d], generator: fixedCentres);                    // [C, D]
        var y = randint(0, classes, [n], generator: g);                                     // [N] int64
        using var c = centres.index_select(0, y);                                           // [N, D]
        using var noise = randn([n, d], generator: g);
        return (c + noise * spread, y);
    }

    [Fact]
    public void KnnMatchesAHandWrittenReference()
    {
        var (xtr, ytr) = Blobs(60, 3, 5, 1.5, 1);
        var (xte, yte) = Blobs(25, 3, 5, 1.5, 2);
        using (xtr) using (ytr) using (xte) using (yte)
        {
            const int k = 7, classes = 3;
            const double t = 0.1;
            float[] a = xtr.data<float>().ToArray(), b = xte.data<float>().ToArray();
            long[] la = ytr.data<long>().ToArray(), lb = yte.data<long>().ToArray();
            int correct = 0;
            for (int i = 0; i < 25; i++)
            {
                var sims = Enumerable.Range(0, 60).Select(j => (j, s: Cos(b.AsSpan(i * 5, 5), a.AsSpan(j * 5, 5)))).OrderByDescending(p => p.s).Take(k);
                var votes = new double[classes];
                foreach (var (j, s) in sims) votes[la[j]] += Math.Exp(s / t);
                if (Array.IndexOf(votes, votes.Max()) == lb[i]) correct++;
            }
            Assert.Equal(correct / 25.0, KnnClassifier.Accuracy(xtr, ytr, xte, yte, classes, k, t, chunk: 10), 12);
        }

        static double Cos(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
        {
            double dot = 0, np = 0, nq = 0;
            for (int i = 0; i < p.Length; i++) { dot += p[i] * q[i]; np += p[i] * p[i]; nq += q[i] * q[i]; }
            return dot / Math.Sqrt(np * nq);
        }
    }

    [Fact]
    public void LinearProbeSeparatesSeparableClassesAndNotNoise()
    {
        var (xtr, ytr) = Blobs(2000, 4, 16, 0.3, 3);
        var (xte, yte) = Blobs(500, 4, 16, 0.3, 4);
        using (xtr) using (ytr) using (xte) using (yte)
        {
            var r = LinearProbe.Run(xtr, ytr, xte, yte, classes: 4, epochs: 10, batchSize: 256, lr: 1e-2);
            Assert.True(r.TestAccuracy > 0.98, $"separable blobs: {r.TestAccuracy:P1}");
            using var g5 = new Generator(5);
            using var noise = randn([500, 16], generator: g5);
            var chance = LinearProbe.Run(xtr, ytr, noise, yte, classes: 4, epochs: 10, batchSize: 256, lr: 1e-2);
            Assert.InRange(chance.TestAccuracy, 0.1, 0.45);
        }
    }

    [Fact]
    public void FineTuningLearnsAnEasyImageTask()
    {
        // Class 0: dark images, class 1: bright images, with pixel noise.
        static CanKit.Data.ImageSet Make(int n, int seed)
        {
            var rng = new Random(seed);
            var labels = Enumerable.Range(0, n).Select(i => i % 2).ToArray();
            var px = new byte[n * 3 * 16 * 16];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < 768; j++) px[i * 768 + j] = (byte)Math.Clamp((labels[i] == 0 ? 70 : 180) + rng.Next(-60, 60), 0, 255);
            return new CanKit.Data.ImageSet("dark-bright", px, labels, 3, 16, 16, ["dark", "bright"], CanKit.Data.Normalization.Cifar10);
        }
        using var g = new Generator(1);
        using var enc = new CanKit.Vision.VisionTransformer(new CanKit.Vision.VitConfig { ImageSize = 16, PatchSize = 4, Width = 32, Depth = 1, Heads = 2 }, g);
        var r = FineTune.Run(enc, Make(256, 1), Make(64, 2), CPU, epochs: 2, batchSize: 32, lr: 1e-3);
        Assert.True(r.TestAccuracy > 0.95, $"fine-tuned top-1 {r.TestAccuracy:P1}");
    }

    [Fact]
    public void FeatureCacheIsReusedOnlyForTheSameKey()
    {
        string file = Path.Combine(_dir, "features.safetensors");
        int calls = 0;
        (Tensor, Tensor) Make() { calls++; return (full([3, 2], calls, ScalarType.Float32), zeros([3], ScalarType.Int64)); }
        var (f1, l1) = Features.Cached(file, "step-10/train", Make);
        var (f2, l2) = Features.Cached(file, "step-10/train", Make);
        var (f3, l3) = Features.Cached(file, "step-20/train", Make);
        Assert.Equal(2, calls);
        Assert.Equal(f1.data<float>().ToArray(), f2.data<float>().ToArray());
        Assert.Equal(Enumerable.Repeat(1f, 6), f2.data<float>().ToArray());
        Assert.Equal(Enumerable.Repeat(2f, 6), f3.data<float>().ToArray());
        foreach (var t in new[] { f1, l1, f2, l2, f3, l3 }) t.Dispose();
    }
}
