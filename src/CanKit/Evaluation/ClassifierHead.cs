using CanKit.Vision;

namespace CanKit.Evaluation;

/// <summary>
/// The linear head of probes and fine-tuning, initialised from a generator so a seed fixes the whole evaluation:
/// PyTorch's <c>nn.Linear</c> default, U(−1/√in, 1/√in) for weight and bias (kaiming_uniform with a = √5).
/// </summary>
public static class ClassifierHead
{
    public static Linear Create(long inFeatures, long classes, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (inFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "must be > 0");
        if (classes <= 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "must be > 1");
        // nn.init.uniform_(t, a, b, generator) ignores its generator in TorchSharp and draws from the global one,
        // so the head is drawn from the generator directly.
        return TransformerInit.Linear(inFeatures, classes, generator);
    }
}
