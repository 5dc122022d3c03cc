using CanKit.Augment;
using CanKit.Methods;

namespace CanKit.Catalog;

/// <summary>
/// A claim of a paper that one row of a table checks against another: <see cref="Better"/> scores higher than
/// <see cref="Worse"/> (linear probe and k-NN top-1); with <see cref="NonInferiorityMargin"/>, <see cref="Better"/> is
/// at least as accurate, up to that margin (a fraction: 0.01 is one point); with <see cref="FlopsRatio"/>,
/// <see cref="Better"/>'s step costs about that many times <see cref="Worse"/>'s FLOPs.
/// </summary>
public sealed record AblationClaim(string Id, string Text, string Source, string Better, string Worse, double? FlopsRatio = null,
                                   double? NonInferiorityMargin = null);

/// <summary>
/// A named ablation table: its rows (each a method with its switches; one name is one configuration in every table),
/// the papers' claims it addresses, and the switch a learner can flip to see it move.
/// </summary>
public sealed record AblationTable(string Name, string Title, IReadOnlyList<MethodSpec> Rows, IReadOnlyList<AblationClaim> Claims, string Exercise,
                                   bool BudgetStudy = false);

/// <summary>The tables <c>cankit ablate --table NAME</c> runs. Each row is a one-field switch of CAN's or CMAE's preset.</summary>
public static class AblationTables
{
    private static readonly CanConfig Can = CanConfig.Paper;
    private static readonly CmaeConfig Cmae = CmaeConfig.OfficialCode;

    private static MethodSpec CanRow(string name, CanConfig c) => new(name, MethodKind.Can, Can: c);
    private static MethodSpec CmaeRow(string name, CmaeConfig c) => new(name, MethodKind.Cmae, Cmae: c);

    private static readonly MethodSpec MaeRow = new("mae", MethodKind.Mae);
    private static readonly MethodSpec SimClrRow = new("simclr", MethodKind.SimClr);
    private static readonly MethodSpec CanFull = CanRow("can", Can);
    private static readonly MethodSpec CmaeFull = new("cmae", MethodKind.Cmae);

    private const string CanPaper = "CAN (Mishra et al. 2022) §4 ablations, ViT-L on JFT-300M / ViT-B on ImageNet";
    private const string CmaePaper = "CMAE (Huang et al. 2022) §4.3 ablations, ViT-B on ImageNet, fine-tuning";

    /// <summary>CAN's components: the baselines and each step from contrastive + MAE to CAN. Also the budget study's table.</summary>
    public static readonly AblationTable CanComponents = new("can-components", "CAN: from contrastive + MAE to CAN",
        [
            MaeRow, SimClrRow,
            CanRow("masked-contrastive", CanConfig.Ablations.MaskedContrastiveOnly(Can)),
            CanRow("can-no-noise", CanConfig.Ablations.WithoutNoise(Can)),
            CanRow("can-noise-as-aug", CanConfig.Ablations.NoiseAsAugmentation(Can)),
            CanRow("can-no-sigma-embedding", CanConfig.Ablations.WithoutSigmaEmbedding(Can)),
            CanFull,
        ],
        [
            new("1a", "contrastive + MAE beats MAE alone", CanPaper, "can-no-noise", "mae"),
            new("1b", "contrastive + MAE beats masked contrastive alone", CanPaper, "can-no-noise", "masked-contrastive"),
            new("2", "noise as augmentation alone improves contrastive + MAE", CanPaper, "can-noise-as-aug", "can-no-noise"),
            new("3", "the denoising loss without the σ embedding is worse than noise as augmentation", CanPaper, "can-noise-as-aug", "can-no-sigma-embedding"),
            new("4a", "with the σ embedding (CAN) the denoising loss helps", CanPaper, "can", "can-no-sigma-embedding"),
            new("4b", "CAN beats noise as augmentation", CanPaper, "can", "can-noise-as-aug"),
            new("5a", "SimCLR on full views costs ~1.7× CAN's FLOPs per step", CanPaper + " (ViT-L)", "simclr", "can", FlopsRatio: 1.7),
            new("5b", "CAN is at least as accurate as SimCLR (non-inferiority, margin 1 point)", CanPaper, "can", "simclr",
                NonInferiorityMargin: 0.01),
        ],
        "CanConfig.SigmaMax: raise it from 0.05 to 0.2 on the `can` and `can-noise-as-aug` rows; " +
        "stronger noise should widen the gap between denoising with σ and noise as augmentation",
        BudgetStudy: true);

    /// <summary>The share of patches masked in each of CAN's views.</summary>
    public static readonly AblationTable CanMaskRatio = new("can-mask-ratio", "CAN: mask ratio",
        [CanRow("can-mask-0.25", Can with { MaskRatio = 0.25 }), CanFull, CanRow("can-mask-0.75", Can with { MaskRatio = 0.75 })],
        [
            new("m1", "50 % masking beats 25 %", CanPaper, "can", "can-mask-0.25"),
            new("m2", "50 % masking beats 75 %", CanPaper, "can", "can-mask-0.75"),
        ],
        "CanConfig.MaskRatio: try 0.9; the encoder sees 4 of 49 patches and the contrastive term should fall apart first");

    /// <summary>CAN's contrastive weight against reconstruction and denoising (0.03 / 0.67 / 0.30).</summary>
    public static readonly AblationTable CanLossWeights = new("can-loss-weights", "CAN: contrastive loss weight",
        [CanRow("can-contrast-0.003", Can with { ContrastiveWeight = 0.003 }), CanFull,
         CanRow("can-contrast-0.3", Can with { ContrastiveWeight = 0.3 })],
        [
            new("w1", "the reference weight 0.03 beats a 10× lighter contrastive term",
                "CAN official code and re-implementation: 0.03 / 0.67 / 0.30", "can", "can-contrast-0.003"),
            new("w2", "the reference weight 0.03 beats a 10× heavier contrastive term",
                "CAN official code and re-implementation: 0.03 / 0.67 / 0.30", "can", "can-contrast-0.3"),
        ],
        "CanConfig.DenoiseWeight: set it to 0 on `can` (same as noise as augmentation) and compare with `can-noise-as-aug`; " +
        "the rows should agree within their intervals");

    /// <summary>CMAE's components: how the two views are paired, the feature decoder, the momentum target.</summary>
    public static readonly AblationTable CmaeComponents = new("cmae-components", "CMAE: view pairing, feature decoder, momentum target",
        [
            CmaeFull,
            CmaeRow("cmae-identical-crops", Cmae with { Shift = PixelShift.OfficialCode with { MaxPixels = 0 } }),
            CmaeRow("cmae-random-crops", Cmae with { TargetView = CmaeTargetView.IndependentCrop }),
            CmaeRow("cmae-no-feature-decoder", Cmae with { FeatureDecoderEnabled = false }),
            CmaeRow("cmae-shared-weights", Cmae with { Momentum = 0 }),
        ],
        [
            new("a1", "the pixel shift beats identical crops", CmaePaper, "cmae", "cmae-identical-crops"),
            new("a2", "the pixel shift beats independent random crops", CmaePaper, "cmae", "cmae-random-crops"),
            new("b", "the feature decoder helps", CmaePaper, "cmae", "cmae-no-feature-decoder"),
            new("c", "an EMA target (μ = 0.996) beats shared weights (μ = 0: the target is the online encoder without gradient)",
                CmaePaper, "cmae", "cmae-shared-weights"),
        ],
        "CmaeConfig.Momentum: set 0.99 instead of 0.996; over a few hundred steps a faster target should close part of the gap to shared weights");

    /// <summary>The share of patches masked in CMAE's online view.</summary>
    public static readonly AblationTable CmaeMaskRatio = new("cmae-mask-ratio", "CMAE: mask ratio",
        [CmaeRow("cmae-mask-0.5", Cmae with { MaskRatio = 0.5 }), CmaeFull, CmaeRow("cmae-mask-0.8", Cmae with { MaskRatio = 0.8 })],
        [
            new("d1", "65 % masking beats 50 %", CmaePaper, "cmae", "cmae-mask-0.5"),
            new("d2", "65 % masking beats 80 %", CmaePaper, "cmae", "cmae-mask-0.8"),
        ],
        "CmaeConfig.MaskBlock: 1 instead of 2 (per-patch masking as MAE); on a 7×7 grid the 2×2 blocks are coarse");

    /// <summary>CMAE's headline: the contrastive branch on top of MAE (the rows are those of can-components and cmae-components).</summary>
    public static readonly AblationTable CmaeVsMae = new("cmae-vs-mae", "CMAE against MAE",
        [MaeRow, CmaeFull],
        [new("e", "CMAE beats MAE", CmaePaper.Replace(" ablations", " and Table 1", StringComparison.Ordinal), "cmae", "mae")],
        "CmaeConfig.ContrastiveWeight: 0 on `cmae` leaves its MAE branch and the feature decoder's target; the gap to `mae` should close");

    /// <summary>Two choices of CMAE's official code that its paper does not ablate (no claim: the table shows what they change).</summary>
    public static readonly AblationTable CmaeCodeChoices = new("cmae-code-choices", "CMAE: choices of the official code",
        [
            CmaeFull,
            CmaeRow("cmae-contrastive-weight-1", Cmae with { ScaleContrastiveByTwoTau = false }),
            CmaeRow("cmae-shift-of-image", Cmae with { Shift = PixelShift.OfficialCode with { Frame = ShiftFrame.Image } }),
        ],
        [],
        "CmaeConfig.Temperature: 0.2 instead of 0.07 on `cmae-contrastive-weight-1`; a softer InfoNCE weighted 1 should hurt reconstruction less");

    /// <summary>Every table, in the order <c>--table all</c> runs them.</summary>
    public static readonly IReadOnlyList<AblationTable> All =
        [CanComponents, CanMaskRatio, CanLossWeights, CmaeComponents, CmaeVsMae, CmaeMaskRatio, CmaeCodeChoices];

    /// <summary>Every distinct row of every table (a name names one configuration).</summary>
    public static IReadOnlyList<MethodSpec> Rows => All.SelectMany(t => t.Rows).DistinctBy(r => r.Name).ToList();

    public static AblationTable Get(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"unknown table '{name}' (expected all or one of: {string.Join(", ", All.Select(t => t.Name))})", nameof(name));
}
