using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace CanKit.IO;

/// <summary>
/// The tensors and metadata loaded from a safetensors file. It owns the tensors: disposing it disposes every
/// tensor it still holds, so <c>using var ckpt = SafeTensors.Load(path);</c> frees them all. To keep a tensor
/// past the checkpoint's lifetime, <see cref="Take"/> it (the caller then owns and disposes it), or copy it.
/// </summary>
public sealed class SafeTensorsCheckpoint : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;
    private bool _disposed;

    internal SafeTensorsCheckpoint(Dictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The file's <c>__metadata__</c> strings (empty when it has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor stored under <paramref name="name"/>; it stays owned by this checkpoint.</summary>
    public Tensor this[string name]
    {
        get
        {
            ThrowIfDisposed();
            return _tensors.TryGetValue(name, out Tensor? t)
                ? t
                : throw new KeyNotFoundException($"the checkpoint has no tensor '{name}'");
        }
    }

    /// <summary>Removes <paramref name="name"/> from the checkpoint and hands it to the caller, who must dispose it.</summary>
    public Tensor Take(string name)
    {
        Tensor t = this[name];
        _tensors.Remove(name);
        return t;
    }

    /// <inheritdoc/>
    public int Count => _tensors.Count;

    /// <inheritdoc/>
    public IEnumerable<string> Keys => _tensors.Keys;

    /// <inheritdoc/>
    public IEnumerable<Tensor> Values => _tensors.Values;

    /// <inheritdoc/>
    public bool ContainsKey(string key) => _tensors.ContainsKey(key);

    /// <inheritdoc/>
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out Tensor value)
    {
        ThrowIfDisposed();
        return _tensors.TryGetValue(key, out value);
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator()
    {
        ThrowIfDisposed();
        return _tensors.GetEnumerator();
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Disposes every tensor the checkpoint still holds.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (Tensor t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
