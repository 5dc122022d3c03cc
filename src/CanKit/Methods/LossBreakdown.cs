namespace CanKit.Methods;

/// <summary>
/// One step's losses as numbers: the weighted total and each unweighted term (0 where a method has no such
/// term), plus the share of contrastive anchors whose positive was the top-scoring candidate.
/// </summary>
public sealed record LossBreakdown(double Total, double Contrastive, double Reconstruction, double Denoise, double ContrastiveTop1)
{
    /// <summary>
    /// Reads a step's scalar tensors (null: 0) in one transfer: on a GPU each separate read would wait for the device,
    /// one per term; stacked, the step waits once, after its whole forward has been queued. Values are read in
    /// float64, so a float64 model's terms keep their precision.
    /// </summary>
    internal static LossBreakdown Read(Tensor total, Tensor? contrastive = null, Tensor? reconstruction = null, Tensor? denoise = null,
                                       Tensor? top1 = null)
    {
        using var scope = torch.NewDisposeScope();
        Tensor?[] terms = [total, contrastive, reconstruction, denoise, top1];
        var present = terms.Where(t => t is not null).Select(t => t!.detach().to(ScalarType.Float64).reshape(1)).ToList();
        var values = torch.cat(present, 0).cpu().data<double>().ToArray();
        var result = new double[terms.Length];
        for (int i = 0, k = 0; i < terms.Length; i++)
            if (terms[i] is not null) result[i] = values[k++];
        return new LossBreakdown(result[0], result[1], result[2], result[3], result[4]);
    }
}

/// <summary>What the decoder produced, for plots: pixel predictions [N, L, P], the mask [N, L] (1 = removed),
/// the network input [N, C, H, W] (noisy when noise was added), the added noise σ·e and σ [N] (zeros without noise).</summary>
public sealed record Predictions(Tensor Pixels, Tensor Mask, Tensor Input, Tensor Noise, Tensor Sigma) : IDisposable
{
    /// <summary>
    /// Detached copies of a step's tensors for plotting, moved out of the step's <paramref name="scope"/>; noise and σ
    /// default to zeros for methods without noise.
    /// </summary>
    internal static Predictions Keep(DisposeScope scope, Tensor pixels, Tensor mask, Tensor input, Tensor? noise = null, Tensor? sigma = null)
    {
        var p = new Predictions(pixels.detach(), mask.detach(), input.detach(),
            noise?.detach() ?? torch.zeros(input.shape, input.dtype, input.device),
            sigma?.detach() ?? torch.zeros([input.size(0)], input.dtype, input.device));
        scope.MoveToOuter(p.Pixels, p.Mask, p.Input, p.Noise, p.Sigma);
        return p;
    }

    public void Dispose()
    {
        Pixels.Dispose();
        Mask.Dispose();
        Input.Dispose();
        Noise.Dispose();
        Sigma.Dispose();
    }
}

/// <summary>A method's forward result: the loss tensor to back-propagate, its breakdown, and optional predictions.</summary>
public sealed record StepResult(Tensor Loss, LossBreakdown Terms, Predictions? Predictions) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        Predictions?.Dispose();
    }
}

/// <summary>
/// The randomness of one step, fixed from outside (tests against PyTorch, notebooks). Anything left null is drawn
/// from the method's generator. Shapes are for the stacked batch of all views ([V·N, …], view 1 first).
/// </summary>
public sealed record StepRandomness(Tensor? MaskNoise = null, Tensor? Sigma = null, Tensor? Eps = null);
