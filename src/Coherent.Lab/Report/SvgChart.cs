using System.Globalization;
using System.Net;
using System.Text;

namespace Coherent.Lab.Report;

/// <summary>Renders a <see cref="Chart"/> as inline SVG: no scripts, no fonts, no external files.</summary>
internal static class SvgChart
{
    private const int Width = 720;
    private const int Height = 300;
    private const int Left = 64;
    private const int Right = 16;
    private const int Top = 28;
    private const int Bottom = 44;
    private static readonly string[] Palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

    public static string Render(Chart chart)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"{Esc(chart.Title)}\" class=\"chart\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{Esc(chart.Title)}</text>");
        var points = chart.Series.SelectMany(s => s.Points).ToList();
        if (points.Count == 0)
        {
            sb.Append("<text x=\"80\" y=\"150\">no data</text></svg>");
            return sb.ToString();
        }

        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        var maxY = Math.Max(points.Max(p => p.Y), 1e-9) * 1.1;
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top + plotH}\" x2=\"{Left + plotW}\" y2=\"{Top + plotH}\" stroke=\"#333\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotH}\" stroke=\"#333\"/>");
        for (var i = 0; i <= 4; i++)
        {
            var y = Top + plotH - (plotH * i / 4.0);
            var value = maxY * i / 4;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Left + plotW}\" y2=\"{y:0.#}\" stroke=\"#e5e7eb\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" font-size=\"10\" text-anchor=\"end\">{Fmt(value)}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + (plotW / 2)}\" y=\"{Height - 6}\" font-size=\"11\" text-anchor=\"middle\">{Esc(chart.XLabel)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"12\" y=\"{Top + (plotH / 2)}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 {Top + (plotH / 2)})\">{Esc(chart.YLabel)}</text>");

        if (chart.Kind == ChartKind.Bar)
        {
            RenderBars(chart, sb, plotW, plotH, maxY);
        }
        else
        {
            RenderLines(chart, sb, points, plotW, plotH, maxY);
        }

        sb.Append("</svg>");
        return sb.ToString();
    }

    private static void RenderBars(Chart chart, StringBuilder sb, int plotW, int plotH, double maxY)
    {
        // One group per series, one bar per point; X is the point's index (labels come from the series name).
        var bars = chart.Series.SelectMany((s, si) => s.Points.Select(p => (s.Name, si, p.Y))).ToList();
        var slot = plotW / (double)bars.Count;
        for (var i = 0; i < bars.Count; i++)
        {
            var (name, si, y) = bars[i];
            var h = plotH * (y / maxY);
            var x = Left + (i * slot) + (slot * 0.15);
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x:0.#}\" y=\"{Top + plotH - h:0.#}\" width=\"{slot * 0.7:0.#}\" height=\"{h:0.#}\" fill=\"{Palette[si % Palette.Length]}\"><title>{Esc(name)}: {Fmt(y)}</title></rect>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + (slot * 0.35):0.#}\" y=\"{Top + plotH + 14}\" font-size=\"10\" text-anchor=\"middle\">{Esc(Short(name))}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + (slot * 0.35):0.#}\" y=\"{Top + plotH - h - 3:0.#}\" font-size=\"10\" text-anchor=\"middle\">{Fmt(y)}</text>");
        }
    }

    private static void RenderLines(Chart chart, StringBuilder sb, List<(double X, double Y)> points, int plotW, int plotH, double maxY)
    {
        var minX = points.Min(p => p.X);
        var maxX = Math.Max(points.Max(p => p.X), minX + 1e-9);
        for (var i = 0; i <= 4; i++)
        {
            var x = Left + (plotW * i / 4.0);
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{Top + plotH + 14}\" font-size=\"10\" text-anchor=\"middle\">{Fmt(minX + ((maxX - minX) * i / 4))}</text>");
        }

        for (var si = 0; si < chart.Series.Count; si++)
        {
            var s = chart.Series[si];
            var color = Palette[si % Palette.Length];
            var path = string.Join(" ", s.Points.Select((p, i) => string.Create(CultureInfo.InvariantCulture,
                $"{(i == 0 ? "M" : "L")}{Left + (plotW * (p.X - minX) / (maxX - minX)):0.#},{Top + plotH - (plotH * p.Y / maxY):0.#}")));
            sb.Append(CultureInfo.InvariantCulture, $"<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left + 8 + (si * 130)}\" y=\"{Top + 2}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{Left + 22 + (si * 130)}\" y=\"{Top + 11}\" font-size=\"10\">{Esc(Short(s.Name))}</text>");
        }
    }

    private static string Short(string s) => s.Length <= 20 ? s : s[..19] + "…";

    private static string Fmt(double v) => v switch
    {
        >= 1000 => v.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => v.ToString("0.#", CultureInfo.InvariantCulture),
        _ => v.ToString("0.##", CultureInfo.InvariantCulture),
    };

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
