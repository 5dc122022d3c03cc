namespace CanKit.Nn;

/// <summary>An indexed list of submodules named 0, 1, 2, … (PyTorch's <c>nn.ModuleList</c>).</summary>
public sealed class ModuleList : Module
{
    private readonly List<Module> _items = [];

    public T Add<T>(T module) where T : Module
    {
        RegisterModule(_items.Count.ToString(), module);
        _items.Add(module);
        return module;
    }

    public int Count => _items.Count;
    public Module this[int i] => _items[i];
}
