using Microsoft.FSharp.Core;
using Plotly.NET;
using Plotly.NET.CSharp;

namespace CanKit.Plots;

/// <summary>The two chart settings the course uses that Plotly.NET.CSharp 0.14 has no C# method for (a title) or
/// asks three type arguments for (axis titles); both call Plotly.NET itself.</summary>
public static class ChartExtensions
{
    /// <summary>The chart's title (Plotly.NET's <c>Chart.withTitle</c>).</summary>
    public static GenericChart WithTitle(this GenericChart chart, string title) =>
        Plotly.NET.Chart.withTitle(title, FSharpOption<Font>.None).Invoke(chart);

    /// <summary>The x and y axis titles.</summary>
    public static GenericChart WithAxisTitles(this GenericChart chart, string x, string y) =>
        chart.WithXAxisStyle<double, double, string>(TitleText: x).WithYAxisStyle<double, double, string>(TitleText: y);
}
