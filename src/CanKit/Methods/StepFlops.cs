using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>
/// Matmul FLOPs of one training step, counted analytically from the shapes (2 FLOPs per multiply-add; MLP ratio 4, so a
/// block costs 24·t·D² for its four projections and MLP plus 4·t²·D for attention on t tokens). A trained forward counts
/// ×3 (forward + backward's two products); CMAE's target branch runs without gradient and counts ×1. Element-wise work
/// (norms, softmax, augmentations) is left out: it is what the papers' FLOP figures leave out too.
/// </summary>
public static class StepFlops
{
    /// <summary>FLOPs of one step of <paramref name="method"/> on <paramref name="batch"/> images with encoder <paramref name="encoder"/>.</summary>
    public static double Of(MethodSpec method, VitConfig encoder, int batch)
    {
        var r = method.Resolve(encoder);
        switch (method.Kind)
        {
            case MethodKind.Can:
                var can = r.Can!;
                return Can(can.Encoder, can.Decoder, batch, can.MaskRatio, can.RunsDecoder, can.Denoises && can.SigmaEmbedding,
                           can.HeadHidden, can.ProjectionDim);
            case MethodKind.SimClr:
                var sim = r.SimClr!;
                return Can(sim.Encoder, DecoderConfig.Small32, batch, 0, decoder: false, sigmaEmbedding: false, sim.HeadHidden, sim.ProjectionDim);
            case MethodKind.Mae:
                var mae = r.Mae!;
                int lv = Visible(encoder, mae.MaskRatio);
                return 3 * (Encoder(encoder, batch, lv) + Decoder(encoder, mae.Decoder, batch, lv, pixelHead: true));
            case MethodKind.Cmae:
                var c = r.Cmae!;
                int v = Visible(encoder, c.MaskRatio);
                double online = Encoder(encoder, batch, v) + Decoder(encoder, c.PixelDecoder, batch, v, pixelHead: true)
                    + (c.FeatureDecoderEnabled ? Decoder(encoder, c.FeatureDecoder, batch, v, pixelHead: false) : 0)
                    + Head(batch, encoder.Width, c.ProjectionHidden, c.ProjectionDim) + Head(batch, c.ProjectionDim, c.ProjectionHidden, c.ProjectionDim);
                double target = Encoder(encoder, batch, encoder.NumPatches) + Head(batch, encoder.Width, c.ProjectionHidden, c.ProjectionDim);
                return 3 * online + target;
            default:
                throw new ArgumentOutOfRangeException(nameof(method), method.Kind, "unknown method");
        }
    }

    /// <summary>Patch embedding of all L patches, then the blocks on <paramref name="tokens"/> tokens, for <paramref name="n"/> sequences.</summary>
    public static double Encoder(VitConfig enc, double n, int tokens) =>
        2.0 * n * enc.NumPatches * enc.PatchDim * enc.Width + enc.Depth * n * (24.0 * tokens * enc.Width * enc.Width + 4.0 * tokens * tokens * enc.Width);

    /// <summary>MAE decoder: embed <paramref name="visible"/> tokens, blocks on all L tokens, optional linear pixel head.</summary>
    public static double Decoder(VitConfig enc, DecoderConfig dec, double n, int visible, bool pixelHead)
    {
        int l = enc.NumPatches, dd = dec.Width;
        double f = 2.0 * n * visible * enc.Width * dd + dec.Depth * n * (24.0 * l * dd * dd + 4.0 * l * l * dd);
        return pixelHead ? f + 2.0 * n * l * dd * enc.PatchDim : f;
    }

    /// <summary>Linear(in, hidden) → ReLU → Linear(hidden, out) on <paramref name="n"/> vectors.</summary>
    public static double Head(double n, int inDim, int hidden, int outDim) => 2.0 * n * ((double)inDim * hidden + (double)hidden * outDim);

    /// <summary>Patches kept when <paramref name="maskRatio"/> of L are removed (RandomMasking keeps ⌊L·(1 − ratio)⌋).</summary>
    public static int Visible(VitConfig enc, double maskRatio) => (int)(enc.NumPatches * (1 - maskRatio));

    /// <summary>CAN (or, without decoder and mask, SimCLR) on two views of <paramref name="batch"/> images.</summary>
    public static double Can(VitConfig enc, DecoderConfig dec, int batch, double maskRatio, bool decoder, bool sigmaEmbedding, int hidden, int projection)
    {
        double n = 2.0 * batch;
        int lv = Visible(enc, maskRatio);
        double f = Encoder(enc, n, lv) + Head(n, enc.Width, hidden, projection);
        if (decoder) f += Decoder(enc, dec, n, lv, pixelHead: true);
        if (sigmaEmbedding) f += Head(n, dec.Width, dec.Width, dec.Width);
        return 3 * f;
    }
}
