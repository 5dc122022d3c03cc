using Xunit;
using TorchSharp;

namespace CanKit.Tests;

/// <summary>The device list the device-looping tests draw from, and that each listed device takes a tensor.</summary>
public class LoaderDevicesTests
{
    [Fact]
    public void Cpu_comes_first_then_every_cuda_device()
    {
        var devices = CanKit.Engine.Devices.Available();
        int cudaCount = torch.cuda.is_available() ? torch.cuda.device_count() : 0;
        Assert.Equal(1 + cudaCount, devices.Count);
        Assert.Equal(DeviceType.CPU, devices[0].type);
        for (int i = 0; i < cudaCount; i++)
            Assert.Equal((DeviceType.CUDA, i), (devices[i + 1].type, (int)devices[i + 1].index));
    }

    [Theory]
    [MemberData(nameof(Devices.All), MemberType = typeof(Devices))]
    public void Each_listed_device_computes(string device)
    {
        using var x = torch.arange(1, 5, dtype: torch.float32, device: torch.device(device)); // 1+2+3+4 = 10
        using var sum = x.sum();
        Assert.Equal(10f, sum.item<float>());
        Assert.Equal(device, x.device.ToString());
    }
}
