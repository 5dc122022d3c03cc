using CanKit.IO;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// `cankit export --to FILE` writes an encoder (or model) export and may replace an earlier export, never another file: a run's
/// checkpoint or run.json given as the target must survive byte for byte, with a one-line error naming the file.
/// </summary>
public sealed class ExportSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-export-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TrainedRun() => SyntheticData.TrainedRun(_dir);

    [Fact]
    public void ExportNeverReplacesTheRunsOwnFilesButReplacesAnEarlierExport()
    {
        string run = TrainedRun();
        foreach (var victim in new[] { Path.Combine(run, Trainer.CheckpointFile), Path.Combine(run, "run.json") })
        {
            byte[] before = File.ReadAllBytes(victim);
            var e = Assert.Throws<IOException>(() => RunExport.ExportEncoder(run, victim));
            Assert.Contains(victim, e.Message);
            Assert.Contains("not an encoder or model export", e.Message);
            Assert.Equal(before, File.ReadAllBytes(victim));
        }
        string other = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(other, "keep me");
        Assert.Throws<IOException>(() => RunExport.ExportEncoder(run, other));
        Assert.Equal("keep me", File.ReadAllText(other));

        string export = Path.Combine(_dir, "encoder.safetensors");
        RunExport.ExportEncoder(run, export);
        Assert.Equal("encoder", SafeTensors.ReadHeader(export).Metadata[ExportFormat.Marker]);
        RunExport.ExportEncoder(run, export);   // an earlier export is the one file it may replace
        using var loaded = SafeTensors.Load(export);
        Assert.Contains("blocks.0.attn.qkv.weight", loaded.Keys);
    }
}
