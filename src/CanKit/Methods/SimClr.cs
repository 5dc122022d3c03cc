using CanKit.Distributed;
using CanKit.Nn;
using CanKit.Objectives;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>SimCLR's settings with a ViT encoder (Chen et al. 2020; CAN's baseline).</summary>
public sealed record SimClrConfig
{
    private readonly double _temperature = 0.1;
    private readonly int _projectionDim = 128, _projectionHidden;

    public VitConfig Encoder { get; init; } = VitConfig.CifarSmall with { ClsToken = false };

    /// <summary>InfoNCE temperature (CAN uses 0.1 for both CAN and its SimCLR baseline).</summary>
    public double Temperature { get => _temperature; init => _temperature = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(Temperature), value, "must be > 0"); }

    public int ProjectionDim { get => _projectionDim; init => _projectionDim = VitConfig.Positive(value, nameof(ProjectionDim)); }

    /// <summary>0 means the encoder width.</summary>
    public int ProjectionHidden { get => _projectionHidden; init => _projectionHidden = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(ProjectionHidden), value, "must be ≥ 0"); }

    public int HeadHidden => ProjectionHidden == 0 ? Encoder.Width : ProjectionHidden;

    public SimClrConfig Validate()
    {
        Encoder.Validate();
        return this;
    }
}

/// <summary>SimCLR: both full views through the encoder, mean-pooled, projected, InfoNCE. Submodules <c>encoder</c>, <c>head</c>.</summary>
public sealed class SimClr : Module
{
    public SimClrConfig Config { get; }
    public IEncoder Encoder { get; }
    public Sequential Head { get; }

    /// <summary>Data-parallel training: when set, every rank's embeddings are negatives (as one process with the global batch).</summary>
    public ProcessGroup? NegativesGroup { get; set; }

    public SimClr(SimClrConfig config, Generator? generator = null) : this(config, new VisionTransformer(config.Encoder, generator), generator) { }

    public SimClr(SimClrConfig config, IEncoder encoder, Generator? generator = null)
    {
        Config = config.Validate();
        Encoder = encoder;
        if (encoder is Module m) RegisterModule("encoder", m);
        Head = RegisterModule("head", ProjectionHead.Create(encoder.Width, config.HeadHidden, config.ProjectionDim, generator));
    }

    public StepResult Forward(Tensor view1, Tensor view2)
    {
        Tensor loss;
        LossBreakdown terms;
        using (var scope = Torch.NewDisposeScope())
        {
            var x = Tensor.Cat([view1, view2], 0);                                   // [2N, C, H, W]
            var latent = Encoder.Encode(Encoder.Embed(x));                            // [2N, (1+)L, D]
            var z = Head.Forward(ProjectionHead.MeanPool(latent, Encoder.HasClsToken));
            long n = view1.Size(0);
            var con = InfoNceLoss.Compute(z.Narrow(0, 0, n), z.Narrow(0, n, n), Config.Temperature, NegativesGroup);
            loss = con.Loss;
            terms = LossBreakdown.Read(loss, loss, top1: con.Top1);
            scope.MoveToOuter(loss);
        }
        return new StepResult(loss, terms, null);
    }
}
