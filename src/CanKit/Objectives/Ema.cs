namespace CanKit.Objectives;

/// <summary>
/// The momentum (EMA) target of CMAE/BYOL: target ← μ·target + (1 − μ)·online for every parameter, under
/// no-grad, parameter lists matched by name. μ is constant or follows <see cref="CosineMomentum"/>.
/// </summary>
public static class Ema
{
    public static void Update(nn.Module target, nn.Module online, double mu)
    {
        if (mu is < 0 or > 1 || double.IsNaN(mu)) throw new ArgumentOutOfRangeException(nameof(mu), mu, "momentum must be in [0, 1]");
        using var noGrad = torch.no_grad();
        var src = online.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, t) in target.named_parameters())
        {
            if (!src.TryGetValue(name, out var s)) throw new ArgumentException($"online module has no parameter '{name}'", nameof(online));
            t.mul_(mu).add_(s, 1 - mu);
        }
    }

    /// <summary>Copies the online weights (and buffers) into the target and freezes it (requires_grad = false).</summary>
    public static void InitialiseTarget(nn.Module target, nn.Module online)
    {
        target.load_state_dict(online.state_dict());
        foreach (var p in target.parameters()) p.requires_grad = false;
    }

    /// <summary>BYOL's schedule: μ(t) = 1 − (1 − μ₀)·(cos(πt/T) + 1)/2, rising from μ₀ to 1.</summary>
    public static double CosineMomentum(double mu0, long step, long totalSteps)
    {
        if (mu0 is < 0 or > 1 || double.IsNaN(mu0)) throw new ArgumentOutOfRangeException(nameof(mu0), mu0, "momentum must be in [0, 1]");
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "must be > 0");
        double t = Math.Clamp((double)step / totalSteps, 0, 1);
        return 1 - (1 - mu0) * (Math.Cos(Math.PI * t) + 1) / 2;
    }
}
