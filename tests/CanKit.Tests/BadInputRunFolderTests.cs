using CanKit.IO;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Bad run folders and checkpoints: every field read from run.json and from a checkpoint's metadata is checked where it
/// is read, and the error names the file and the field (exit code 1, one line). A crash and resume leaves the metrics as
/// an uninterrupted run's and no stray temporary files.
/// </summary>
[Collection("console")]
public sealed class BadInputRunFolderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-badrun-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertOneLineError((int, string, string) r, int code, string message) => BadInputFlagTests.AssertOneLineError(r, code, message);

    [Theory]
    [InlineData("\"Method\": \"can\"", "\"Method\": null", "field 'Method': missing")]
    [InlineData("\"Width\": 32", "\"Width\": -3", "field 'Width': must be > 0, got -3")]
    [InlineData("\"Heads\": 2", "\"Heads\": 3", "field 'Heads': 3 does not divide field 'Width' 32")]
    [InlineData("\"LearningRate\": 0.001", "\"LearningRate\": 0", "field 'LearningRate': must be a finite number > 0")]
    [InlineData("\"Dataset\": \"cifar10\"", "\"Dataset\": \"imagenet-22k\"", "field 'Dataset': unknown dataset 'imagenet-22k'")]
    [InlineData("\"TrainSubset\": 0", "\"TrainSubset\": -7", "field 'TrainSubset': must be ≥ 0")]
    [InlineData("\"Width\": 32", "\"Width\": \"wide\"", "$.Width")]
    [InlineData("{", "[", "run.json")]
    [InlineData("\"Preset\": \"paper\"", "\"Preset\": null", "field 'Preset': unknown preset ''")]
    public void ABadRunJsonFieldIsNamedByEveryCommand(string field, string replacement, string message)
    {
        string run = SyntheticData.TrainedRun(_dir);
        string json = Path.Combine(run, "run.json");
        string text = File.ReadAllText(json);
        Assert.Contains(field, text);
        File.WriteAllText(json, text.Replace(field, replacement));
        foreach (var args in new[] { new[] { "knn", "--out", run }, ["probe", "--out", run], ["finetune", "--out", run],
                                     ["export", "--out", run, "--to", Path.Combine(_dir, "e.safetensors")] })
            AssertOneLineError(CliRunner.Run(args), 1, $"{json}: ");
        var knn = CliRunner.Run("knn", "--out", run);
        AssertOneLineError(knn, 1, message);
        Assert.DoesNotContain("(Parameter", knn.Err);
        Assert.False(File.Exists(Path.Combine(_dir, "e.safetensors")));
    }

    [Fact]
    public void PretrainIntoAFolderWithABadRunJsonNamesItAndKeepsIt()
    {
        string run = SyntheticData.TrainedRun(_dir);
        string json = Path.Combine(run, "run.json");
        File.WriteAllText(json, File.ReadAllText(json).Replace("\"Method\": \"can\"", "\"Method\": null"));
        string before = File.ReadAllText(json);
        AssertOneLineError(CliRunner.Run(SyntheticData.TinyPretrainArgs(Path.Combine(_dir, "cifar10"), run, steps: 1)), 1, $"{json}: field 'Method': missing");
        Assert.Equal(before, File.ReadAllText(json));
    }

    [Fact]
    public void ACorruptFeatureCacheIsRebuiltAndGivesTheSameScore()
    {
        string run = SyntheticData.TrainedRun(_dir);
        var first = CliRunner.Run("knn", "--out", run, "--k", "5");
        Assert.True(first.Code == 0, first.Err);
        var caches = Directory.GetFiles(run, "features-*.safetensors");
        Assert.Equal(2, caches.Length);
        File.WriteAllText(caches[0], "garbage");
        File.WriteAllBytes(caches[1], File.ReadAllBytes(caches[1])[..100]);
        var second = CliRunner.Run("knn", "--out", run, "--k", "5");
        Assert.True(second.Code == 0, second.Err);
        // Features of the same weights on the same images: the score line is the same to the last printed digit.
        Assert.Equal(first.Out.Split('\n').Single(l => l.Contains("5-NN top-1")), second.Out.Split('\n').Single(l => l.Contains("5-NN top-1")));
    }

    [Fact]
    public void AMalformedMetricsLineIsNamedWithItsLineNumber()
    {
        string path = Path.Combine(_dir, "metrics.jsonl");
        File.WriteAllLines(path, ["{\"step\":1,\"epoch\":0,\"lr\":0,\"loss\":1,\"contrastive\":1,\"reconstruction\":1," +
                                  "\"denoise\":1,\"top1\":0,\"images_per_s\":1,\"elapsed_s\":1}", "{\"step\":2,\"lo"]);
        Assert.StartsWith($"{path}:2: not a metrics line", Assert.Throws<InvalidDataException>(() => MetricsLog.Read(path)).Message);
        File.WriteAllLines(path, ["{\"step\":1}"]);
        Assert.Equal($"{path}:1: no 'epoch'", Assert.Throws<InvalidDataException>(() => MetricsLog.Read(path)).Message);
    }

    [Fact]
    public void ExportIntoAMissingFolderIsNamed()
    {
        string run = SyntheticData.TrainedRun(_dir);
        string to = Path.Combine(_dir, "no", "such", "e.safetensors");
        AssertOneLineError(CliRunner.Run("export", "--out", run, "--to", to), 1, $"{to}: its folder {Path.GetDirectoryName(to)} does not exist");
    }

    // Rewrites the run's checkpoint with changed metadata and tensors (as a hand-edited or foreign file would be).
    private static void Tamper(string run, Action<Dictionary<string, string>, Dictionary<string, Tensor>> change)
    {
        string path = Path.Combine(run, Trainer.CheckpointFile);
        using var ckpt = SafeTensors.Load(path);
        var meta = ckpt.Metadata.ToDictionary();
        var tensors = ckpt.ToDictionary();
        change(meta, tensors);
        SafeTensors.Save(path, tensors, meta);
    }

    [Theory]
    [InlineData("rng", null, "checkpoint has no tensor 'rng'")]
    [InlineData("optim", null, "checkpoint has no tensor 'optim.")]
    [InlineData("step", "abc", "metadata 'step' is not an integer: 'abc'")]
    [InlineData("step", "999", "metadata 'step' 999 is outside 0..2 (the checkpoint's 'total_steps')")]
    [InlineData("step", "-5", "metadata 'step' -5 is outside 0..2")]
    [InlineData("epoch", "-1", "metadata 'epoch' must be ≥ 0, got -1")]
    [InlineData("batch", "7", "metadata 'batch' 7 is beyond the 2 batches of an epoch of CIFAR-10")]
    [InlineData("total_steps", null, "checkpoint metadata has no 'total_steps'")]
    [InlineData("rng-length", null, "tensor 'rng' is Byte [3], the generator's state is Byte [")]
    public void ResumingFromABadCheckpointNamesTheFileAndField(string key, string? value, string message)
    {
        string run = SyntheticData.TrainedRun(_dir, steps: 2);
        string path = Path.Combine(run, Trainer.CheckpointFile);
        Tamper(run, (meta, tensors) =>
        {
            if (key == "rng") tensors.Remove("rng");
            else if (key == "optim") foreach (var k in tensors.Keys.Where(k => k.StartsWith("optim.")).ToList()) tensors.Remove(k);
            else if (key == "rng-length") tensors["rng"] = tensor(new byte[] { 1, 2, 3 });
            else if (value is null) meta.Remove(key);
            else meta[key] = value;
        });
        byte[] before = File.ReadAllBytes(path);
        // The same command resumes the run: the checkpoint is read and refused before any step.
        AssertOneLineError(CliRunner.Run(SyntheticData.TinyPretrainArgs(Path.Combine(_dir, "cifar10"), run, steps: 2)), 1, $"{path}: {message}");
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void ADivergedEncoderIsNeitherScoredNorExported()
    {
        string run = SyntheticData.TrainedRun(_dir);
        string path = Path.Combine(run, Trainer.CheckpointFile);
        Tamper(run, (_, tensors) =>
        {
            foreach (var name in tensors.Keys.Where(k => k.StartsWith("model.")).ToList())
                if (tensors[name].is_floating_point()) tensors[name] = full_like(tensors[name], double.NaN);
        });
        var knn = CliRunner.Run("knn", "--out", run);
        AssertOneLineError(knn, 1, $"{path}: parameter 'model.");
        Assert.Contains("holds NaN or infinite values (the run diverged)", knn.Err);
        string export = Path.Combine(_dir, "encoder.safetensors");
        AssertOneLineError(CliRunner.Run("export", "--out", run, "--to", export), 1, "holds NaN or infinite values");
        Assert.False(File.Exists(export));
    }

    [Fact]
    public void ACutCheckpointIsNamed()
    {
        string run = SyntheticData.TrainedRun(_dir);
        string path = Path.Combine(run, Trainer.CheckpointFile);
        byte[] all = File.ReadAllBytes(path);
        File.WriteAllBytes(path, all[..(all.Length / 2)]);
        AssertOneLineError(CliRunner.Run("probe", "--out", run, "--epochs", "1"), 1, path);
    }

    [Fact]
    public void AfterACrashAndResumeTheMetricsHoldEveryStepOnceAndNoTemporaryFilesRemain()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        var spec = SyntheticData.TinySpec(root, steps: 4);
        // The reference: the same run without interruption.
        string whole = Path.Combine(_dir, "whole");
        PretrainRun.Pretrain(spec, whole, CPU, checkpointEvery: 2, logEvery: 1);

        // A crash after step 3 was logged: the last checkpoint is step 2's, the metrics already hold step 3.
        string run = Path.Combine(_dir, "crashed");
        var crash = new Progress3(m => { if (m.Step == 3) throw new IOException("simulated crash after logging step 3"); });
        Assert.Throws<IOException>(() => PretrainRun.Pretrain(spec, run, CPU, crash, checkpointEvery: 2, logEvery: 1));
        Assert.Equal([1, 2, 3], MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Select(m => m.Step));
        // What a kill during a checkpoint write leaves: its temporary file.
        string stray = Path.Combine(run, $".{Trainer.CheckpointFile}.0123abcd.tmp");
        File.WriteAllBytes(stray, [1, 2, 3]);

        Assert.Equal(TrainOutcome.Completed, PretrainRun.Pretrain(spec, run, CPU, checkpointEvery: 2, logEvery: 1));
        Assert.False(File.Exists(stray));
        var resumed = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        var reference = MetricsLog.Read(Path.Combine(whole, "metrics.jsonl"));
        Assert.Equal([1, 2, 3, 4], resumed.Select(m => m.Step));
        // Resuming is bit-identical on the CPU, so each step's losses are the uninterrupted run's exactly.
        Assert.Equal(reference.Select(m => (m.Loss, m.Contrastive, m.Reconstruction, m.Denoise)),
                     resumed.Select(m => (m.Loss, m.Contrastive, m.Reconstruction, m.Denoise)));
        var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.StartsWith("step,", csv[0].TrimStart('\uFEFF'));
        Assert.Equal(["1", "2", "3", "4"], csv.Skip(1).Select(l => l.Split(',')[0]));
    }

    // Reports synchronously on the training thread (Progress<T> would post to the thread pool and lose the throw).
    private sealed class Progress3(Action<StepMetrics> report) : IProgress<StepMetrics>
    {
        public void Report(StepMetrics value) => report(value);
    }
}
