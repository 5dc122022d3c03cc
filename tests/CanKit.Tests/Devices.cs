using Xunit;

namespace CanKit.Tests;

/// <summary>Test data sources shared by the test classes.</summary>
public static class Devices
{
    /// <summary>Every available device by name (CPU; CUDA devices when present).</summary>
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (var d in Torch.AvailableDevices()) data.Add(d.ToString());
        return data;
    }

    /// <summary>Every (device, case name) pair.</summary>
    public static TheoryData<string, string> Cross(IEnumerable<string> cases)
    {
        var data = new TheoryData<string, string>();
        foreach (var d in Torch.AvailableDevices())
            foreach (var c in cases) data.Add(d.ToString(), c);
        return data;
    }
}
