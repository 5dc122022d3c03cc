using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Methods;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>The tables' definitions: claims name rows of their table, a row name is one configuration everywhere, and a
/// run folder's run.json rebuilds exactly the row the suite trained.</summary>
public sealed class AblationTablesTests
{
    private static readonly VitConfig Enc = new() { ImageSize = 28, PatchSize = 4, InChannels = 1, Width = 64, Depth = 2, Heads = 2 };

    [Fact]
    public void ClaimsNameRowsOfTheirOwnTableAndEveryTableHasAnExercise()
    {
        foreach (var t in AblationTables.All)
        {
            Assert.Equal(t.Rows.Count, t.Rows.Select(r => r.Name).Distinct().Count());
            Assert.False(string.IsNullOrWhiteSpace(t.Exercise), t.Name);
            foreach (var c in t.Claims)
            {
                Assert.Contains(t.Rows, r => r.Name == c.Better);
                Assert.Contains(t.Rows, r => r.Name == c.Worse);
            }
        }
        Assert.Equal(AblationTables.All.Count, AblationTables.All.Select(t => t.Name).Distinct().Count());
        Assert.Throws<ArgumentException>(() => AblationTables.Get("nonsense"));
    }

    [Fact]
    public void ARowNameIsOneConfigurationAndItsRunJsonRebuildsIt()
    {
        var settings = new AblationSettings();
        var d = settings.Decoder;
        foreach (var group in AblationTables.All.SelectMany(t => t.Rows).GroupBy(r => r.Name))
        {
            Assert.Single(group.Distinct());
            var row = group.First();
            // What the suite trains is what `cankit pretrain --method ROW` with the suite's decoder trains (run.json's path).
            var expected = row.Kind switch
            {
                MethodKind.Can => row with { Can = (row.Can ?? CanConfig.Paper) with { Decoder = d } },
                MethodKind.Mae => row with { Mae = (row.Mae ?? MaeConfig.Paper) with { Decoder = d } },
                MethodKind.Cmae => row with { Cmae = (row.Cmae ?? CmaeConfig.OfficialCode) with { PixelDecoder = d } },
                _ => row,
            };
            Assert.Equal(expected.Resolve(Enc), settings.Spec(row, 0).MethodSpec().Resolve(Enc));
        }
    }

    [Fact]
    public void MaeStepFlopsMatchTheHandCount()
    {
        // 28 px, patch 4: L = 49 patches of P = 16 values; D = 64, 2 blocks; mask 0.75 keeps ⌊49·0.25⌋ = 12; decoder 64 × 1; 2 images.
        // encoder: patch embedding 2·2·49·16·64 = 200 704; blocks 2·2·(24·12·64² + 4·12²·64) = 4 866 048
        // decoder: embed 2·2·12·64·64 = 196 608; block 2·(24·49·64² + 4·49²·64) = 10 863 104; pixel head 2·2·49·64·16 = 200 704
        // ×3 for forward + backward: 3·(5 066 752 + 11 260 416) = 48 981 504.
        var mae = new MethodSpec("mae", MethodKind.Mae, Mae: MaeConfig.Paper with { Decoder = new DecoderConfig { Width = 64, Depth = 1, Heads = 2 } });
        Assert.Equal(48_981_504, StepFlops.Of(mae, Enc, 2));
    }

    [Fact]
    public void CmaeWithoutFeatureDecoderSavesExactlyItsTrainedCost()
    {
        var cmae = AblationTables.CmaeComponents.Rows.Single(r => r.Name == "cmae");
        var without = AblationTables.CmaeComponents.Rows.Single(r => r.Name == "cmae-no-feature-decoder");
        var fd = cmae.Resolve(Enc).Cmae!.FeatureDecoder;
        double saved = 3 * StepFlops.Decoder(Enc, fd, 4, StepFlops.Visible(Enc, 0.65), pixelHead: false);
        Assert.Equal(StepFlops.Of(cmae, Enc, 4) - saved, StepFlops.Of(without, Enc, 4), 1e-6);
    }
}
