using CanKit.Distributed;
using CanKit.Objectives;
using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>SimCLR's settings with a ViT encoder (Chen et al. 2020; CAN's baseline).</summary>
public sealed record SimClrConfig
{
    private readonly double _temperature = 0.1;
    private readonly int _projectionDim = 128, _projectionHidden;

    public VitConfig Encoder { get; init; } = VitConfig.CifarSmall with { ClsToken = false };

    /// <summary>InfoNCE temperature (CAN uses 0.1 for both CAN and its SimCLR baseline).</summary>
    public double Temperature
    {
        get => _temperature;
        init => _temperature = ConfigRules.Positive(value, nameof(Temperature));
    }

    public int ProjectionDim { get => _projectionDim; init => _projectionDim = ConfigRules.Positive(value, nameof(ProjectionDim)); }

    /// <summary>0 means the encoder width.</summary>
    public int ProjectionHidden
    {
        get => _projectionHidden;
        init => _projectionHidden = ConfigRules.NonNegative(value, nameof(ProjectionHidden));
    }

    public int HeadHidden => ProjectionHidden == 0 ? Encoder.Width : ProjectionHidden;

    public SimClrConfig Validate()
    {
        Encoder.Validate();
        return this;
    }
}

/// <summary>SimCLR: both full views through the encoder, mean-pooled, projected, InfoNCE. Submodules <c>encoder</c>, <c>head</c>.</summary>
public sealed class SimClr : nn.Module, IGlobalNegatives
{
    // Fields carry the state-dict names: RegisterComponents() registers them by field name.
    private readonly IEncoder encoder;
    private readonly Sequential head;

    public SimClrConfig Config { get; }

    /// <inheritdoc/>
    public ProcessGroup? NegativesGroup { get; set; }
    public IEncoder Encoder => encoder;
    public Sequential Head => head;

    public SimClr(SimClrConfig config, Generator? generator = null) : this(config, new VisionTransformer(config.Validate().Encoder, generator), generator) { }

    public SimClr(SimClrConfig config, IEncoder encoder, Generator? generator = null) : base(nameof(SimClr))
    {
        Config = config.Validate();
        this.encoder = encoder;
        head = ProjectionHead.Create(encoder.Width, config.HeadHidden, config.ProjectionDim, generator);
        RegisterComponents();
    }

    /// <summary>Two full views [N, C, H, W] → InfoNCE loss with top-1.</summary>
    public StepResult Forward(Tensor view1, Tensor view2)
    {
        if (!view1.shape.SequenceEqual(view2.shape))
            throw new ArgumentException($"the views differ in shape: {Shapes.Of(view1)} vs {Shapes.Of(view2)}", nameof(view2));
        Tensor loss;
        LossBreakdown terms;
        using (var scope = torch.NewDisposeScope())
        {
            var x = torch.cat([view1, view2], 0);                                    // [2N, C, H, W]
            var latent = encoder.Encode(encoder.Embed(x));                            // [2N, (1+)L, D]
            var z = head.call(ProjectionHead.MeanPool(latent, encoder.HasClsToken));  // [2N, P]
            long n = view1.size(0);
            var con = InfoNceLoss.Compute(z.narrow(0, 0, n), z.narrow(0, n, n), Config.Temperature, NegativesGroup);
            loss = con.Loss;
            terms = LossBreakdown.Read(loss, loss, top1: con.Top1);
            loss.MoveToOuterDisposeScope();
        }
        return new StepResult(loss, terms, null);
    }
}
