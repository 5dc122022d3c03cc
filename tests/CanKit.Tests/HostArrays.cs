namespace CanKit.Tests;

/// <summary>Reads a tensor of any device and layout back as a row-major host array.</summary>
internal static class HostArrays
{
    public static T[] Host<T>(this Tensor t) where T : unmanaged
    {
        using var cpu = t.detach().cpu();
        using var contiguous = cpu.contiguous();
        return contiguous.data<T>().ToArray();
    }
}
