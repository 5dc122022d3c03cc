namespace CanKit.Optim;

/// <summary>A set of parameters sharing optimiser settings (e.g. no weight decay for norms and biases).</summary>
/// <param name="Params">The tensors to update (they need RequiresGrad).</param>
/// <param name="WeightDecay">Decay for this group; null uses the optimiser's default.</param>
/// <param name="LrScale">Multiplies the learning rate for this group (layer-wise decay, heads at 10×, …).</param>
public sealed record ParamGroup(IReadOnlyList<Tensor> Params, double? WeightDecay = null, double LrScale = 1.0);

/// <summary>
/// Base of the optimisers: parameter groups, a learning rate that schedules may change between steps, and
/// per-parameter state tensors owned (and disposed) by the optimiser.
/// </summary>
public abstract class Optimizer : IDisposable
{
    protected readonly List<ParamGroup> Groups;
    private double _lr;

    protected Optimizer(IEnumerable<ParamGroup> groups, double lr)
    {
        Groups = groups.ToList();
        if (Groups.Count == 0) throw new ArgumentException("no parameter groups", nameof(groups));
        LearningRate = lr;
    }

    /// <summary>Base learning rate (each group scales it by its LrScale).</summary>
    public double LearningRate
    {
        get => _lr;
        set => _lr = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(LearningRate), value, "must be finite and ≥ 0");
    }

    /// <summary>Steps taken so far.</summary>
    public long StepCount { get; protected set; }

    public IReadOnlyList<ParamGroup> ParamGroups => Groups;

    public IEnumerable<Tensor> AllParameters() => Groups.SelectMany(g => g.Params);

    /// <summary>Applies one update from the parameters' current gradients (parameters without one are skipped).</summary>
    public abstract void Step();

    /// <summary>Drops (default) or zeroes every parameter's gradient.</summary>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var p in AllParameters()) p.ZeroGrad(setToNone);
    }

    /// <summary>Optimiser state by name (for checkpoints): tensors are the optimiser's own, not copies.</summary>
    public abstract IReadOnlyDictionary<string, Tensor> StateDict();

    /// <summary>Restores state written by <see cref="StateDict"/> (values are copied).</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = Torch.NoGrad();
        foreach (var (name, own) in StateDict())
        {
            if (!state.TryGetValue(name, out var src))
                throw new ArgumentException($"optimiser state '{name}' is missing", nameof(state));
            if (!own.Shape.SequenceEqual(src.Shape))
                throw new ArgumentException($"optimiser state '{name}' has shape [{string.Join(", ", src.Shape)}], expected [{string.Join(", ", own.Shape)}]", nameof(state));
            own.CopyFrom(src);
        }
    }

    /// <summary>Sets the step count when resuming (AdamW's bias correction depends on it).</summary>
    public void StepCountFromCheckpoint(long steps)
    {
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "must be ≥ 0");
        StepCount = steps;
    }

    /// <summary>Raw handles of a list of tensors, for one native call over all of them.</summary>
    internal static IntPtr[] Handles(IReadOnlyList<Tensor> ts)
    {
        var h = new IntPtr[ts.Count];
        for (int i = 0; i < h.Length; i++) h[i] = ts[i].H.DangerousGetHandle();
        return h;
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);
}
