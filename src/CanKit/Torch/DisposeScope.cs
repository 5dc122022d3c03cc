namespace CanKit;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost scope, and disposes them all when it
/// is disposed, so one training step frees everything it made. Keep a result with <see cref="MoveToOuter(Tensor)"/>
/// (or <see cref="Tensor.MoveToOuterDisposeScope"/>). Scopes nest; dispose them in reverse order (<c>using</c>).
/// </summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] private static DisposeScope? _current;

    private readonly DisposeScope? _outer;
    // A list with each tensor's slot stored in the tensor: O(1) add and swap-remove, no hashing per op.
    private readonly List<Tensor> _tensors = [];
    private bool _disposed;

    internal DisposeScope()
    {
        _outer = _current;
        _current = this;
    }

    /// <summary>The innermost open scope on this thread, or null.</summary>
    public static DisposeScope? Current => _current;

    /// <summary>How many live tensors this scope owns.</summary>
    public int Count => _tensors.Count;

    internal void Register(Tensor t)
    {
        if (_disposed) return;
        t.ScopeSlot = _tensors.Count;
        _tensors.Add(t);
        t.Scope = this;
    }

    private void Remove(Tensor t)
    {
        int i = t.ScopeSlot, last = _tensors.Count - 1;
        if (i != last)
        {
            _tensors[i] = _tensors[last];
            _tensors[i].ScopeSlot = i;
        }
        _tensors.RemoveAt(last);
        t.Scope = null;
    }

    /// <summary>Hands <paramref name="t"/> to the enclosing scope (or to the caller when there is none).</summary>
    public Tensor MoveToOuter(Tensor t)
    {
        if (t.Scope != this) throw new InvalidOperationException("the tensor does not belong to this dispose scope");
        Remove(t);
        _outer?.Register(t);
        return t;
    }

    /// <summary>Hands several tensors to the enclosing scope.</summary>
    public void MoveToOuter(params Tensor[] ts)
    {
        foreach (var t in ts) MoveToOuter(t);
    }

    internal void Forget(Tensor t)
    {
        if (t.Scope == this) Remove(t);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _tensors)
        {
            t.Scope = null;
            t.Dispose();
        }
        _tensors.Clear();
        // Restore the outer scope even if scopes were disposed out of order.
        if (_current == this) _current = _outer;
    }
}
