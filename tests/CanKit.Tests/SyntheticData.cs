using CanKit.Data;

namespace CanKit.Tests;

/// <summary>Small data sets in the official file formats, written by the tests that need a real run folder.</summary>
internal static class SyntheticData
{
    /// <summary>CIFAR-10's five binary training batches and its test batch under <c>dir/cifar10</c>,
    /// <paramref name="perFile"/> random images each, labels cycling 0–9. Returns the folder.</summary>
    public static string Cifar10(string dir, int perFile)
    {
        string root = Path.Combine(dir, "cifar10");
        Directory.CreateDirectory(root);
        var rng = new Random(3);
        foreach (string file in new[] { "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch" })
        {
            var bytes = new byte[perFile * (1 + CifarBinary.PixelBytes)];
            rng.NextBytes(bytes);
            for (int i = 0; i < perFile; i++) bytes[i * (1 + CifarBinary.PixelBytes)] = (byte)(i % 10);
            File.WriteAllBytes(Path.Combine(root, file + ".bin"), bytes);
        }
        return root;
    }
}
