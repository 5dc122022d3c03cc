namespace CanKit.Optim;

/// <summary>
/// SGD with momentum as <c>torch.optim.SGD</c>: g ← g + wd·p; b ← μ·b + (1−dampening)·g (b ← g on the first
/// step); g ← g + μ·b (Nesterov) or b; p ← p − lr·g.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly List<Tensor[]> _buf = [];

    public double Momentum { get; }
    public double Dampening { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }

    public Sgd(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : this([new ParamGroup(parameters.ToList())], lr, momentum, dampening, weightDecay, nesterov) { }

    public Sgd(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(groups, lr)
    {
        if (momentum < 0) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "must be ≥ 0");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "must be ≥ 0");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentOutOfRangeException(nameof(nesterov), "Nesterov momentum needs momentum > 0 and zero dampening");
        (Momentum, Dampening, WeightDecay, Nesterov) = (momentum, dampening, weightDecay, nesterov);
        foreach (var g in Groups)
            _buf.Add(g.Params.Select(p => Tensor.Zeros(p.Shape, p.DType, p.Device).DetachFromDisposeScope()).ToArray());
    }

    public override unsafe void Step()
    {
        bool first = StepCount == 0;
        StepCount++;
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            var g = Groups[gi];
            IntPtr[] p = Handles(g.Params), b = Handles(_buf[gi]);
            fixed (IntPtr* pp = p, bp = b)
                NativeCheck.Status(Native.ck_sgd_step(pp, bp, p.Length, LearningRate * g.LrScale, Momentum, Dampening,
                    g.WeightDecay ?? WeightDecay, Nesterov ? 1 : 0, first ? 1 : 0), "Sgd.Step");
            GC.KeepAlive(g.Params);
        }
    }

    public override IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        for (int gi = 0; gi < Groups.Count; gi++)
            for (int i = 0; i < _buf[gi].Length; i++) d[$"{gi}.{i}.momentum_buffer"] = _buf[gi][i];
        return d;
    }

    public override void Dispose()
    {
        foreach (var t in _buf.SelectMany(a => a)) t.Dispose();
        base.Dispose();
    }
}
