using System.CommandLine;
using System.Globalization;
using CanKit.Methods;

namespace CanKit.Cli;

/// <summary>
/// The flags that change CAN's preset, each onto one field of <see cref="CanOverrides"/> (unset: the preset's value).
/// Ranges are checked by <see cref="CanConfig"/> itself when the run is validated, with the flag named.
/// </summary>
internal sealed class CanFlags
{
    private readonly Option<double?> _mask = new("--mask-ratio") { Description = "share of patches masked in each view (paper 0.5, official code 0.75)" };
    private readonly Option<double?> _sigma = new("--sigma-max")
    {
        Description = "σmax of the added noise, in normalised-pixel units (paper preset 0.05, official code 0.1)",
    };
    private readonly Option<string?> _weights = new("--weights")
    {
        Description = "loss weights contrastive,reconstruction,denoise (paper preset 0.03,0.67,0.3)",
    };
    private readonly Option<double?> _tau = new("--tau") { Description = "InfoNCE temperature (paper 0.1)" };
    private readonly Option<double?> _cropMin = new("--crop-min") { Description = "smallest crop, as a share of the image's area (paper 0.2)" };
    private readonly Option<double?> _blur = new("--blur") { Description = "probability of Gaussian blur per view (SimCLR 0.5)" };
    private readonly Option<double?> _jitter = new("--jitter") { Description = "probability of colour jitter per view (SimCLR 0.8)" };

    public static CanFlags Create() => new();

    public IEnumerable<Option> All => [_mask, _sigma, _weights, _tau, _cropMin, _blur, _jitter];

    /// <summary>The overrides the command line gives, or null when it gives none.</summary>
    public CanOverrides? Read(ParseResult r)
    {
        double? wc = null, wr = null, wd = null;
        if (r.GetValue(_weights) is { } w)
        {
            var parts = w.Split(',');
            var values = parts.Select(p => double.TryParse(p.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN).ToArray();
            if (values.Length != 3 || values.Any(double.IsNaN))
                throw new ArgumentException($"--weights: expected three numbers contrastive,reconstruction,denoise (e.g. 0.03,0.67,0.3), got '{w}'");
            (wc, wr, wd) = (values[0], values[1], values[2]);
        }
        var o = new CanOverrides(r.GetValue(_mask), r.GetValue(_sigma), wc, wr, wd, r.GetValue(_tau), r.GetValue(_cropMin),
                                 r.GetValue(_blur), r.GetValue(_jitter));
        return o == new CanOverrides() ? null : o;
    }
}
