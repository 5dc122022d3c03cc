using CanKit.Cli;
using CanKit.Training;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// A short CAN run on the real CIFAR-10 (the shared JPEG copy unless <c>$CANKIT_CIFAR10</c> names another; skipped without
/// one): the CIFAR-10 main job's recipe cut to a few hundred steps on a subset, whose frozen features must beat the raw
/// pixels of the same images under the same linear probe, and the random encoder under the 20-NN.
/// </summary>
[Collection("console")]
public sealed class Cifar10TrainingTests(Cifar10CopyFixture copy, ITestOutputHelper output) : IClassFixture<Cifar10CopyFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cifar10-train-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Cifar10CopyFact]
    public void AShortRunOfTheMainRecipeBeatsThePixelsOnASmallSplit()
    {
        Assert.True(copy.Import.Code == 0, $"import of {copy.Source} failed: {copy.Import.Err}");
        var spec = MainJobCommand.CifarRecipe with { DataRoot = copy.Root, Steps = Steps, TrainSubset = TrainImages };
        string run = Path.Combine(_dir, "run");
        Assert.Equal(TrainOutcome.Completed, PretrainRun.Pretrain(spec, run, torch.CPU, logEvery: 50));

        // Scored on the first EvalImages training and EvalImages / 6 test images (RunEvaluation's evalSubset).
        var can = RunEvaluation.Evaluate(run, torch.CPU, probeEpochs: ProbeEpochs, evalSubset: EvalImages, lastBlocks: 4);
        var pixels = RunEvaluation.EvaluatePixels(run, probeEpochs: ProbeEpochs, evalSubset: EvalImages);
        output.WriteLine($"{Steps} steps on {TrainImages} images; {EvalImages} / {EvalImages / 6} images scored: " +
                         $"CAN {can.ProbeTop1:P2} / {can.KnnTop1:P2}, pixels {pixels.ProbeTop1:P2} / {pixels.KnnTop1:P2}");
        // The margin: on 1000 test images one image is 0.1 point, and the binomial s.e. of a top-1 near 40 % is 1.5 points (of a
        // difference on the same images less: the two are correlated). Measured at this budget: probe 41.80 % against the
        // pixels' 35.60 % (6.2 points, about four s.e.), so 3 points keeps a failure meaning that the recipe, not the draw,
        // went wrong. The 20-NN needs more steps than a test can afford (36.40 % against 39.20 % here; the main job's
        // 5000 steps put it 13 points above the pixels on the validation split, docs/recipe-cifar10.md), so it is reported,
        // not asserted, and the test asks that it has left the random encoder's level behind instead.
        Assert.True(can.ProbeTop1 > pixels.ProbeTop1 + Margin, $"probe: CAN {can.ProbeTop1:P2} vs pixels {pixels.ProbeTop1:P2}");
        var rnd = RunEvaluation.Evaluate(run, torch.CPU, randomInit: true, probeEpochs: ProbeEpochs, evalSubset: EvalImages, lastBlocks: 4);
        output.WriteLine($"random init {rnd.ProbeTop1:P2} / {rnd.KnnTop1:P2}");
        Assert.True(can.KnnTop1 > rnd.KnnTop1 + Margin, $"20-NN: CAN {can.KnnTop1:P2} vs random init {rnd.KnnTop1:P2}");
    }

    private const int Steps = 400, TrainImages = 10_000, EvalImages = 6000, ProbeEpochs = 20;
    private const double Margin = 0.03;
}
