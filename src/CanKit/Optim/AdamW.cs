using CanKit.Nn;

namespace CanKit.Optim;

/// <summary>
/// Adam with decoupled weight decay (Loshchilov &amp; Hutter), step for step as <c>torch.optim.AdamW</c>:
/// p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
/// Each group is updated by one native call over whole tensors.
/// </summary>
public sealed class AdamW : Optimizer
{
    private readonly List<Tensor[]> _expAvg = [];
    private readonly List<Tensor[]> _expAvgSq = [];

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }

    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : this([new ParamGroup(parameters.ToList())], lr, beta1, beta2, eps, weightDecay) { }

    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2)
        : base(groups, lr)
    {
        if (beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "must be in [0, 1)");
        if (beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "must be in [0, 1)");
        if (eps <= 0) throw new ArgumentOutOfRangeException(nameof(eps), eps, "must be > 0");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "must be ≥ 0");
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
        using var noGrad = Torch.NoGrad();
        foreach (var g in Groups)
        {
            _expAvg.Add(g.Params.Select(ZerosLike).ToArray());
            _expAvgSq.Add(g.Params.Select(ZerosLike).ToArray());
        }
    }

    private static Tensor ZerosLike(Tensor p) => Tensor.Zeros(p.Shape, p.DType, p.Device).DetachFromDisposeScope();

    /// <summary>
    /// Two groups as MAE and CAN train: weight decay for weight matrices, none for biases, norms and other
    /// 1-D tensors (and for tokens and embeddings named in <paramref name="noDecayNames"/>). Frozen parameters
    /// (RequiresGrad = false, e.g. a momentum target) are left out.
    /// </summary>
    public static IReadOnlyList<ParamGroup> DecayGroups(Module module, double weightDecay, params string[] noDecayNames)
    {
        var decay = new List<Tensor>();
        var noDecay = new List<Tensor>();
        foreach (var (name, p) in module.NamedParameters().Where(p => p.Value.RequiresGrad))
        {
            bool skip = p.Dim <= 1 || name.EndsWith(".bias") || noDecayNames.Any(n => name == n || name.EndsWith("." + n));
            (skip ? noDecay : decay).Add(p);
        }
        var groups = new List<ParamGroup>();
        if (decay.Count > 0) groups.Add(new ParamGroup(decay, weightDecay));
        if (noDecay.Count > 0) groups.Add(new ParamGroup(noDecay, 0.0));
        return groups;
    }

    public override unsafe void Step()
    {
        StepCount++;
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            var g = Groups[gi];
            IntPtr[] p = Handles(g.Params), m = Handles(_expAvg[gi]), v = Handles(_expAvgSq[gi]);
            fixed (IntPtr* pp = p, mp = m, vp = v)
                NativeCheck.Status(Native.ck_adamw_step(pp, mp, vp, p.Length, LearningRate * g.LrScale, Beta1, Beta2, Eps,
                    g.WeightDecay ?? WeightDecay, StepCount), "AdamW.Step");
            GC.KeepAlive(g.Params);
        }
    }

    public override IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        for (int gi = 0; gi < Groups.Count; gi++)
            for (int i = 0; i < _expAvg[gi].Length; i++)
            {
                d[$"{gi}.{i}.exp_avg"] = _expAvg[gi][i];
                d[$"{gi}.{i}.exp_avg_sq"] = _expAvgSq[gi][i];
            }
        return d;
    }

    public override void Dispose()
    {
        foreach (var t in _expAvg.Concat(_expAvgSq).SelectMany(a => a)) t.Dispose();
        base.Dispose();
    }
}
