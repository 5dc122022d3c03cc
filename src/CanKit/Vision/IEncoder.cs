namespace CanKit.Vision;

/// <summary>
/// What the self-supervised methods need from an encoder: embed patches (with position), and encode any subset
/// of patch tokens. Methods use only this interface, never the encoder's layers.
/// </summary>
public interface IEncoder
{
    VitConfig Config { get; }

    /// <summary>Token width D.</summary>
    int Width { get; }

    /// <summary>Whether <see cref="Encode"/> prepends a [CLS] token to its output.</summary>
    bool HasClsToken { get; }

    /// <summary>[N, C, H, W] → patch tokens with position embedding [N, L, D].</summary>
    Tensor Embed(Tensor images);

    /// <summary>Tokens [N, Lv, D] → encoded [N, (1+)Lv, D].</summary>
    Tensor Encode(Tensor tokens);
}
