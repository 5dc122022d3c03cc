using CanKit.Augment;
using CanKit.Data;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Vision;

namespace CanKit.Evaluation;

/// <summary>
/// End-to-end fine-tuning: the encoder plus a linear head on the mean of its patch tokens, trained with AdamW,
/// warm-up + cosine, crop-and-flip augmentation and label smoothing 0.1 (MAE's recipe, without mixup); top-1 on the
/// test split. The encoder is changed in place.
/// </summary>
public static class FineTune
{
    public sealed record Result(double TestAccuracy, int Epochs, double FinalLoss);

    public static Result Run(VisionTransformer encoder, ImageSet train, ImageSet test, Device device, int epochs = 5, int batchSize = 128,
                             double lr = 5e-4, double weightDecay = 0.05, ulong seed = 0, IProgress<string>? log = null)
    {
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "must be > 0");
        CheckBatch(batchSize, train);
        return RunSteps(encoder, train, test, device, Math.Max(1, train.Count / batchSize) * (long)epochs, batchSize, lr, weightDecay, seed, log);
    }

    /// <summary>
    /// <see cref="Run"/> for <paramref name="steps"/> steps of <paramref name="batchSize"/> images (epochs follow from the
    /// set's size): training from random initialisation for a pre-training run's own budget gives its supervised reference.
    /// <see cref="Result.Epochs"/> counts the epochs begun.
    /// </summary>
    public static Result RunSteps(VisionTransformer encoder, ImageSet train, ImageSet test, Device device, long steps, int batchSize = 128,
                                  double lr = 5e-4, double weightDecay = 0.05, ulong seed = 0, IProgress<string>? log = null)
    {
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "must be > 0");
        CheckBatch(batchSize, train);
        using var init = new Generator(seed);
        using var head = ClassifierHead.Create(encoder.Width, train.ClassNames.Count, init);
        head.to(device);
        encoder.to(device);
        encoder.train();
        using var g = new Generator(seed, device);
        var groups = WeightDecayGroups.Split(encoder, weightDecay).Concat(WeightDecayGroups.Split(head, weightDecay)).ToList();
        using var opt = new AdamW(groups, lr: lr, weight_decay: weightDecay);
        long perEpoch = Math.Max(1, train.Count / batchSize);
        var schedule = new WarmupCosineSchedule(lr, Math.Min(steps / 10, perEpoch), steps, lr * 1e-2);
        var crop = new TwoViewPipeline(ViewAugmentation.CropFlip with { Scale = (0.5, 1.0) }, ViewAugmentation.CropFlip);
        double last = 0;
        int[] order = [];
        for (long step = 0; step < steps; step++)
        {
            long epoch = step / perEpoch, b = step % perEpoch;
            if (b == 0) order = Data.BatchLoader.Order(train.Count, seed, (int)epoch);
            using (var scope = NewDisposeScope())
            {
                var (raw, y) = train.RawBatch(order.AsSpan((int)(b * batchSize), batchSize));       // [B, C, H, W] uint8, [B]
                var (x, _) = crop.Apply(raw.to(device), train.Normalization, encoder.Config.ImageSize, g);
                schedule.Apply(opt, step);
                opt.zero_grad();
                var logits = head.forward(ProjectionHead.MeanPool(encoder.forward(x), encoder.HasClsToken));   // [B, classes]
                var loss = nn.functional.cross_entropy(logits, y.to(device), label_smoothing: 0.1);
                loss.backward();
                opt.step();
                last = loss.item<float>();
            }
            if (b == perEpoch - 1 || step == steps - 1) log?.Report($"fine-tune epoch {epoch + 1}, step {step + 1}/{steps}: loss {last:F4}");
        }
        return new Result(Accuracy(encoder, head, test, device), (int)((steps - 1) / perEpoch + 1), last);
    }

    private static void CheckBatch(int batchSize, ImageSet train)
    {
        if (batchSize <= 0 || batchSize > train.Count)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                                                  $"must be in [1, {train.Count}] ({train.Name} has {train.Count} images)");
    }

    private static double Accuracy(VisionTransformer encoder, Linear head, ImageSet test, Device device)
    {
        using var noGrad = no_grad();
        encoder.eval();
        long correct = 0;
        int[] all = Enumerable.Range(0, test.Count).ToArray();
        for (int i = 0; i < test.Count; i += 256)
        {
            using var scope = NewDisposeScope();
            var (x, y) = test.Batch(all.AsSpan(i, Math.Min(256, test.Count - i)), device);
            correct += head.forward(ProjectionHead.MeanPool(encoder.forward(x), encoder.HasClsToken)).argmax(1).eq(y).sum().item<long>();
        }
        encoder.train();
        return (double)correct / test.Count;
    }
}
