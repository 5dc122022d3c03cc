using CanKit.Data;
using CanKit.Evaluation;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The float16 model file (<see cref="PretrainedModel"/>, <c>cankit export --what model</c>): a round trip gives the
/// float32 model back to float16's rounding, the committed course model loads and beats its random-init encoder, and
/// files that are not model files are refused naming the file and the field or tensor.
/// </summary>
[Collection("console")]
public sealed class PretrainedModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-model-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>float16's unit roundoff: 11 significant bits, round to nearest.</summary>
    private const double U16 = 1.0 / 2048;

    private string ExportedRun(out string run)
    {
        run = SyntheticData.TrainedRun(_dir, steps: 3);
        string file = Path.Combine(_dir, "model.safetensors");
        RunExport.ExportModel(run, file);
        return file;
    }

    [Fact]
    public void ARoundTripGivesTheFloat32ModelBackToFloat16Rounding()
    {
        string file = ExportedRun(out string run);
        using var original = PretrainRun.LoadMethod(run);
        using var loaded = PretrainedModel.Load(file, CPU);
        Assert.Equal(RunSpec.Load(run), loaded.Spec);
        Assert.Equal(3, loaded.Step);
        Assert.Equal(original.Encoder.Config, loaded.Method.Encoder.Config);

        // Every tensor of the loaded model is the original's rounded to float16 and widened back (widening is exact), so
        // it equals the original to float16's rounding: |ŵ − w| ≤ u·|w| for normal numbers, ≤ 2⁻²⁵ below 2⁻¹⁴ (subnormals).
        var want = original.Module.state_dict();
        foreach (var (name, got) in loaded.Method.Module.state_dict())
        {
            Assert.Equal(ScalarType.Float32, got.dtype);
            using var rounded = want[name].to(ScalarType.Float16).to(ScalarType.Float32);
            Assert.True(got.eq(rounded).all().item<bool>(), $"tensor '{name}' is not the original rounded to float16");
            double worst = (got - want[name]).abs().sub(want[name].abs() * U16).max().item<float>();
            Assert.True(worst <= Math.Pow(2, -25), $"tensor '{name}' differs by more than float16's rounding ({worst:E2} beyond u·|w|)");
        }

        // Features and CAN's loss on the same images and random draws. Each weight carries a relative error ≤ u, so each
        // linear layer's output moves by ≲ u relative (the errors of a dot product's terms are independent roundings and
        // do not grow with the fan-in relative to the output); LayerNorm, GELU and softmax are 1-Lipschitz at these scales.
        // Along a path of L linear layers the relative error stays ≤ L·u to first order; a factor 4 covers attention and
        // LayerNorm amplifying it where a row's variance is small. The loss, a mean of squares, doubles it.
        var test = Datasets.Load(loaded.Spec.Dataset, loaded.Spec.DataRoot, train: false);
        int encoderLayers = 1 + 4 * loaded.Spec.Depth;                                    // patch projection + qkv, proj, fc1, fc2 per block
        var (f0, _) = Features.Extract(original.Encoder, test, CPU);
        var (f1, _) = Features.Extract(loaded.Method.Encoder, test, CPU);
        double featureError = ((f1 - f0).norm() / f0.norm()).item<float>();
        Assert.True(featureError <= 4 * encoderLayers * U16,
                    $"features differ by {featureError:E2} relative, more than 4·{encoderLayers}·u = {4 * encoderLayers * U16:E2}");
        Assert.True(featureError > 0, "the float16 rounding changed nothing: the file cannot hold float16 weights");

        var can0 = (Can)original.Module; var can1 = (Can)loaded.Method.Module;
        int decoderLayers = 2 + 1 + 4 * can0.Config.Decoder.Depth + 1;                   // σ MLP, embed, blocks, pred
        var (x, _) = test.Batch(Enumerable.Range(0, 8).ToArray());
        using var g = new Generator(7);
        var given = new StepRandomness(MaskNoise: rand([16, 16], generator: g), Sigma: rand([16], generator: g) * can0.Config.SigmaMax,
                                       Eps: randn([16, 3, 32, 32], generator: g));
        using var noGrad = no_grad();
        can0.eval(); can1.eval();
        double l0 = can0.Forward(x, x, given: given).Loss.item<float>(), l1 = can1.Forward(x, x, given: given).Loss.item<float>();
        double lossError = Math.Abs(l1 - l0) / l0, lossBound = 2 * 4 * (encoderLayers + decoderLayers) * U16;
        Assert.True(lossError <= lossBound, $"CAN loss {l1} vs {l0}: {lossError:E2} relative, more than {lossBound:E2}");
    }

    [Fact]
    public void TheCommittedModelLoadsAndItsEncoderBeatsRandomInitOnKnn()
    {
        string file = Path.Combine(RepoPaths.Root(), "notebooks", "pretrained", "can-fashion-mnist.safetensors");
        Assert.True(new FileInfo(file).Length <= 3_000_000, $"{file} is over 3 MB");
        using var model = PretrainedModel.Load(file);
        using var random = PretrainedModel.Load(file, randomInit: true);
        Assert.Equal((128, 4, 7, 4000L), (model.Spec.Width, model.Spec.Depth, model.Spec.PatchSize, model.Spec.Steps));
        Assert.Equal(model.Spec.Steps, model.Step);

        // The first 2 000 training and 500 test images of Fashion-MNIST (notebook 10's quick subset), 20-NN on frozen
        // features of the last block. On 10 disjoint blocks of this size the pre-trained encoder led random init by
        // 19.6 ± 2.0 points (smallest 16.6); 11 points is that lead less four standard deviations of the block-to-block
        // spread, so neither the choice of subset nor another machine's rounding fails it, while an encoder that learned
        // little would. (Its lead over the raw pixels on the same blocks, 2.2 ± 1.6 points, is too small to test at 500
        // images; the main job's results.csv beside the model gives it on all 70 000.)
        var train = FashionMnist.Load(train: true).ToImageSet().Take(2000);
        var test = FashionMnist.Load(train: false).ToImageSet().Take(500);
        var (xtr, ytr) = Features.Extract(model.Method.Encoder, train, CPU);
        var (xte, yte) = Features.Extract(model.Method.Encoder, test, CPU);
        var (rtr, _) = Features.Extract(random.Method.Encoder, train, CPU);
        var (rte, _) = Features.Extract(random.Method.Encoder, test, CPU);
        double pre = KnnClassifier.Accuracy(xtr, ytr, xte, yte, 10, 20, 0.07), rnd = KnnClassifier.Accuracy(rtr, ytr, rte, yte, 10, 20, 0.07);
        Assert.True(pre > rnd + 0.11, $"pre-trained 20-NN {pre:P1} does not beat random init {rnd:P1} by 11 points");
    }

    // A model file rewritten with one change: its tensors through edit, its metadata through editMeta.
    private string Rewritten(string file, string name, Action<Dictionary<string, Tensor>>? edit = null, Action<Dictionary<string, string>>? editMeta = null)
    {
        using var ckpt = SafeTensors.Load(file);
        var tensors = ckpt.ToDictionary(kv => kv.Key, kv => kv.Value);
        var meta = ckpt.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        edit?.Invoke(tensors);
        editMeta?.Invoke(meta);
        string path = Path.Combine(_dir, name);
        SafeTensors.Save(path, tensors, meta);
        return path;
    }

    [Fact]
    public void FilesThatAreNotModelFilesAreRefusedNamingTheFileAndField()
    {
        string file = ExportedRun(out string run);
        void Refused(string path, string message)
        {
            var e = Assert.ThrowsAny<Exception>(() => PretrainedModel.Load(path));
            Assert.True(e is InvalidDataException or FileNotFoundException, $"{e.GetType().Name}: {e.Message}");
            Assert.Contains(path, e.Message);
            Assert.Contains(message, e.Message);
        }
        string text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "not a safetensors file at all");
        Refused(text, "header length");
        Refused(Path.Combine(_dir, "missing.safetensors"), "no such model file");
        Refused(Path.Combine(run, Trainer.CheckpointFile), "metadata has no 'cankit_export'");
        string encoder = Path.Combine(_dir, "encoder.safetensors");
        RunExport.ExportEncoder(run, encoder);
        Refused(encoder, "metadata 'cankit_export' is 'encoder', an encoder export");
        Refused(Rewritten(file, "nostep.safetensors", editMeta: m => m.Remove("step")), "metadata has no 'step'");
        Refused(Rewritten(file, "farstep.safetensors", editMeta: m => m["step"] = "4"), "metadata 'step' 4 is outside 0..3");
        Refused(Rewritten(file, "badsize.safetensors", editMeta: m => m["image_size"] = "30"), "metadata 'image_size' 30 does not fit the run");
        Refused(Rewritten(file, "badrun.safetensors", editMeta: m => m["cankit_run"] = m["cankit_run"].Replace("\"Width\": 32", "\"Width\": -1")),
                "metadata 'cankit_run': field 'Width': must be > 0, got -1");
        Refused(Rewritten(file, "f32.safetensors", t => t["encoder.norm.weight"] = t["encoder.norm.weight"].to(ScalarType.Float32)),
                "tensor 'encoder.norm.weight' is Float32 [32], a model file holds Float16 weights");
        Refused(Rewritten(file, "shape.safetensors", t => t["encoder.norm.weight"] = zeros(31, dtype: ScalarType.Float16)),
                "tensor 'encoder.norm.weight' is Float16 [31], the model needs Float16 [32]");
        Refused(Rewritten(file, "missing-tensor.safetensors", t => t.Remove("decoder.pred.bias")), "tensor 'decoder.pred.bias' of the model is missing");
        Refused(Rewritten(file, "extra.safetensors", t => t["head.9.weight"] = zeros(2, dtype: ScalarType.Float16)),
                "tensor 'head.9.weight' does not belong to the model");
        Refused(Rewritten(file, "nan.safetensors", t => t["encoder.norm.weight"] = full(32, double.NaN, dtype: ScalarType.Float16)),
                "tensor 'encoder.norm.weight' holds NaN or infinite values");
    }

    [Fact]
    public void TheExportCommandWritesAModelFileAndNamesBadFlags()
    {
        string run = SyntheticData.TrainedRun(_dir, steps: 2);
        string file = Path.Combine(_dir, "model.safetensors");
        var (code, output, err) = CliRunner.Run("export", "--out", run, "--to", file, "--what", "model");
        Assert.True(code == 0, err);
        Assert.Contains($"wrote {file} (model,", output);
        using (var model = PretrainedModel.Load(file)) Assert.Equal(2, model.Step);
        // An earlier export of either kind may be replaced; the run's own files may not.
        Assert.Equal(0, CliRunner.Run("export", "--out", run, "--to", file).Code);
        Assert.Equal("encoder", SafeTensors.ReadHeader(file).Metadata[ExportFormat.Marker]);
        Assert.Equal(0, CliRunner.Run("export", "--out", run, "--to", file, "--what", "model").Code);
        Assert.Equal(PretrainedModel.Kind, SafeTensors.ReadHeader(file).Metadata[ExportFormat.Marker]);
        string ckpt = Path.Combine(run, Trainer.CheckpointFile);
        byte[] before = File.ReadAllBytes(ckpt);
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("export", "--out", run, "--to", ckpt, "--what", "model"), 1,
                                             $"{ckpt}: exists and is not an encoder or model export");
        Assert.Equal(before, File.ReadAllBytes(ckpt));
        string other = Path.Combine(_dir, "other.safetensors");
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("export", "--out", run, "--to", other, "--what", "weights"), 2,
                                             "--what: expected encoder or model, got 'weights'");
        Assert.False(File.Exists(other));
    }
}
