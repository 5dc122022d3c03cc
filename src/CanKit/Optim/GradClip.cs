namespace CanKit.Optim;

/// <summary>Gradient clipping by global norm (<c>torch.nn.utils.clip_grad_norm_</c>).</summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients by min(1, maxNorm / (‖g‖ + 1e-6)) where ‖g‖ is the p-norm of the per-tensor norms;
    /// returns ‖g‖ before clipping (useful to log). One native call for all tensors.
    /// </summary>
    public static unsafe double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm, double normType = 2)
    {
        if (maxNorm <= 0) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "must be > 0");
        var list = parameters.ToList();
        IntPtr[] h = Optimizer.Handles(list);
        double total;
        int status;
        fixed (IntPtr* p = h) total = Native.ck_clip_grad_norm(p, h.Length, maxNorm, normType, out status);
        GC.KeepAlive(list);
        NativeCheck.Status(status, nameof(ClipGradNorm));
        return total;
    }
}
