namespace CanKit.Engine;

/// <summary>The devices tensors can live on in this process.</summary>
public static class Devices
{
    /// <summary>CPU, then every visible CUDA device (<c>cuda:0</c>, <c>cuda:1</c>, …; none with the CPU-only package).</summary>
    public static IReadOnlyList<Device> Available()
    {
        TorchSharpLoader.EnsureLoaded();
        var list = new List<Device> { CPU };
        if (cuda.is_available())
            for (int i = 0; i < cuda.device_count(); i++) list.Add(new Device(DeviceType.CUDA, i));
        return list;
    }
}
