namespace CanKit;

/// <summary>libtorch device kinds (values are <c>c10::DeviceType</c> codes).</summary>
public enum DeviceType
{
    Cpu = 0,
    Cuda = 1,
}

/// <summary>A device: <c>cpu</c> or <c>cuda:N</c>. <c>default(Device)</c> is the CPU.</summary>
public readonly record struct Device(DeviceType Type, int Index)
{
    public static readonly Device Cpu = default;

    public static Device Cuda(int index = 0) => new(DeviceType.Cuda, index);

    public bool IsCuda => Type == DeviceType.Cuda;

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public static Device Parse(string s)
    {
        string t = s.Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda") return Cuda(0);
        if (t.StartsWith("cuda:") && int.TryParse(t.AsSpan(5), out int i) && i >= 0) return Cuda(i);
        throw new ArgumentException($"unknown device '{s}' (expected cpu, cuda or cuda:N)", nameof(s));
    }

    internal int NativeIndex => Type == DeviceType.Cpu ? -1 : Index;

    public override string ToString() => Type == DeviceType.Cpu ? "cpu" : $"cuda:{(Index < 0 ? 0 : Index)}";
}
