namespace CanKit.Nn;

/// <summary>
/// A tree of parameters, buffers and submodules with PyTorch-style state-dict names
/// (<c>blocks.0.attn.qkv.weight</c>). Parameters and buffers are owned by the module (never by a dispose scope)
/// and freed by <see cref="Dispose"/>.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<KeyValuePair<string, Tensor>> _parameters = [];
    private readonly List<KeyValuePair<string, Tensor>> _buffers = [];
    private readonly List<KeyValuePair<string, Module>> _modules = [];
    private bool _disposed;

    /// <summary>True in training mode (dropout active), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Adds a trainable tensor under <paramref name="name"/>; it gets RequiresGrad = true.</summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckName(name);
        value.DetachFromDisposeScope();
        value.RequiresGrad = true;
        _parameters.Add(new(name, value));
        return value;
    }

    /// <summary>Adds a non-trainable tensor that is saved in the state dict (e.g. fixed position embeddings).</summary>
    protected Tensor RegisterBuffer(string name, Tensor value)
    {
        CheckName(name);
        value.DetachFromDisposeScope();
        _buffers.Add(new(name, value));
        return value;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _modules.Add(new(name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"invalid member name '{name}' (non-empty, no dots)", nameof(name));
        if (_parameters.Any(p => p.Key == name) || _buffers.Any(b => b.Key == name) || _modules.Any(m => m.Key == name))
            throw new ArgumentException($"'{name}' is already registered in {GetType().Name}", nameof(name));
    }

    /// <summary>Direct children, in registration order.</summary>
    public IEnumerable<KeyValuePair<string, Module>> NamedChildren() => _modules;

    /// <summary>Every parameter with its dotted name, depth first in registration order.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> NamedParameters(string prefix = "")
    {
        foreach (var p in _parameters) yield return new(prefix + p.Key, p.Value);
        foreach (var m in _modules)
            foreach (var p in m.Value.NamedParameters(prefix + m.Key + ".")) yield return p;
    }

    public IEnumerable<KeyValuePair<string, Tensor>> NamedBuffers(string prefix = "")
    {
        foreach (var b in _buffers) yield return new(prefix + b.Key, b.Value);
        foreach (var m in _modules)
            foreach (var b in m.Value.NamedBuffers(prefix + m.Key + ".")) yield return b;
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Value);

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount() => Parameters().Sum(p => p.NumEl);

    /// <summary>Parameters and buffers by name. The tensors are the module's own (not copies): do not dispose them.</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var p in NamedParameters()) d[p.Key] = p.Value;
        foreach (var b in NamedBuffers()) d[b.Key] = b.Value;
        return d;
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers (converting dtype and device). With
    /// <paramref name="strict"/>, missing or unexpected names are an error; a shape mismatch always is.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new ArgumentException($"state dict does not match {GetType().Name}: " +
                    $"missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}]", nameof(state));
        }
        using var noGrad = Torch.NoGrad();
        foreach (var (name, target) in own)
        {
            if (!state.TryGetValue(name, out var src)) continue;
            long[] want = target.Shape, have = src.Shape;
            if (!want.SequenceEqual(have))
                throw new ArgumentException($"tensor '{name}' has shape [{string.Join(", ", have)}] but {GetType().Name} expects [{string.Join(", ", want)}]", nameof(state));
            target.CopyFrom(src);
        }
    }

    /// <summary>Moves every parameter and buffer to <paramref name="device"/> (and dtype), in place.</summary>
    public Module To(Device device, DType? dtype = null)
    {
        foreach (var t in Parameters().Concat(NamedBuffers().Select(b => b.Value)))
        {
            DType target = dtype is { } d && t.DType.IsFloatingPoint() ? d : t.DType;
            using var moved = t.To(device, target);
            using var noGrad = Torch.NoGrad();
            t.SetData(moved);
        }
        return this;
    }

    public Module Train(bool on = true)
    {
        Training = on;
        foreach (var m in _modules) m.Value.Train(on);
        return this;
    }

    public Module Eval() => Train(false);

    /// <summary>Drops every parameter's gradient (or zeroes it in place).</summary>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var p in Parameters()) p.ZeroGrad(setToNone);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var p in _parameters) p.Value.Dispose();
        foreach (var b in _buffers) b.Value.Dispose();
        foreach (var m in _modules) m.Value.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A module with one input and one output.</summary>
public abstract class Module<TIn, TOut> : Module
{
    public abstract TOut Forward(TIn input);
}
