namespace CanKit.Vision;

/// <summary>
/// A Vision Transformer's shape. Each field is checked when set; the cross-field rules (image divisible by patch,
/// heads dividing width) are checked by <see cref="Validate"/>, which every model constructor calls.
/// </summary>
public sealed record VitConfig
{
    private readonly int _imageSize = 224, _patchSize = 16, _inChannels = 3, _width = 768, _depth = 12, _heads = 12;
    private readonly double _mlpRatio = 4, _layerNormEps = 1e-6;

    /// <summary>Square input side in pixels. ViT papers: 224; CIFAR runs: 32; Fashion-MNIST: 28.</summary>
    public int ImageSize { get => _imageSize; init => _imageSize = ConfigRules.Positive(value, nameof(ImageSize)); }

    /// <summary>Patch side. 16 at 224 px (L = 196 tokens); 4 at 32 px (L = 64). Smaller patches: more tokens, quadratic attention cost.</summary>
    public int PatchSize { get => _patchSize; init => _patchSize = ConfigRules.Positive(value, nameof(PatchSize)); }

    /// <summary>Image channels: 3 for colour, 1 for grayscale.</summary>
    public int InChannels { get => _inChannels; init => _inChannels = ConfigRules.Positive(value, nameof(InChannels)); }

    /// <summary>Token width D. Tiny 192, Small 384, Base 768, Large 1024.</summary>
    public int Width { get => _width; init => _width = ConfigRules.Positive(value, nameof(Width)); }

    /// <summary>Number of transformer blocks. Tiny/Small/Base 12, Large 24.</summary>
    public int Depth { get => _depth; init => _depth = ConfigRules.Positive(value, nameof(Depth)); }

    /// <summary>Attention heads; must divide Width (head width 64 in all ViT presets).</summary>
    public int Heads { get => _heads; init => _heads = ConfigRules.Positive(value, nameof(Heads)); }

    /// <summary>MLP hidden width as a multiple of Width (4 in ViT).</summary>
    public double MlpRatio { get => _mlpRatio; init => _mlpRatio = ConfigRules.Positive(value, nameof(MlpRatio)); }

    /// <summary>Prepend a learned [CLS] token (timm/MAE do; CAN pools visible tokens and does not need it).</summary>
    public bool ClsToken { get; init; } = true;

    /// <summary>LayerNorm epsilon: 1e-6 as in MAE and timm's ViT.</summary>
    public double LayerNormEps { get => _layerNormEps; init => _layerNormEps = ConfigRules.Positive(value, nameof(LayerNormEps)); }

    /// <summary>
    /// Arithmetic of the matrix products (<see cref="Vision.Precision"/>; the decoder follows the encoder). Float32: the
    /// reference. BFloat16: bf16 products with float32 master weights, norms and losses, faster only where the device
    /// computes bf16 natively (<c>cankit bench precision</c>).
    /// </summary>
    public Precision Precision { get; init; } = Precision.Float32;

    public int GridSize => ImageSize / PatchSize;

    /// <summary>Number of patches L = (ImageSize / PatchSize)².</summary>
    public int NumPatches => GridSize * GridSize;

    /// <summary>Values per patch: p·p·C.</summary>
    public int PatchDim => PatchSize * PatchSize * InChannels;

    public int HeadDim => Width / Heads;

    public static VitConfig Tiny => new() { Width = 192, Depth = 12, Heads = 3 };
    public static VitConfig Small => new() { Width = 384, Depth = 12, Heads = 6 };
    public static VitConfig Base => new() { Width = 768, Depth = 12, Heads = 12 };
    public static VitConfig Large => new() { Width = 1024, Depth = 24, Heads = 16 };

    /// <summary>The reference CIFAR-sized encoder of the benchmarks: 32 px, patch 4, 6 × 192, 3 heads.</summary>
    public static VitConfig CifarSmall => new() { ImageSize = 32, PatchSize = 4, Width = 192, Depth = 6, Heads = 3 };

    /// <summary>Checks the rules that involve more than one field.</summary>
    public VitConfig Validate()
    {
        if (ImageSize % PatchSize != 0)
            throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, $"image size must be divisible by the patch size {PatchSize}");
        if (Width % Heads != 0)
            throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"heads must divide the width {Width}");
        return this;
    }
}
