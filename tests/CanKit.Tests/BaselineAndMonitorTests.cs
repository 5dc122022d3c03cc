using CanKit.Data;
using CanKit.Evaluation;
using CanKit.Methods;
using CanKit.Training;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The baselines every accuracy is shown beside (raw pixels, a supervised reference), the validation split held out of
/// the training images, and the online kNN monitor.
/// </summary>
public sealed partial class BaselineAndMonitorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-baseline-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ImageSet Random16(int n, int seed = 3, int classes = 4)
    {
        var px = new byte[n * 3 * 16 * 16];
        new Random(seed).NextBytes(px);
        return new ImageSet("synthetic", px, Enumerable.Range(0, n).Select(i => i % classes).ToArray(), 3, 16, 16,
                            Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), Normalization.Cifar10);
    }

    [Fact]
    public void PixelFeaturesAreTheNormalisedPixelsFlattened()
    {
        var data = Random16(5);
        var (x, y) = Features.Pixels(data, batchSize: 2);        // batches of 2: the parts must join in order
        using (x) using (y)
        {
            Assert.Equal(new long[] { 5, 768 }, x.shape);
            var f = x.data<float>().ToArray();
            for (int i = 0; i < 5; i++)
            {
                var img = data.Image(i);
                for (int j = 0; j < 768; j += 37)
                {
                    int c = j / 256;
                    double expected = (img[j] / 255.0 - Normalization.Cifar10.Mean[c]) / Normalization.Cifar10.Std[c];
                    // One float32 division and subtraction each: a few ulps of values below 3 in magnitude.
                    Assert.Equal(expected, f[i * 768 + j], 1e-5);
                }
            }
            Assert.Equal(new long[] { 0, 1, 2, 3, 0 }, y.data<long>().ToArray());
        }
    }

    [Fact]
    public void SkipAndTakeSplitASetWithoutOverlapOrLoss()
    {
        var data = Random16(10);
        var (head, tail) = (data.Take(7), data.Skip(7));
        Assert.Equal(7, head.Count);
        Assert.Equal(3, tail.Count);
        Assert.Equal(data.Labels[7..], tail.Labels);
        for (int i = 0; i < 3; i++) Assert.Equal(data.Image(7 + i), tail.Image(i));
        Assert.Equal(0, data.Skip(20).Count);
    }

    [Fact]
    public void AHoldoutIsTheEndOfTheTrainingSplitAndPretrainingNeverSeesIt()
    {
        string root = SyntheticData.FashionMnist(_dir, train: 60, test: 20);
        var spec = new RunSpec("can", "paper", "fashion-mnist", root, 32, 1, 2, 7, 8, 1, 1e-3, 0.05, 1.0, 0, 0, Holdout: 25);
        var (train, eval) = PretrainRun.Splits(spec);
        var full = FashionMnist.Load(true, root).ToImageSet();
        Assert.Equal(35, train.Count);
        Assert.Equal(25, eval.Count);
        Assert.Equal(35, PretrainRun.LoadTrain(spec).Count);
        for (int i = 0; i < 25; i++) Assert.Equal(full.Image(35 + i), eval.Image(i));
        // Without a holdout the evaluation split is the test split.
        Assert.Equal(20, PretrainRun.Splits(spec with { Holdout = 0 }).Eval.Count);
        var all = Assert.Throws<ArgumentOutOfRangeException>(() => PretrainRun.LoadTrain(spec with { Holdout = 60 }));
        Assert.Contains("holds out all 60 training images", all.Message);
    }

    [Fact]
    public void PixelsScoreOnTheHeldOutImagesWithTheSameProtocol()
    {
        // The held-out images are exact copies of training images of the same label, so the 1-NN of each held-out image is
        // its copy (cosine 1) and the pixel row's 1-NN top-1 must be exactly 100 %. Random labels elsewhere: any other
        // neighbour rule would be near chance (10 %).
        string root = SyntheticData.FashionMnist(_dir, train: 60, test: 20);
        string images = Path.Combine(root, "train-images-idx3-ubyte");
        var bytes = File.ReadAllBytes(images);
        const int px = 28 * 28;
        for (int i = 0; i < 20; i++) Array.Copy(bytes, 16 + i * px, bytes, 16 + (40 + i) * px, px);   // image 40+i := image i (labels i % 10 agree)
        File.WriteAllBytes(images, bytes);
        var spec = new RunSpec("can", "paper", "fashion-mnist", root, 32, 1, 2, 7, 8, 1, 1e-3, 0.05, 1.0, 0, 0, Holdout: 20);
        var r = RunEvaluation.EvaluatePixels(spec, k: 1, probeEpochs: 1);
        Assert.Equal("pixels", r.Encoder);
        Assert.Equal(784, r.Dim);
        Assert.Equal(1.0, r.KnnTop1);
    }

    [Fact]
    public void FineTuningByStepsIsFineTuningByEpochsWhenTheyMatch()
    {
        static (double, double) Train(bool bySteps)
        {
            using var g = new Generator(1);
            using var enc = new VisionTransformer(new VitConfig { ImageSize = 16, PatchSize = 4, Width = 32, Depth = 1, Heads = 2 }, g);
            var r = bySteps ? FineTune.RunSteps(enc, Random16(64), Random16(16, seed: 4), CPU, steps: 8, batchSize: 16)
                            : FineTune.Run(enc, Random16(64), Random16(16, seed: 4), CPU, epochs: 2, batchSize: 16);
            Assert.Equal(2, r.Epochs);
            return (r.TestAccuracy, r.FinalLoss);
        }
        // The same batches, schedule and arithmetic in the same order: bit for bit.
        Assert.Equal(Train(bySteps: false), Train(bySteps: true));
    }

    [Fact]
    public void TheSupervisedReferenceLearnsALabelledTaskInTheRunsOwnBudget()
    {
        // Brightness by class (class c: grey level 20 + 24·c ± 8) is learnt from labels in 150 steps; chance is 10 %.
        string root = SyntheticData.FashionMnist(_dir, train: 400, test: 100);
        var rng = new Random(11);
        foreach (var (prefix, n) in new[] { ("train", 400), ("t10k", 100) })
        {
            string images = Path.Combine(root, $"{prefix}-images-idx3-ubyte");
            var bytes = File.ReadAllBytes(images);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < 784; j++) bytes[16 + i * 784 + j] = (byte)(20 + 24 * (i % 10) + rng.Next(-8, 9));
            File.WriteAllBytes(images, bytes);
        }
        string run = Path.Combine(_dir, "run");
        new RunSpec("can", "paper", "fashion-mnist", root, 32, 1, 2, 7, 32, 150, 2e-3, 0.05, 1.0, 0, 0).Save(run);
        var sup = RunEvaluation.EvaluateSupervised(run, CPU, k: 5, probeEpochs: 10);
        Assert.Equal(150, sup.Steps);
        Assert.Equal("supervised", sup.Frozen.Encoder);
        Assert.True(sup.HeadTop1 > 0.8, $"supervised head top-1 {sup.HeadTop1:P1} after 150 labelled steps of an easy task");
        Assert.True(sup.Frozen.ProbeTop1 > 0.6, $"probe of the supervised features {sup.Frozen.ProbeTop1:P1}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LastBlockFeaturesConcatenateTheLastBlocksLastFirst(bool cls)
    {
        var data = Random16(6);
        using var g = new Generator(4);
        using var enc = new VisionTransformer(new VitConfig { ImageSize = 16, PatchSize = 4, Width = 32, Depth = 3, Heads = 2, ClsToken = cls }, g);
        var (one, _) = Features.Extract(enc, data, CPU);
        var (three, _) = Features.Extract(enc, data, CPU, lastBlocks: 3);
        using (one) using (three)
        {
            Assert.Equal(new long[] { 6, 96 }, three.shape);
            // The first block of columns is the last block's mean token, computed by the same operations: equal bit for bit.
            Assert.Equal(one.data<float>().ToArray(), three.narrow(1, 0, 32).contiguous().data<float>().ToArray());
            // The others are earlier blocks' and differ from it.
            Assert.False(three.narrow(1, 32, 32).allclose(one, 1e-3, 1e-3));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Features.Extract(enc, data, CPU, lastBlocks: 4));
    }

    [Fact]
    public void CanOverridesChangeOnlyWhatTheyNameAndStayOutOfOldRunJson()
    {
        var o = new CanOverrides(MaskRatio: 0.6, ContrastiveWeight: 0.5, CropMin: 0.35, BlurP: 0);
        var c = o.Apply(CanConfig.Paper);
        Assert.Equal(CanConfig.Paper with { MaskRatio = 0.6, ContrastiveWeight = 0.5, Views = ViewAugmentationFor(0.35) }, c);
        var spec = new RunSpec("can", "paper", "fashion-mnist", null, 32, 1, 2, 7, 8, 1, 1e-3, 0.05, 1.0, 0, 0);
        Assert.DoesNotContain("\"Can\"", spec.ToJson());
        Assert.DoesNotContain("Holdout", spec.ToJson());
        var changed = spec with { Can = o, Holdout = 100 };
        Assert.Equal(changed, RunSpec.Parse(changed.ToJson(), "run.json"));
        Assert.Equal(0.6, changed.MethodSpec().Can!.MaskRatio);
        Assert.Equal((0.35, 1.0), changed.MethodSpec().Can!.Views.Scale);
        var notCan = Assert.Throws<InvalidDataException>(() => RunSpec.Parse((changed with { Method = "mae" }).ToJson(), "run.json"));
        Assert.Contains("run.json: field 'Can': changes CAN's preset; method 'mae' is not plain CAN", notCan.Message);
    }

    [Fact]
    public void HeldOutLossesOfAModelThatPredictsZeroAreTheLearnedNothingValues()
    {
        // A pixel head whose weight and bias are zero predicts 0 everywhere: its losses are, to the last bit, the
        // predict-the-mean and predict-no-noise values computed beside them, and its prediction has no correlation.
        var config = new CanConfig { Encoder = new VitConfig { ImageSize = 16, PatchSize = 4, Width = 32, Depth = 1, Heads = 2 },
                                     Decoder = new DecoderConfig { Width = 16, Depth = 1, Heads = 2 }, ProjectionDim = 16 };
        using var g = new Generator(5);
        using var can = new Can(config, g);
        using (no_grad())
        {
            can.Decoder!.Pred!.weight!.zero_();
            can.Decoder.Pred.bias!.zero_();
        }
        var l = CanHeldOutLosses.Measure(can, Random16(40), count: 40, batchSize: 16);
        Assert.Equal(32, l.Images);                                           // two equal batches of 16
        Assert.Equal(l.ReconstructionPredictMean, l.Reconstruction);
        Assert.Equal(l.DenoisePredictZero, l.Denoise);
        Assert.Equal(0, l.NoiseCorrelation);
        // Predicting no noise costs the mean square of σ·e on visible patches: σ ~ U[0, 0.05] gives σmax²/3 = 8.3e-4 in
        // expectation; 64 draws of σ put the mean within a few tenths of it.
        Assert.InRange(l.DenoisePredictZero, 0.4 * 0.05 * 0.05 / 3, 1.6 * 0.05 * 0.05 / 3);
        // Standardised patches have mean square (n−1)/n of 1 with the unbiased variance: 47/48 for 4×4×3 patches.
        Assert.Equal(47.0 / 48, l.ReconstructionPredictMean, 1e-3);
    }

    private static Augment.ViewAugmentation ViewAugmentationFor(double cropMin) => Augment.ViewAugmentation.SimClr with { Scale = (cropMin, 1.0), BlurP = 0 };
}
