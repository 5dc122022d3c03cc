using CanKit.Augment;
using CanKit.Data;
using CanKit.Methods;
using CanKit.Nn;
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
        using var g = new Generator(seed, device);
        using var head = new Linear(encoder.Width, train.ClassNames.Count, generator: g);
        head.To(device);
        encoder.Train();
        var groups = AdamW.DecayGroups(encoder, weightDecay).Concat(AdamW.DecayGroups(head, weightDecay)).ToList();
        using var opt = new AdamW(groups, lr: lr, weightDecay: weightDecay);
        long perEpoch = Math.Max(1, train.Count / batchSize), total = perEpoch * epochs, step = 0;
        var schedule = new WarmupCosineSchedule(lr, Math.Min(total / 10, perEpoch), total, lr * 1e-2);
        var crop = new TwoViewPipeline(ViewAugmentation.CropFlip with { Scale = (0.5, 1.0) }, ViewAugmentation.CropFlip);
        double last = 0;
        for (int e = 0; e < epochs; e++)
        {
            int[] order = Training.BatchLoader.Order(train.Count, seed, e);
            for (long b = 0; b < perEpoch; b++)
            {
                using var scope = Torch.NewDisposeScope();
                var (raw, y) = train.RawBatch(order.AsSpan((int)(b * batchSize), batchSize));
                var (x, _) = crop.Apply(raw.To(device), train.Normalization, encoder.Config.ImageSize, g);
                schedule.Apply(opt, step++);
                opt.ZeroGrad();
                var logits = head.Forward(ProjectionHead.MeanPool(encoder.Forward(x), encoder.HasClsToken));
                var loss = Functional.CrossEntropy(logits, y.To(device), labelSmoothing: 0.1);
                loss.Backward();
                opt.Step();
                last = loss.Item<float>();
            }
            log?.Report($"fine-tune epoch {e + 1}/{epochs}: loss {last:F4}");
        }
        return new Result(Accuracy(encoder, head, test, device), epochs, last);
    }

    private static double Accuracy(VisionTransformer encoder, Linear head, ImageSet test, Device device)
    {
        using var noGrad = Torch.NoGrad();
        encoder.Eval();
        long correct = 0;
        int[] all = Enumerable.Range(0, test.Count).ToArray();
        for (int i = 0; i < test.Count; i += 256)
        {
            using var scope = Torch.NewDisposeScope();
            var (x, y) = test.Batch(all.AsSpan(i, Math.Min(256, test.Count - i)), device);
            correct += head.Forward(ProjectionHead.MeanPool(encoder.Forward(x), encoder.HasClsToken)).ArgMax(1).Eq(y).Sum().Item<long>();
        }
        encoder.Train();
        return (double)correct / test.Count;
    }
}
