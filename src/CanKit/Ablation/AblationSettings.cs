using CanKit.Methods;
using CanKit.Training;
using CanKit.Vision;

namespace CanKit.Ablation;

/// <summary>
/// What every run of an ablation suite shares: data, encoder shape, budget, seeds and evaluation. The defaults are the
/// suite's scale (docs/ablation/): a ViT 64 × 2 on Fashion-MNIST, sized so every table × 3 seeds (`--table all`: 60 runs)
/// runs in about half an hour on two quiet CPU cores with bf16 products (33.5 min measured, docs/ablation/README.md).
/// </summary>
public sealed record AblationSettings
{
    public string Dataset { get; init; } = "fashion-mnist";
    public string? DataRoot { get; init; }
    public int Width { get; init; } = 64;
    public int Depth { get; init; } = 2;
    public int Heads { get; init; } = 2;
    public int PatchSize { get; init; } = 4;
    public int Batch { get; init; } = 64;

    /// <summary>
    /// The pixel decoder of CAN, MAE and CMAE (width × depth, a head per 32 channels). The presets' 128 × 2 costs ~8× the
    /// 64 × 2 encoder on 28-px images; 64 × 1 keeps the decoder light relative to the encoder, as MAE's is at ViT scale.
    /// </summary>
    public int DecoderWidth { get; init; } = 64;
    public int DecoderDepth { get; init; } = 1;

    /// <summary>Optimiser steps per run. Warm-up over the first 5 %, then a constant rate (see <see cref="BudgetSteps"/>).</summary>
    public long Steps { get; init; } = DefaultSteps;

    /// <summary>
    /// The suite's default budget, chosen from the budget study (docs/ablation/README.md): by 512 steps every
    /// can-components row has made most of its gain (+3.7 to +12.5 probe points from 64 steps, +1.4 to +3.4 more by
    /// 1024), 1024 steps settles no more of the ranking than 512 at twice the cost, and the one comparison that
    /// settles by 2048 (MAE below the contrastive rows) would make every table four times as long.
    /// </summary>
    public const long DefaultSteps = 512;

    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Pre-train on the first N training images (0: all).</summary>
    public int TrainSubset { get; init; } = 10000;

    /// <summary>Probe and k-NN on the first N training images and N/6 test images (0: all).</summary>
    public int EvalSubset { get; init; } = 3000;

    /// <summary>bf16 matrix products with float32 weights, norms and losses (<c>--precision</c>); part of every run's verified config.</summary>
    public Precision Precision { get; init; } = Precision.Float32;

    /// <summary>
    /// Rows defined outside <see cref="Catalog.AblationTables"/> (<c>ablate --rows FILE</c>, <see cref="AblationRowsFile"/>): a run of
    /// such a row names its method and CAN settings in its run.json, so it is rebuilt from them, not from its row's name.
    /// </summary>
    public IReadOnlyList<UserRow> UserRows { get; init; } = [];

    public int ProbeEpochs { get; init; } = 20;
    public int K { get; init; } = 20;

    /// <summary>Seeds 0 … Seeds − 1; the 95 % interval needs at least two.</summary>
    public int Seeds { get; init; } = 3;

    /// <summary>Keep and probe the checkpoints at ¼ and ½ of the budget for tables marked for the budget study.</summary>
    public bool BudgetStudy { get; init; } = true;

    /// <summary>
    /// The checkpoint interval: ¼ of the budget (at least 1 step), so a killed run loses at most that much and the
    /// budget study's points are checkpoints.
    /// </summary>
    public long CheckpointEvery => Math.Max(1, Steps / 4);

    /// <summary>
    /// The interval of the logged steps (metrics files and the step progress): every 25 steps, or each checkpoint when they
    /// are closer. Not part of a run's configuration: logging reads values, it changes none.
    /// </summary>
    public long LogEvery => Math.Min(CheckpointEvery, 25);

    /// <summary>Steps at which the budget study probes: ¼ and ½ of the budget and the budget itself.</summary>
    public IReadOnlyList<long> BudgetSteps => new[] { CheckpointEvery, 2 * CheckpointEvery, Steps }.Where(s => s <= Steps).Distinct().ToList();

    public DecoderConfig Decoder => new() { Width = DecoderWidth, Depth = DecoderDepth, Heads = DecoderWidth % 32 == 0 ? DecoderWidth / 32 : 1 };

    /// <summary>The run of <paramref name="row"/> at <paramref name="seed"/>, as <c>cankit pretrain</c> would describe it.</summary>
    public RunSpec Spec(MethodSpec row, int seed)
    {
        var user = UserRows.FirstOrDefault(u => u.Name == row.Name);
        return new(user?.Method ?? row.Name, "paper", Dataset, DataRoot, Width, Depth, Heads, PatchSize, Batch, Steps, LearningRate,
            RunSpec.DefaultWeightDecay, RunSpec.DefaultClipNorm, (ulong)seed, TrainSubset, Precision: Precision, Decoder: Decoder, Can: user?.Can);
    }

    /// <summary>
    /// Checks the settings that no run spec holds; an <see cref="ArgumentException"/> names the field (ParamName) so the
    /// command line can name its flag.
    /// </summary>
    public AblationSettings Validate()
    {
        if (Seeds < 2) throw new ArgumentException($"{nameof(Seeds)}: must be ≥ 2 (a 95 % interval needs two runs), got {Seeds}", nameof(Seeds));
        if (Seeds > 100) throw new ArgumentException($"{nameof(Seeds)}: must be ≤ 100, got {Seeds}", nameof(Seeds));
        if (EvalSubset < 0) throw new ArgumentException($"{nameof(EvalSubset)}: must be ≥ 0 (0: all images), got {EvalSubset}", nameof(EvalSubset));
        if (EvalSubset is > 0 and < 60)
            throw new ArgumentException($"{nameof(EvalSubset)}: must be 0 or ≥ 60 (its sixth is the test set), got {EvalSubset}",
                                        nameof(EvalSubset));
        if (ProbeEpochs < 1) throw new ArgumentException($"{nameof(ProbeEpochs)}: must be ≥ 1, got {ProbeEpochs}", nameof(ProbeEpochs));
        if (DecoderWidth < 4 || DecoderWidth % 4 != 0)
            throw new ArgumentException($"{nameof(DecoderWidth)}: must be a multiple of 4 (the 2-D sin-cos position embedding), " +
                                        $"got {DecoderWidth}", nameof(DecoderWidth));
        if (DecoderDepth < 1) throw new ArgumentException($"{nameof(DecoderDepth)}: must be ≥ 1, got {DecoderDepth}", nameof(DecoderDepth));
        if (K < 1) throw new ArgumentException($"{nameof(K)}: must be ≥ 1, got {K}", nameof(K));
        return this;
    }
}
