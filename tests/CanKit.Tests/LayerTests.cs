using CanKit.Methods;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The core library's layers (docs/architecture.md): a namespace uses only namespaces of lower layers, so dependencies
/// point one way and there are no cycles; the core references no notebook or plot package.
/// </summary>
public class LayerTests
{
    // Lowest first. Namespaces in one layer do not use each other.
    private static readonly string[][] Layers =
    [
        ["CanKit.Engine"],
        ["CanKit.Tensors"],
        ["CanKit.IO", "CanKit.Sampling", "CanKit.Distributed", "CanKit.Optim"],
        ["CanKit.Data"],
        ["CanKit.Data.Fetch"],
        ["CanKit.Augment"],
        ["CanKit.Vision"],
        ["CanKit.Objectives"],
        ["CanKit.Methods"],
        ["CanKit.Catalog", "CanKit.Plots"],
        ["CanKit.Evaluation"],
        ["CanKit.Training"],
        ["CanKit.Ablation"],
    ];

    private static int LayerOf(string ns) => Array.FindIndex(Layers, l => l.Contains(ns));

    private static IEnumerable<(string From, string To, string Example)> CrossNamespaceUses() =>
        Dependencies.Of(typeof(Can).Assembly)
            .Select(p => (From: Dependencies.NamespaceOf(p.User), To: Dependencies.NamespaceOf(p.Used), p.User, p.Used))
            .Where(p => p.To.StartsWith("CanKit", StringComparison.Ordinal) && p.From != p.To)
            .GroupBy(p => (p.From, p.To))
            .Select(g => (g.Key.From, g.Key.To, $"{g.First().User.Name} uses {g.First().Used.Name}"));

    [Fact]
    public void EveryNamespaceOfTheCoreHasALayer()
    {
        var namespaces = typeof(Can).Assembly.GetTypes().Select(Dependencies.NamespaceOf)
            .Where(n => n.StartsWith("CanKit", StringComparison.Ordinal)).Distinct().ToList();
        Assert.Contains("CanKit.Methods", namespaces);
        Assert.Empty(namespaces.Where(n => LayerOf(n) < 0));
    }

    [Fact]
    public void NamespacesUseOnlyLowerLayers()
    {
        var uses = CrossNamespaceUses().ToList();
        Assert.Contains(uses, u => u.From == "CanKit.Methods" && u.To == "CanKit.Objectives");   // the scan sees real uses
        var upward = uses.Where(u => LayerOf(u.To) >= LayerOf(u.From)).Select(u => $"{u.From} → {u.To} ({u.Example})").ToList();
        Assert.True(upward.Count == 0, "uses of a namespace in the same or a higher layer:\n" + string.Join("\n", upward));
    }

    [Fact]
    public void TheScanFindsUsesInsideMethodBodies()
    {
        // FineTune names Data's BatchLoader only inside a method body (a static call): the IL scan must see it.
        var uses = Dependencies.Of(typeof(CanKit.Evaluation.FineTune).Assembly)
            .Where(p => p.User == typeof(CanKit.Evaluation.FineTune)).Select(p => p.Used).ToList();
        Assert.Contains(typeof(CanKit.Data.BatchLoader), uses);
    }

    [Fact]
    public void TheCoreReferencesNoNotebookOrPlotPackage()
    {
        var refs = typeof(Can).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("TorchSharp", refs);
        string[] hostOnly = ["Plotly.NET", "Plotly.NET.CSharp", "FSharp.Core", "Microsoft.DotNet.Interactive", "Microsoft.DotNet.Interactive.Formatting",
                             "Giraffe.ViewEngine"];
        Assert.Empty(refs.Intersect(hostOnly));
    }
}
