using Xunit;

namespace CanKit.Tests;

/// <summary>Test data sources shared by the test classes: tests run on every available device.</summary>
public static class Devices
{
    /// <summary>Every available device by name (<c>cpu</c>; <c>cuda:0</c>, … when present).</summary>
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (var d in CanKit.Engine.Devices.Available()) data.Add(d.ToString());
        return data;
    }

    /// <summary>Every (device, case name) pair.</summary>
    public static TheoryData<string, string> Cross(IEnumerable<string> cases)
    {
        var data = new TheoryData<string, string>();
        foreach (var d in CanKit.Engine.Devices.Available())
            foreach (var c in cases) data.Add(d.ToString(), c);
        return data;
    }
}
