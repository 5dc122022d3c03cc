using CanKit.Data;
using CanKit.Methods;
using CanKit.Objectives;
using CanKit.Vision;

namespace CanKit.Evaluation;

/// <summary>
/// A trained CAN's reconstruction and denoising losses on images it was not trained on, each beside the value of a model
/// that learned nothing: predicting every masked patch's mean (0 for a standardised patch) and predicting no noise (the
/// draw's own mean square of the noise on visible patches, σmax²/3 in expectation). <see cref="NoiseCorrelation"/> is the
/// correlation of the predicted and the true noise on visible patches (0: the noise itself is not predicted).
/// </summary>
public sealed record CanHeldOutLosses(double Reconstruction, double ReconstructionPredictMean, double Denoise, double DenoisePredictZero,
                                      double NoiseCorrelation, int Images)
{
    /// <summary>
    /// Runs <paramref name="model"/> (eval mode, no gradients) on the first <paramref name="count"/> images of
    /// <paramref name="images"/>, both views the un-augmented image, mask, σ and e drawn from a generator seeded with
    /// <paramref name="seed"/>; losses are means over equal batches of <paramref name="batchSize"/> images.
    /// </summary>
    public static CanHeldOutLosses Measure(Can model, ImageSet images, int count = 1024, ulong seed = 3, int batchSize = 256)
    {
        if (!model.Config.Denoises || !model.Config.RunsDecoder)
            throw new ArgumentException("the model neither reconstructs nor denoises (a CAN with its decoder and the denoising loss is needed)", nameof(model));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be > 0");
        count = Math.Min(count, images.Count);
        if (count > batchSize) count -= count % batchSize;                                                  // equal batches
        if (count < 1) throw new ArgumentException($"{images.Name}: no images to measure on", nameof(images));
        int p = model.Config.Encoder.PatchSize, batches = 0;
        double lr = 0, zr = 0, ld = 0, zd = 0, sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0, n = 0;
        bool wasTraining = model.training;
        model.eval();
        using var g = new Generator(seed);
        try
        {
            using var noGrad = no_grad();
            int[] all = Enumerable.Range(0, count).ToArray();
            for (int i = 0; i < count; i += batchSize)
            {
                using var scope = NewDisposeScope();
                var (x, _) = images.Batch(all.AsSpan(i, Math.Min(batchSize, count - i)));                   // [b, C, H, W]
                using var pr = model.Forward(x, x, g, keepPredictions: true).Predictions!;
                var target = model.Config.ReconstructionTarget == ReconstructionTarget.Noisy ? pr.Input : pr.Input - pr.Noise;   // [2b, C, H, W]
                lr += PatchLosses.Reconstruction(pr.Pixels, target, pr.Mask, p, model.Config.NormPixLoss).item<float>();
                zr += PatchLosses.Reconstruction(zeros_like(pr.Pixels), target, pr.Mask, p, model.Config.NormPixLoss).item<float>();
                ld += PatchLosses.Denoise(pr.Pixels, pr.Noise, pr.Mask, p).item<float>();
                zd += PatchLosses.Denoise(zeros_like(pr.Pixels), pr.Noise, pr.Mask, p).item<float>();
                var visible = (1 - pr.Mask).unsqueeze(-1).expand(-1, -1, pr.Pixels.size(2)).to(ScalarType.Bool);   // [2b, L, P]
                var predicted = pr.Pixels.masked_select(visible).to(ScalarType.Float64);
                var noise = Patches.Patchify(pr.Noise, p).masked_select(visible).to(ScalarType.Float64);
                sx += predicted.sum().item<double>(); sy += noise.sum().item<double>();
                sxx += (predicted * predicted).sum().item<double>(); syy += (noise * noise).sum().item<double>();
                sxy += (predicted * noise).sum().item<double>(); n += predicted.size(0);
                batches++;
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        double cov = sxy / n - sx / n * (sy / n), vx = sxx / n - sx / n * (sx / n), vy = syy / n - sy / n * (sy / n);
        double corr = vx > 0 && vy > 0 ? cov / Math.Sqrt(vx * vy) : 0;
        return new CanHeldOutLosses(lr / batches, zr / batches, ld / batches, zd / batches, corr, count);
    }
}
